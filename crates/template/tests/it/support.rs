//! A cell of iam, tenancy, auth, collab and the template module (`testcell`), and signed-in
//! users in orgs.

pub use testcell::{Cell, org, user};
use testkit::TestDb;

const TOML: &str = r#"
[modules.iam]
[modules.tenancy]
[modules.auth]
[modules.collab]
[modules.template]
max_items = 3
"#;

pub async fn cell(db: &TestDb) -> anyhow::Result<Cell> {
    testcell::start(
        db,
        TOML,
        vec![
            Box::new(collab::Collab::default()),
            Box::new(template::Template::default()),
        ],
    )
    .await
}
