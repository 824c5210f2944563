//! What PostHog POSTs, turned into normalized [`Event`]s.
//!
//! Three body shapes are accepted:
//!
//! - the HTTP webhook destination's default body, `{"event": {...}, "person": {...}}`, where
//!   `event` holds `uuid`, `event` (the name), `distinct_id`, `properties`, `timestamp` (and
//!   `elements_chain`, `url`, which are ignored) and `person` holds `properties.email`;
//! - a flat event, `{"event": "<name>", "distinct_id", "properties", "timestamp", "uuid"}`
//!   (optionally with a `person` next to it);
//! - a JSON array (a batch) of either.
//!
//! A body that cannot hold events at all (not JSON, empty, a scalar, an empty or oversized batch)
//! is a [`BodyError`]. Otherwise every item is parsed on its own: a bad item is an [`ItemError`]
//! that names its index, and the good items next to it still come through.
//!
//! The raw IP (`$ip`) is moved out of [`Event::properties`] into [`Event::ip`] and
//! [`Event`]'s `Debug` output redacts it, so storing the properties or logging an event can never
//! leak it. The body size is the HTTP layer's job: limit the payload before calling [`parse`].

use std::fmt;
use std::net::IpAddr;

use chrono::{DateTime, NaiveDateTime, TimeDelta, Utc};
use serde_json::{Map, Value};
use uuid::Uuid;

/// Longest accepted event name, in characters.
pub const MAX_NAME_CHARS: usize = 200;
/// Longest accepted `distinct_id`, in characters.
pub const MAX_DISTINCT_ID_CHARS: usize = 200;
/// Longest e-mail address kept (RFC 5321's path limit).
const MAX_EMAIL_CHARS: usize = 254;

/// Limits applied while parsing.
#[derive(Debug, Clone)]
pub struct ParseOptions {
    /// Most items a batch may hold; a larger batch is refused whole.
    pub max_batch: usize,
    /// How far in the future an event's timestamp may be (client clocks drift).
    pub max_future_skew: TimeDelta,
}

impl Default for ParseOptions {
    fn default() -> Self {
        Self {
            max_batch: 1000,
            max_future_skew: TimeDelta::days(1),
        }
    }
}

/// One PostHog event, normalized.
#[derive(Clone, PartialEq)]
pub struct Event {
    /// PostHog's event id, the key for de-duplicating replays. Absent in hand-made bodies.
    pub uuid: Option<Uuid>,
    /// The event name, e.g. `$pageview` (1 to 200 characters).
    pub name: String,
    /// Who did it, as PostHog knows them (1 to 200 characters).
    pub distinct_id: String,
    /// `properties.$anon_distinct_id`: the anonymous id an `$identify` merged into `distinct_id`.
    pub anon_distinct_id: Option<String>,
    /// `properties.$ip`, parsed (an IPv4-mapped IPv6 address becomes IPv4); `None` when absent or
    /// not an IP. PostHog drops it for projects that discard client IPs (the EU default).
    /// Never store or log it: hash it with [`crate::enrich::ip_hash`].
    pub ip: Option<IpAddr>,
    /// `properties.$current_url`.
    pub current_url: Option<String>,
    /// `properties.$pathname`, or the path of `current_url` when PostHog did not send one.
    pub pathname: Option<String>,
    /// `person.properties.email` (else `properties.$set.email`), trimmed and lowercased; `None`
    /// when absent or not shaped like an address.
    pub person_email: Option<String>,
    /// When it happened: the event's `timestamp`, or the caller's `now` when it has none.
    pub timestamp: DateTime<Utc>,
    /// The event's properties, without `$ip`.
    pub properties: Map<String, Value>,
}

impl fmt::Debug for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Event")
            .field("uuid", &self.uuid)
            .field("name", &self.name)
            .field("distinct_id", &self.distinct_id)
            .field("anon_distinct_id", &self.anon_distinct_id)
            .field("ip", &self.ip.map(|_| "<redacted>"))
            .field("current_url", &self.current_url)
            .field("pathname", &self.pathname)
            .field("person_email", &self.person_email)
            .field("timestamp", &self.timestamp)
            .field("properties", &self.properties)
            .finish()
    }
}

/// Why a whole body was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    /// Nothing but whitespace.
    #[error("the body is empty")]
    Empty,
    /// Not parseable as JSON (the message gives line and column, never content).
    #[error("the body is not valid JSON: {0}")]
    NotJson(String),
    /// Valid JSON, but a scalar.
    #[error("the body must be a JSON object or an array of objects, not {0}")]
    NotObjectOrArray(&'static str),
    /// `[]`.
    #[error("the batch is empty")]
    EmptyBatch,
    /// More items than [`ParseOptions::max_batch`].
    #[error("the batch holds {len} events, more than the maximum of {max}")]
    BatchTooLarge {
        /// Items in the batch.
        len: usize,
        /// The configured maximum.
        max: usize,
    },
}

/// Why one item of a body was refused; the other items are unaffected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("event {index}: {kind}")]
pub struct ItemError {
    /// Position in the batch (0 for a single event).
    pub index: usize,
    /// What is wrong with it.
    pub kind: ItemErrorKind,
}

/// What is wrong with an item. Messages never quote the values (they may be personal data).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ItemErrorKind {
    /// A string (or key) of the item holds the NUL character.
    #[error("holds the NUL character (U+0000), which cannot be stored")]
    NulCharacter,
    /// A batch item that is not an object.
    #[error("is not a JSON object but {0}")]
    NotAnObject(&'static str),
    /// No `event`, or not a non-blank string.
    #[error("has no event name (`event` must be a non-empty string)")]
    MissingName,
    /// Event name over [`MAX_NAME_CHARS`].
    #[error("the event name is longer than {MAX_NAME_CHARS} characters")]
    NameTooLong,
    /// No `distinct_id`, or blank.
    #[error("has no `distinct_id` (it must be a non-empty string)")]
    MissingDistinctId,
    /// `distinct_id` over [`MAX_DISTINCT_ID_CHARS`].
    #[error("`distinct_id` is longer than {MAX_DISTINCT_ID_CHARS} characters")]
    DistinctIdTooLong,
    /// `uuid` present but not a UUID.
    #[error("`uuid` is not a valid UUID")]
    InvalidUuid,
    /// `properties` present but not an object.
    #[error("`properties` is not a JSON object")]
    PropertiesNotObject,
    /// `timestamp` present but not a date-time.
    #[error("`timestamp` is not an RFC 3339 date-time")]
    InvalidTimestamp,
    /// `timestamp` beyond [`ParseOptions::max_future_skew`] from now.
    #[error("`timestamp` is too far in the future")]
    TimestampInFuture,
}

/// Parses a PostHog webhook body into events, one result per item.
///
/// `now` stands in for a missing timestamp and bounds future ones.
pub fn parse(
    body: &[u8],
    now: DateTime<Utc>,
    options: &ParseOptions,
) -> Result<Vec<Result<Event, ItemError>>, BodyError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(BodyError::Empty);
    }
    let value: Value =
        serde_json::from_slice(body).map_err(|err| BodyError::NotJson(err.to_string()))?;
    // Items are walked for NUL only when the raw body can hold one (it is rare; ingestion is hot).
    let nul = kernel::http::extract::has_nul_escape(body);
    match value {
        Value::Object(object) => Ok(vec![parse_item(0, object, nul, now, options)]),
        Value::Array(items) if items.is_empty() => Err(BodyError::EmptyBatch),
        Value::Array(items) if items.len() > options.max_batch => Err(BodyError::BatchTooLarge {
            len: items.len(),
            max: options.max_batch,
        }),
        Value::Array(items) => Ok(items
            .into_iter()
            .enumerate()
            .map(|(index, item)| match item {
                Value::Object(object) => parse_item(index, object, nul, now, options),
                other => Err(ItemError {
                    index,
                    kind: ItemErrorKind::NotAnObject(json_type(&other)),
                }),
            })
            .collect()),
        other => Err(BodyError::NotObjectOrArray(json_type(&other))),
    }
}

fn parse_item(
    index: usize,
    mut object: Map<String, Value>,
    nul: bool,
    now: DateTime<Utc>,
    options: &ParseOptions,
) -> Result<Event, ItemError> {
    // PostgreSQL stores no NUL in text or jsonb: refused here, on both backends alike.
    if nul
        && object
            .iter()
            .any(|(k, v)| k.contains('\0') || kernel::http::extract::nul_path(v).is_some())
    {
        return Err(ItemError {
            index,
            kind: ItemErrorKind::NulCharacter,
        });
    }
    parse_fields(&mut object, now, options).map_err(|kind| ItemError { index, kind })
}

fn parse_fields(
    object: &mut Map<String, Value>,
    now: DateTime<Utc>,
    options: &ParseOptions,
) -> Result<Event, ItemErrorKind> {
    let person = object.remove("person");
    // The destination's default body nests the event; a flat body is the event itself.
    let (mut record, name) = match object.remove("event") {
        Some(Value::Object(mut inner)) => {
            let name = inner.remove("event");
            (inner, name)
        }
        name => (std::mem::take(object), name),
    };

    let name = match name {
        Some(Value::String(name)) if !name.trim().is_empty() => name,
        _ => return Err(ItemErrorKind::MissingName),
    };
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(ItemErrorKind::NameTooLong);
    }

    let distinct_id = match record.remove("distinct_id") {
        Some(Value::String(id)) if !id.trim().is_empty() => id,
        // SDKs may send numeric ids; PostHog stores them as text.
        Some(Value::Number(id)) => id.to_string(),
        _ => return Err(ItemErrorKind::MissingDistinctId),
    };
    if distinct_id.chars().count() > MAX_DISTINCT_ID_CHARS {
        return Err(ItemErrorKind::DistinctIdTooLong);
    }

    let uuid = match record.remove("uuid") {
        None | Some(Value::Null) => None,
        Some(Value::String(text)) => {
            Some(Uuid::parse_str(text.trim()).map_err(|_| ItemErrorKind::InvalidUuid)?)
        }
        Some(_) => return Err(ItemErrorKind::InvalidUuid),
    };

    let mut properties = match record.remove("properties") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(properties)) => properties,
        Some(_) => return Err(ItemErrorKind::PropertiesNotObject),
    };

    let timestamp = match record.remove("timestamp") {
        None | Some(Value::Null) => now,
        Some(Value::String(text)) => {
            parse_timestamp(&text).ok_or(ItemErrorKind::InvalidTimestamp)?
        }
        Some(_) => return Err(ItemErrorKind::InvalidTimestamp),
    };
    if timestamp > now + options.max_future_skew {
        return Err(ItemErrorKind::TimestampInFuture);
    }

    // Taken out of the properties so that storing them never stores the raw IP.
    let ip = match properties.remove("$ip") {
        Some(Value::String(text)) => text
            .trim()
            .parse::<IpAddr>()
            .ok()
            .map(|ip| ip.to_canonical()),
        _ => None,
    };
    let anon_distinct_id = non_empty_string(properties.get("$anon_distinct_id"));
    let current_url = non_empty_string(properties.get("$current_url"));
    let pathname = non_empty_string(properties.get("$pathname")).or_else(|| {
        current_url
            .as_deref()
            .and_then(|url| url::Url::parse(url).ok())
            .map(|url| url.path().to_owned())
    });
    let person_email = person
        .as_ref()
        .and_then(|person| person.pointer("/properties/email"))
        .and_then(normalize_email)
        .or_else(|| {
            properties
                .get("$set")?
                .get("email")
                .and_then(normalize_email)
        });

    Ok(Event {
        uuid,
        name,
        distinct_id,
        anon_distinct_id,
        ip,
        current_url,
        pathname,
        person_email,
        timestamp,
        properties,
    })
}

/// RFC 3339, or the ClickHouse-style `2024-05-01 12:00:00.123` (and the same with a `T`)
/// read as UTC, which PostHog uses in some exports.
fn parse_timestamp(text: &str) -> Option<DateTime<Utc>> {
    let text = text.trim();
    if let Ok(timestamp) = DateTime::parse_from_rfc3339(text) {
        return Some(timestamp.with_timezone(&Utc));
    }
    ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"]
        .iter()
        .find_map(|format| NaiveDateTime::parse_from_str(text, format).ok())
        .map(|naive| naive.and_utc())
}

fn non_empty_string(value: Option<&Value>) -> Option<String> {
    match value {
        Some(Value::String(text)) if !text.trim().is_empty() => Some(text.trim().to_owned()),
        _ => None,
    }
}

/// Trimmed and lowercased if it looks like an address: one `@`, something before it, a dot in
/// the domain, no whitespace. Loose on purpose: this only decides whether to try matching it.
fn normalize_email(value: &Value) -> Option<String> {
    let email = value.as_str()?.trim().to_lowercase();
    let (local, domain) = email.split_once('@')?;
    let plausible = !local.is_empty()
        && domain.contains('.')
        && !domain.contains('@')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && email.chars().count() <= MAX_EMAIL_CHARS
        && !email.chars().any(|c| c.is_whitespace() || c.is_control());
    plausible.then_some(email)
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-20T12:00:00Z")
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default()
    }

    fn parse_value(value: &Value) -> Result<Vec<Result<Event, ItemError>>, BodyError> {
        parse(
            value.to_string().as_bytes(),
            now(),
            &ParseOptions::default(),
        )
    }

    fn single(value: &Value) -> Result<Event, Box<dyn std::error::Error>> {
        let mut items = parse_value(value)?;
        assert_eq!(items.len(), 1);
        Ok(items.remove(0)?)
    }

    fn single_error(value: &Value) -> Result<ItemErrorKind, Box<dyn std::error::Error>> {
        match parse_value(value)?.remove(0) {
            Ok(event) => Err(format!("expected an item error, got {event:?}").into()),
            Err(err) => Ok(err.kind),
        }
    }

    /// The HTTP webhook destination's default body (`{"event": "{event}", "person": "{person}"}`)
    /// as PostHog renders it.
    fn destination_body() -> Value {
        json!({
            "event": {
                "uuid": "0192f0a4-5b1c-7d3e-8f00-aa11bb22cc33",
                "event": "$pageview",
                "distinct_id": "user-42",
                "elements_chain": "",
                "timestamp": "2026-11-20T11:59:30.123Z",
                "url": "https://eu.posthog.com/project/1/events/0192f0a4",
                "properties": {
                    "$ip": "203.0.113.9",
                    "$current_url": "https://example.com/pricing?plan=pro#faq",
                    "$pathname": "/pricing",
                    "$anon_distinct_id": "01930000-anon",
                    "$browser": "Firefox"
                }
            },
            "person": {
                "id": "0192f0a4-0000-7000-8000-000000000001",
                "name": "Ada",
                "url": "https://eu.posthog.com/project/1/person/user-42",
                "properties": { "email": "  Ada@Example.COM " }
            }
        })
    }

    #[test]
    fn destination_body_is_normalized() -> TestResult {
        let event = single(&destination_body())?;
        assert_eq!(
            event.uuid,
            Some(Uuid::parse_str("0192f0a4-5b1c-7d3e-8f00-aa11bb22cc33")?)
        );
        assert_eq!(event.name, "$pageview");
        assert_eq!(event.distinct_id, "user-42");
        assert_eq!(event.anon_distinct_id.as_deref(), Some("01930000-anon"));
        assert_eq!(event.ip, Some("203.0.113.9".parse()?));
        assert_eq!(
            event.current_url.as_deref(),
            Some("https://example.com/pricing?plan=pro#faq")
        );
        assert_eq!(event.pathname.as_deref(), Some("/pricing"));
        assert_eq!(event.person_email.as_deref(), Some("ada@example.com"));
        assert_eq!(
            event.timestamp.to_rfc3339(),
            "2026-11-20T11:59:30.123+00:00"
        );
        assert_eq!(event.properties.get("$browser"), Some(&json!("Firefox")));
        Ok(())
    }

    #[test]
    fn raw_ip_leaves_the_properties_and_the_debug_output() -> TestResult {
        let event = single(&destination_body())?;
        assert!(!event.properties.contains_key("$ip"));
        let debug = format!("{event:?}");
        assert!(!debug.contains("203.0.113.9"), "{debug}");
        assert!(debug.contains("<redacted>"));
        Ok(())
    }

    #[test]
    fn flat_body_is_accepted() -> TestResult {
        let event = single(&json!({
            "event": "pricing_viewed",
            "distinct_id": 12345,
            "uuid": "0192f0a4-5b1c-7d3e-8f00-aa11bb22cc34",
            "timestamp": "2026-11-20T10:00:00+01:00",
            "properties": {
                "$current_url": "https://example.com/docs/launch/",
                "$set": { "email": "bob@corp.example" }
            }
        }))?;
        assert_eq!(event.name, "pricing_viewed");
        assert_eq!(event.distinct_id, "12345");
        assert_eq!(event.timestamp.to_rfc3339(), "2026-11-20T09:00:00+00:00");
        // No $pathname: derived from the URL.
        assert_eq!(event.pathname.as_deref(), Some("/docs/launch/"));
        // No person: the $set e-mail is used.
        assert_eq!(event.person_email.as_deref(), Some("bob@corp.example"));
        assert_eq!(event.ip, None);
        Ok(())
    }

    #[test]
    fn missing_ip_timestamp_and_properties_use_defaults() -> TestResult {
        let event = single(&json!({"event": "$pageview", "distinct_id": "d"}))?;
        assert_eq!(event.timestamp, now());
        assert_eq!(event.ip, None);
        assert_eq!(event.uuid, None);
        assert!(event.properties.is_empty());
        assert_eq!(event.pathname, None);
        Ok(())
    }

    #[test]
    fn ip_is_parsed_leniently() -> TestResult {
        let with_ip =
            |ip: Value| json!({"event": "e", "distinct_id": "d", "properties": {"$ip": ip}});
        assert_eq!(single(&with_ip(json!("not an ip")))?.ip, None);
        assert_eq!(single(&with_ip(json!(42)))?.ip, None);
        assert_eq!(
            single(&with_ip(json!(" 2001:db8::1 ")))?.ip,
            Some("2001:db8::1".parse()?)
        );
        // Proxies that speak IPv6 report IPv4 clients as mapped addresses.
        assert_eq!(
            single(&with_ip(json!("::ffff:198.51.100.7")))?.ip,
            Some("198.51.100.7".parse()?)
        );
        Ok(())
    }

    #[test]
    fn clickhouse_style_timestamps_are_read_as_utc() -> TestResult {
        let at = |ts: &str| json!({"event": "e", "distinct_id": "d", "timestamp": ts});
        assert_eq!(
            single(&at("2026-11-20 08:30:00.250"))?
                .timestamp
                .to_rfc3339(),
            "2026-11-20T08:30:00.250+00:00"
        );
        assert_eq!(
            single(&at("2026-11-20T08:30:00"))?.timestamp.to_rfc3339(),
            "2026-11-20T08:30:00+00:00"
        );
        Ok(())
    }

    #[test]
    fn implausible_emails_are_dropped() -> TestResult {
        for bad in [
            "",
            "nobody",
            "a@b",
            "@example.com",
            "a b@example.com",
            "a@@example.com",
        ] {
            let body =
                json!({"event": "e", "distinct_id": "d", "person": {"properties": {"email": bad}}});
            assert_eq!(single(&body)?.person_email, None, "{bad}");
        }
        // A person rendered as something other than an object is ignored, not an error.
        let body = json!({"event": {"event": "e", "distinct_id": "d"}, "person": "{person}"});
        assert_eq!(single(&body)?.person_email, None);
        Ok(())
    }

    #[test]
    fn item_errors_name_the_problem() -> TestResult {
        let cases = [
            (json!({"distinct_id": "d"}), ItemErrorKind::MissingName),
            (
                json!({"event": "  ", "distinct_id": "d"}),
                ItemErrorKind::MissingName,
            ),
            (
                json!({"event": {"distinct_id": "d"}}),
                ItemErrorKind::MissingName,
            ),
            (
                json!({"event": "x".repeat(201), "distinct_id": "d"}),
                ItemErrorKind::NameTooLong,
            ),
            (json!({"event": "e"}), ItemErrorKind::MissingDistinctId),
            (
                json!({"event": "e", "distinct_id": ""}),
                ItemErrorKind::MissingDistinctId,
            ),
            (
                json!({"event": "e", "distinct_id": true}),
                ItemErrorKind::MissingDistinctId,
            ),
            (
                json!({"event": "e", "distinct_id": "é".repeat(201)}),
                ItemErrorKind::DistinctIdTooLong,
            ),
            (
                json!({"event": "e", "distinct_id": "d", "uuid": "nope"}),
                ItemErrorKind::InvalidUuid,
            ),
            (
                json!({"event": "e", "distinct_id": "d", "properties": []}),
                ItemErrorKind::PropertiesNotObject,
            ),
            (
                json!({"event": "e", "distinct_id": "d", "timestamp": "yesterday"}),
                ItemErrorKind::InvalidTimestamp,
            ),
            (
                json!({"event": "e", "distinct_id": "d", "timestamp": 1_700_000_000}),
                ItemErrorKind::InvalidTimestamp,
            ),
            (
                json!({"event": "e", "distinct_id": "d", "timestamp": "2026-11-21T12:00:01Z"}),
                ItemErrorKind::TimestampInFuture,
            ),
        ];
        for (body, expected) in cases {
            assert_eq!(single_error(&body)?, expected, "{body}");
        }
        // The limits are inclusive.
        let longest = json!({"event": "x".repeat(200), "distinct_id": "é".repeat(200), "timestamp": "2026-11-21T12:00:00Z"});
        assert!(single(&longest).is_ok());
        Ok(())
    }

    #[test]
    fn batch_items_fail_individually() -> TestResult {
        let body = json!([
            destination_body(),
            {"event": "no_distinct_id"},
            "a string",
            {"event": "$pageview", "distinct_id": "flat"}
        ]);
        let items = parse_value(&body)?;
        assert_eq!(items.len(), 4);
        assert_eq!(
            items[0].as_ref().map(|e| e.distinct_id.as_str()),
            Ok("user-42")
        );
        let err = items[1].as_ref().err().ok_or("item 1 should fail")?;
        assert_eq!(
            (err.index, &err.kind),
            (1, &ItemErrorKind::MissingDistinctId)
        );
        assert_eq!(
            err.to_string(),
            "event 1: has no `distinct_id` (it must be a non-empty string)"
        );
        let err = items[2].as_ref().err().ok_or("item 2 should fail")?;
        assert_eq!(
            err.to_string(),
            "event 2: is not a JSON object but a string"
        );
        assert_eq!(
            items[3].as_ref().map(|e| e.distinct_id.as_str()),
            Ok("flat")
        );
        Ok(())
    }

    #[test]
    fn an_item_holding_a_nul_character_fails_alone() -> TestResult {
        let body = json!([
            {"event": "$pageview", "distinct_id": "a\u{0}b"},
            {"event": "$pageview", "distinct_id": "d", "properties": {"deep": ["x\u{0}"]}},
            {"event": "$pageview", "distinct_id": "d", "properties": {"k\u{0}": 1}},
            {"event": "$pageview", "distinct_id": "fine"}
        ]);
        let items = parse_value(&body)?;
        for (i, item) in items.iter().take(3).enumerate() {
            assert_eq!(
                item.as_ref().err().map(|e| (e.index, &e.kind)),
                Some((i, &ItemErrorKind::NulCharacter))
            );
        }
        assert!(items[3].is_ok());
        Ok(())
    }

    #[test]
    fn bodies_that_hold_no_events_are_refused() {
        let options = ParseOptions {
            max_batch: 2,
            ..ParseOptions::default()
        };
        let refused = |body: &[u8]| parse(body, now(), &options).err();
        assert_eq!(refused(b""), Some(BodyError::Empty));
        assert_eq!(refused(b" \n\t"), Some(BodyError::Empty));
        assert!(matches!(
            refused(b"{\"event\":"),
            Some(BodyError::NotJson(_))
        ));
        assert!(matches!(refused(b"event=x"), Some(BodyError::NotJson(_))));
        assert_eq!(
            refused(b"42"),
            Some(BodyError::NotObjectOrArray("a number"))
        );
        assert_eq!(refused(b"null"), Some(BodyError::NotObjectOrArray("null")));
        assert_eq!(
            refused(b"\"x\""),
            Some(BodyError::NotObjectOrArray("a string"))
        );
        assert_eq!(refused(b"[]"), Some(BodyError::EmptyBatch));
        assert_eq!(
            refused(b"[{}, {}, {}]"),
            Some(BodyError::BatchTooLarge { len: 3, max: 2 })
        );
        assert_eq!(refused(b"[{}, {}]"), None);
    }
}
