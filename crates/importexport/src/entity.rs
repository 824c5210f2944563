//! The module's tables: one row per import or export, and the rows an import refused.

pub(crate) mod job {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "importexport_jobs")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub org_id: Uuid,
        /// `import` or `export`.
        pub kind: String,
        pub entity_type: String,
        /// `csv`, `xlsx` or `json`.
        pub format: String,
        /// `preview`, `queued`, `running`, `completed` or `failed`.
        pub status: String,
        pub requested_by: Uuid,
        /// Import: the file's headers (a JSON array).
        pub headers: Option<String>,
        /// Import: header → field (a JSON object).
        pub mapping: Option<String>,
        /// Export: the list query string (`filter[status]=open&search=x`).
        pub query: Option<String>,
        pub skip_errors: bool,
        pub total_rows: i64,
        pub processed: i64,
        pub succeeded: i64,
        pub failed: i64,
        /// The file made (an export, an import's error file); an import's source is always
        /// `<org>/importexport/<job>/source.<format>`.
        pub result_key: Option<String>,
        pub message: Option<String>,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
        pub started_at: Option<DateTimeUtc>,
        pub finished_at: Option<DateTimeUtc>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub(crate) mod row_error {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "importexport_errors")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub org_id: Uuid,
        pub job_id: Uuid,
        /// The line of the file (the header is line 1).
        pub line: i64,
        pub field: Option<String>,
        pub message: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

kernel::tenant_entity!(job);
kernel::tenant_entity!(row_error);
