//! Counts of any module's entities for dashboards: a total, a count per value of a field, a
//! count per day, week or month of a date field, always over what the caller sees and through
//! the entity's list filters. A module declares what can be counted ([`Analytics`], from its
//! entity loader's `analytics()`) and answers with [`measure`] on its visible, filtered select;
//! the importexport module serves `/analytics/*`.

use sea_orm::sea_query::{Expr, SimpleExpr};
use sea_orm::{ConnectionTrait, DbBackend, EntityTrait, QueryOrder, QuerySelect, Select};
use serde::Serialize;
use serde_json::Value;

use crate::http::{Caller, ListQuery};
use crate::{ApiError, CellContext, TenantTx};

/// A time series' bucket size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interval {
    Day,
    /// ISO weeks, from Monday.
    Week,
    Month,
}

impl Interval {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "day" => Some(Self::Day),
            "week" => Some(Self::Week),
            "month" => Some(Self::Month),
            _ => None,
        }
    }
}

/// What to count.
#[derive(Debug, Clone, Copy)]
pub enum Measure<'a> {
    /// Everything that matches.
    Total,
    /// Per value of a field of [`Analytics::dimensions`].
    Group(&'a str),
    /// Per bucket of a field of [`Analytics::dates`] (buckets with nothing are left out).
    Series { date: &'a str, interval: Interval },
}

/// One count: its key (`null` for a total, the field's value for a group, the bucket's first
/// day `YYYY-MM-DD` for a series).
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct CountBucket {
    #[schema(value_type = Object)]
    pub key: Value,
    pub count: u64,
}

/// What can be counted of an entity type.
#[async_trait::async_trait(?Send)]
pub trait Analytics {
    /// Fields whose values a count is grouped by (`status`).
    fn dimensions(&self) -> &'static [&'static str];
    /// Date fields a time series buckets (`created_at`).
    fn dates(&self) -> &'static [&'static str];
    /// The counts of what `caller` sees matching `query`'s list filters, by `measure` (whose
    /// field is one of the declared ones: the caller of this checks).
    async fn measure(
        &self,
        ctx: &CellContext,
        tx: &TenantTx,
        caller: &Caller,
        query: &ListQuery,
        measure: Measure<'_>,
    ) -> Result<Vec<CountBucket>, ApiError>;
}

fn bucket(backend: DbBackend, column: SimpleExpr, interval: Interval) -> SimpleExpr {
    match (backend, interval) {
        (DbBackend::Postgres, Interval::Day) => {
            Expr::cust_with_exprs("to_char(date_trunc('day', $1), 'YYYY-MM-DD')", [column])
        }
        (DbBackend::Postgres, Interval::Week) => {
            Expr::cust_with_exprs("to_char(date_trunc('week', $1), 'YYYY-MM-DD')", [column])
        }
        (DbBackend::Postgres, Interval::Month) => {
            Expr::cust_with_exprs("to_char(date_trunc('month', $1), 'YYYY-MM-DD')", [column])
        }
        // SQLite keeps UTC times as text that starts `YYYY-MM-DD`, so the day is cut from the
        // text. (Its query builder marks an expression's place with `?`, not `$1`.)
        (_, Interval::Day) => Expr::cust_with_exprs("substr(?, 1, 10)", [column]),
        // The Monday of the date's week: the next Sunday (or the day itself), less six days.
        (_, Interval::Week) => {
            Expr::cust_with_exprs("date(substr(?, 1, 10), 'weekday 0', '-6 days')", [column])
        }
        (_, Interval::Month) => Expr::cust_with_exprs("substr(?, 1, 7) || '-01'", [column]),
    }
}

/// A grouped count: the key as JSON, whatever its column holds (text, an id, a number, a flag).
struct Row {
    key: Value,
    n: i64,
}

impl sea_orm::FromQueryResult for Row {
    fn from_query_result(res: &sea_orm::QueryResult, pre: &str) -> Result<Self, sea_orm::DbErr> {
        let n: i64 = res.try_get(pre, "n")?;
        let key = if let Ok(v) = res.try_get::<Option<String>>(pre, "key") {
            v.map_or(Value::Null, Value::String)
        } else if let Ok(v) = res.try_get::<Option<uuid::Uuid>>(pre, "key") {
            v.map_or(Value::Null, |u| Value::String(u.to_string()))
        } else if let Ok(v) = res.try_get::<Option<i64>>(pre, "key") {
            v.map_or(Value::Null, Value::from)
        } else if let Ok(v) = res.try_get::<Option<bool>>(pre, "key") {
            v.map_or(Value::Null, Value::Bool)
        } else {
            Value::Null
        };
        Ok(Self { key, n })
    }
}

/// Runs `measure` over `select` (the module's visible rows with the list filters applied),
/// `column` naming the entity's column for a field: what an [`Analytics::measure`] returns.
/// Groups and buckets are ordered by key; `null` values group together.
pub async fn measure<E: EntityTrait, C: ConnectionTrait>(
    conn: &C,
    select: Select<E>,
    measure: Measure<'_>,
    column: impl Fn(&str) -> Option<E::Column>,
) -> Result<Vec<CountBucket>, ApiError> {
    let unknown = |f: &str| ApiError::validation("field", format!("`{f}` cannot be counted by"));
    let count = || Expr::cust("COUNT(*)");
    let key_expr: Option<SimpleExpr> = match measure {
        Measure::Total => None,
        Measure::Group(field) => Some(Expr::col(column(field).ok_or_else(|| unknown(field))?)),
        Measure::Series { date, interval } => {
            let col = column(date).ok_or_else(|| unknown(date))?;
            Some(bucket(
                conn.get_database_backend(),
                Expr::col(col),
                interval,
            ))
        }
    };
    let Some(key) = key_expr else {
        let n: Option<i64> = select
            .select_only()
            .expr_as(count(), "n")
            .into_tuple()
            .one(conn)
            .await?;
        return Ok(vec![CountBucket {
            key: Value::Null,
            count: n.unwrap_or(0).max(0) as u64,
        }]);
    };
    let rows = select
        .select_only()
        .expr_as(key.clone(), "key")
        .expr_as(count(), "n")
        .group_by(key.clone())
        .order_by(key, sea_orm::Order::Asc)
        .into_model::<Row>()
        .all(conn)
        .await?;
    Ok(rows
        .into_iter()
        .map(|r| CountBucket {
            key: r.key,
            count: r.n.max(0) as u64,
        })
        .collect())
}
