//! Forward-only migrations, named `collab_m<date>_<seq>_<what>`. Every table is tenant-owned:
//! `org_id` leads its keys, row-level security binds it, and a child names a parent of its own
//! org (tenant foreign keys).

use kernel::migration::{
    ForeignKey, OnDelete, index, org_id, text, text_null, ts, ts_null, uuid_pk,
};
use sea_orm_migration::prelude::*;

pub(crate) fn migrations() -> Vec<Box<dyn MigrationTrait>> {
    vec![
        Box::new(TagsAndNotes),
        Box::new(Links),
        Box::new(Comments),
        Box::new(Activity),
        Box::new(Search),
    ]
}

struct TagsAndNotes;

impl MigrationName for TagsAndNotes {
    fn name(&self) -> &str {
        "collab_m20261204_000001_tags_and_notes"
    }
}

const TABLES: [&str; 4] = [
    "collab_tags",
    "collab_entity_tags",
    "collab_notes",
    "collab_note_revisions",
];

#[kernel::async_trait::async_trait]
impl MigrationTrait for TagsAndNotes {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("collab_tags")
                .col(uuid_pk("id"))
                .col(org_id())
                .col(text("name"))
                .col(text("name_key"))
                .col(text_null("color"))
                .col(text_null("category"))
                .col(ColumnDef::new("created_by").uuid().not_null().to_owned())
                .col(ts("created_at"))
                .col(ts("updated_at"))
                .to_owned(),
        )
        .await?;
        // A name is unique in its org whatever its case: `name_key` is its lower case.
        m.create_index(
            index(
                "collab_tags_org_name",
                "collab_tags",
                &["org_id", "name_key"],
            )
            .unique()
            .to_owned(),
        )
        .await?;
        m.create_index(kernel::migration::tenant_parent_key("collab_tags"))
            .await?;
        m.create_table(
            Table::create()
                .table("collab_entity_tags")
                .col(org_id())
                .col(ColumnDef::new("tag_id").uuid().not_null().to_owned())
                .col(text("entity_type"))
                .col(ColumnDef::new("entity_id").uuid().not_null().to_owned())
                .col(ColumnDef::new("created_by").uuid().not_null().to_owned())
                .col(ts("created_at"))
                .primary_key(
                    Index::create()
                        .col("org_id")
                        .col("tag_id")
                        .col("entity_type")
                        .col("entity_id"),
                )
                // Deleting a tag removes it from every entity.
                .foreign_key(
                    &mut ForeignKey::tenant("tag_id", "collab_tags", OnDelete::Cascade)
                        .create("collab_entity_tags"),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(index(
            "collab_entity_tags_entity",
            "collab_entity_tags",
            &["org_id", "entity_type", "entity_id"],
        ))
        .await?;
        m.create_table(
            Table::create()
                .table("collab_notes")
                .col(uuid_pk("id"))
                .col(org_id())
                .col(text("entity_type"))
                .col(ColumnDef::new("entity_id").uuid().not_null().to_owned())
                .col(text("body"))
                .col(ColumnDef::new("pinned").boolean().not_null().to_owned())
                .col(ColumnDef::new("author_id").uuid().not_null().to_owned())
                .col(ts("created_at"))
                .col(ts("updated_at"))
                .col(ts_null("edited_at"))
                .to_owned(),
        )
        .await?;
        m.create_index(index(
            "collab_notes_entity",
            "collab_notes",
            &["org_id", "entity_type", "entity_id", "created_at"],
        ))
        .await?;
        m.create_index(kernel::migration::tenant_parent_key("collab_notes"))
            .await?;
        m.create_table(
            Table::create()
                .table("collab_note_revisions")
                .col(uuid_pk("id"))
                .col(org_id())
                .col(ColumnDef::new("note_id").uuid().not_null().to_owned())
                .col(text("body"))
                .col(ColumnDef::new("edited_by").uuid().not_null().to_owned())
                .col(ts("edited_at"))
                // A note's history goes with it.
                .foreign_key(
                    &mut ForeignKey::tenant("note_id", "collab_notes", OnDelete::Cascade)
                        .create("collab_note_revisions"),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(index(
            "collab_note_revisions_note",
            "collab_note_revisions",
            &["org_id", "note_id", "edited_at"],
        ))
        .await?;
        for table in TABLES {
            kernel::db::enable_tenant_rls(m.get_connection(), table).await?;
        }
        Ok(())
    }
}

struct Links;

impl MigrationName for Links {
    fn name(&self) -> &str {
        "collab_m20261204_000002_links"
    }
}

#[kernel::async_trait::async_trait]
impl MigrationTrait for Links {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("collab_links")
                .col(uuid_pk("id"))
                .col(org_id())
                .col(text("source_type"))
                .col(ColumnDef::new("source_id").uuid().not_null().to_owned())
                .col(text("target_type"))
                .col(ColumnDef::new("target_id").uuid().not_null().to_owned())
                .col(text("relationship"))
                .col(ColumnDef::new("created_by").uuid().not_null().to_owned())
                .col(ts("created_at"))
                .to_owned(),
        )
        .await?;
        // One link per pair and meaning; looked up from either end.
        m.create_index(
            index(
                "collab_links_unique",
                "collab_links",
                &[
                    "org_id",
                    "source_type",
                    "source_id",
                    "target_type",
                    "target_id",
                    "relationship",
                ],
            )
            .unique()
            .to_owned(),
        )
        .await?;
        m.create_index(index(
            "collab_links_target",
            "collab_links",
            &["org_id", "target_type", "target_id"],
        ))
        .await?;
        kernel::db::enable_tenant_rls(m.get_connection(), "collab_links").await
    }
}

struct Comments;

impl MigrationName for Comments {
    fn name(&self) -> &str {
        "collab_m20261204_000003_comments"
    }
}

#[kernel::async_trait::async_trait]
impl MigrationTrait for Comments {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("collab_comments")
                .col(uuid_pk("id"))
                .col(org_id())
                .col(text("entity_type"))
                .col(ColumnDef::new("entity_id").uuid().not_null().to_owned())
                .col(ColumnDef::new("parent_id").uuid().to_owned())
                .col(ColumnDef::new("author_id").uuid().not_null().to_owned())
                .col(text("body"))
                .col(ts("created_at"))
                .col(ts_null("edited_at"))
                .col(ts_null("deleted_at"))
                .to_owned(),
        )
        .await?;
        m.create_index(kernel::migration::tenant_parent_key("collab_comments"))
            .await?;
        m.create_index(index(
            "collab_comments_entity",
            "collab_comments",
            &["org_id", "entity_type", "entity_id", "created_at"],
        ))
        .await?;
        m.create_table(
            Table::create()
                .table("collab_comment_revisions")
                .col(uuid_pk("id"))
                .col(org_id())
                .col(ColumnDef::new("comment_id").uuid().not_null().to_owned())
                .col(text("body"))
                .col(ts("edited_at"))
                .foreign_key(
                    &mut ForeignKey::tenant("comment_id", "collab_comments", OnDelete::Cascade)
                        .create("collab_comment_revisions"),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(index(
            "collab_comment_revisions_comment",
            "collab_comment_revisions",
            &["org_id", "comment_id", "edited_at"],
        ))
        .await?;
        let conn = m.get_connection();
        kernel::db::enable_tenant_rls(conn, "collab_comments").await?;
        kernel::db::enable_tenant_rls(conn, "collab_comment_revisions").await
    }
}

struct Activity;

impl MigrationName for Activity {
    fn name(&self) -> &str {
        "collab_m20261204_000004_activity"
    }
}

#[kernel::async_trait::async_trait]
impl MigrationTrait for Activity {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("collab_activity")
                .col(uuid_pk("id"))
                .col(org_id())
                .col(text("entity_type"))
                .col(ColumnDef::new("entity_id").uuid().not_null().to_owned())
                .col(text("name"))
                .col(text_null("actor_type"))
                .col(ColumnDef::new("actor_id").uuid().to_owned())
                .col(
                    ColumnDef::new("details")
                        .json_binary()
                        .not_null()
                        .to_owned(),
                )
                .col(ts("occurred_at"))
                .to_owned(),
        )
        .await?;
        // An entity's page and the org's page, newest first (ids are time-ordered UUID v7).
        m.create_index(index(
            "collab_activity_entity",
            "collab_activity",
            &["org_id", "entity_type", "entity_id", "id"],
        ))
        .await?;
        m.create_index(index(
            "collab_activity_actor",
            "collab_activity",
            &["org_id", "actor_id", "id"],
        ))
        .await?;
        kernel::db::enable_tenant_rls(m.get_connection(), "collab_activity").await
    }
}

struct Search;

impl MigrationName for Search {
    fn name(&self) -> &str {
        "collab_m20261205_000001_search"
    }
}

/// The search index, one row per entity, with the backend's own full-text index over it:
/// PostgreSQL a generated `tsvector` (the `simple` configuration: no language's stemming, so
/// names in any language match as typed) under a GIN index; SQLite an FTS5 table over the rows
/// (external content, kept current by triggers). Recent and saved searches beside it.
#[kernel::async_trait::async_trait]
impl MigrationTrait for Search {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let conn = m.get_connection();
        match m.get_database_backend() {
            sea_orm::DbBackend::Postgres => {
                conn.execute_unprepared(
                    "CREATE TABLE collab_search (
                        org_id uuid NOT NULL,
                        entity_type text NOT NULL,
                        entity_id uuid NOT NULL,
                        title text NOT NULL,
                        body text NOT NULL,
                        indexed_at timestamptz NOT NULL,
                        document tsvector GENERATED ALWAYS AS (
                            setweight(to_tsvector('simple', title), 'A')
                            || setweight(to_tsvector('simple', body), 'B')) STORED,
                        PRIMARY KEY (org_id, entity_type, entity_id));
                     CREATE INDEX collab_search_document ON collab_search USING GIN (document);",
                )
                .await?;
            }
            _ => {
                m.create_table(
                    Table::create()
                        .table("collab_search")
                        .col(
                            // The FTS table's row key (an alias of SQLite's rowid).
                            ColumnDef::new("fts_rowid")
                                .integer()
                                .primary_key()
                                .to_owned(),
                        )
                        .col(org_id())
                        .col(text("entity_type"))
                        .col(ColumnDef::new("entity_id").uuid().not_null().to_owned())
                        .col(text("title"))
                        .col(text("body"))
                        .col(ts("indexed_at"))
                        .to_owned(),
                )
                .await?;
                m.create_index(
                    index(
                        "collab_search_entity",
                        "collab_search",
                        &["org_id", "entity_type", "entity_id"],
                    )
                    .unique()
                    .to_owned(),
                )
                .await?;
                conn.execute_unprepared(
                    "CREATE VIRTUAL TABLE collab_search_fts USING fts5(
                        title, body, content='collab_search', content_rowid='fts_rowid',
                        tokenize='unicode61 remove_diacritics 2');
                     CREATE TRIGGER collab_search_ai AFTER INSERT ON collab_search BEGIN
                        INSERT INTO collab_search_fts(rowid, title, body)
                        VALUES (new.fts_rowid, new.title, new.body);
                     END;
                     CREATE TRIGGER collab_search_ad AFTER DELETE ON collab_search BEGIN
                        INSERT INTO collab_search_fts(collab_search_fts, rowid, title, body)
                        VALUES ('delete', old.fts_rowid, old.title, old.body);
                     END;
                     CREATE TRIGGER collab_search_au AFTER UPDATE ON collab_search BEGIN
                        INSERT INTO collab_search_fts(collab_search_fts, rowid, title, body)
                        VALUES ('delete', old.fts_rowid, old.title, old.body);
                        INSERT INTO collab_search_fts(rowid, title, body)
                        VALUES (new.fts_rowid, new.title, new.body);
                     END;",
                )
                .await?;
            }
        }
        m.create_table(
            Table::create()
                .table("collab_recent_searches")
                .col(uuid_pk("id"))
                .col(org_id())
                .col(ColumnDef::new("user_id").uuid().not_null().to_owned())
                .col(text("query"))
                .col(text_null("types"))
                .col(ts("searched_at"))
                .to_owned(),
        )
        .await?;
        m.create_index(index(
            "collab_recent_searches_user",
            "collab_recent_searches",
            &["org_id", "user_id", "searched_at"],
        ))
        .await?;
        m.create_table(
            Table::create()
                .table("collab_saved_searches")
                .col(uuid_pk("id"))
                .col(org_id())
                .col(ColumnDef::new("user_id").uuid().not_null().to_owned())
                .col(text("name"))
                .col(text("query"))
                .col(text_null("types"))
                .col(ts("created_at"))
                .to_owned(),
        )
        .await?;
        m.create_index(index(
            "collab_saved_searches_user",
            "collab_saved_searches",
            &["org_id", "user_id", "created_at"],
        ))
        .await?;
        for table in [
            "collab_search",
            "collab_recent_searches",
            "collab_saved_searches",
        ] {
            kernel::db::enable_tenant_rls(conn, table).await?;
        }
        Ok(())
    }
}
