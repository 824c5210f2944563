//! Start-up failures of the module registry, each with its message, and dependency order.

use kernel::CellConfig;
use kernel::config::Sources;
use kernel::module::{self, PlatformModule, RegistryError};

use crate::support::{Notes, Tags};

struct Fake {
    name: &'static str,
    deps: &'static [&'static str],
}

#[async_trait::async_trait]
impl PlatformModule for Fake {
    fn name(&self) -> &'static str {
        self.name
    }
    fn version(&self) -> &'static str {
        "9.9.9"
    }
    fn dependencies(&self) -> &'static [&'static str] {
        self.deps
    }
}

fn fake(name: &'static str, deps: &'static [&'static str]) -> Box<dyn PlatformModule> {
    Box::new(Fake { name, deps })
}

fn cfg(toml: &str) -> anyhow::Result<CellConfig> {
    let sources = Sources {
        file: Some((format!("[cell]\nname = \"reg\"\n{toml}"), "reg.toml".into())),
        env: Some(Default::default()),
        overrides: vec![],
    };
    Ok(CellConfig::load(&sources, &Default::default())?)
}

fn failure(linked: Vec<Box<dyn PlatformModule>>, toml: &str) -> anyhow::Result<String> {
    match module::resolve(linked, &cfg(toml)?) {
        Ok(_) => anyhow::bail!("resolution unexpectedly succeeded"),
        Err(e) => Ok(e.to_string()),
    }
}

#[test]
fn enabled_but_not_linked_names_the_module_and_the_fix() -> anyhow::Result<()> {
    let msg = failure(vec![fake("a", &[])], "[modules.a]\n[modules.crm]\n")?;
    assert!(msg.contains("`crm`") && msg.contains("not linked"), "{msg}");
    assert!(
        msg.contains("apps/reg/Cargo.toml") && msg.contains("use crm as _;"),
        "{msg}"
    );
    Ok(())
}

#[test]
fn duplicate_names_are_refused() -> anyhow::Result<()> {
    let msg = failure(vec![fake("a", &[]), fake("a", &[])], "[modules.a]\n")?;
    assert!(msg.contains("two linked modules are named `a`"), "{msg}");
    Ok(())
}

#[test]
fn the_kernel_name_is_reserved() -> anyhow::Result<()> {
    let msg = failure(vec![fake("kernel", &[])], "")?;
    assert!(msg.contains("reserved"), "{msg}");
    Ok(())
}

#[test]
fn a_missing_dependency_names_both_modules() -> anyhow::Result<()> {
    let msg = failure(vec![fake("a", &[]), fake("b", &["a"])], "[modules.b]\n")?;
    assert!(
        msg.contains("`b` depends on `a`") && msg.contains("[modules.a]"),
        "{msg}"
    );
    // Linked and enabled elsewhere is not enough: it must be enabled in this cell.
    let msg = failure(
        vec![fake("b", &["a"])],
        "[modules.b]\n[modules.a]\nenabled = false\n",
    )?;
    assert!(msg.contains("`b` depends on `a`"), "{msg}");
    Ok(())
}

#[test]
fn a_dependency_cycle_is_spelled_out() -> anyhow::Result<()> {
    let msg = failure(
        vec![
            fake("a", &["c"]),
            fake("b", &["a"]),
            fake("c", &["b"]),
            fake("d", &[]),
        ],
        "[modules.a]\n[modules.b]\n[modules.c]\n[modules.d]\n",
    )?;
    assert!(msg.contains("cycle"), "{msg}");
    assert!(msg.contains("a → c → b → a"), "{msg}");
    Ok(())
}

#[test]
fn unknown_module_settings_are_named() -> anyhow::Result<()> {
    let msg = failure(
        vec![Box::new(Notes::default())],
        "[modules.notes]\ncolour = \"red\"\n",
    )?;
    assert!(
        msg.contains("modules.notes") && msg.contains("colour"),
        "{msg}"
    );
    let msg = failure(vec![fake("a", &[])], "[modules.a]\nanything = 1\n")?;
    assert!(
        msg.contains("modules.a") && msg.contains("`anything`"),
        "{msg}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn known_module_settings_reach_the_module() -> anyhow::Result<()> {
    let db = testkit::TestDb::sqlite()?;
    let app = crate::support::TestApp::spawn_with(
        &db,
        "[modules.notes]\nmax_title = 3\n",
        &[("CELL__MODULES__NOTES__ROUTE_PREFIX", "/api/n")],
        vec![Box::new(Notes::default())],
    )
    .await?;
    let res = app
        .client
        .post(app.url("/api/n/notes"))
        .header("x-org-id", uuid::Uuid::now_v7().to_string())
        .json(&serde_json::json!({"title": "four", "priority": 1}))
        .send()
        .await?;
    let e = crate::support::expect_error(res, 422, "validation_failed").await?;
    assert!(
        e["message"]
            .as_str()
            .unwrap_or_default()
            .contains("longer than 3"),
        "{e}"
    );
    Ok(())
}

#[test]
fn modules_start_in_dependency_order_whatever_the_link_order() -> anyhow::Result<()> {
    let order = |linked: Vec<Box<dyn PlatformModule>>| -> anyhow::Result<Vec<&'static str>> {
        let toml = "[modules.a]\n[modules.b]\n[modules.c]\n[modules.z]\n";
        Ok(module::resolve(linked, &cfg(toml)?)?
            .iter()
            .map(|m| m.module.name())
            .collect())
    };
    let first = order(vec![
        fake("c", &["b"]),
        fake("z", &[]),
        fake("a", &[]),
        fake("b", &["a", "z"]),
    ])?;
    let second = order(vec![
        fake("b", &["a", "z"]),
        fake("a", &[]),
        fake("c", &["b"]),
        fake("z", &[]),
    ])?;
    assert_eq!(first, vec!["a", "z", "b", "c"]);
    assert_eq!(first, second);
    Ok(())
}

#[test]
fn linked_but_not_enabled_modules_stay_out() -> anyhow::Result<()> {
    let modules = module::resolve(
        vec![Box::new(Notes::default()), Box::new(Tags::default())],
        &cfg("[modules.notes]\n")?,
    )?;
    assert_eq!(
        modules.iter().map(|m| m.module.name()).collect::<Vec<_>>(),
        vec!["notes"]
    );
    Ok(())
}

struct Registered;

#[async_trait::async_trait]
impl PlatformModule for Registered {
    fn name(&self) -> &'static str {
        "registered_by_macro"
    }
    fn version(&self) -> &'static str {
        "0.0.1"
    }
}

kernel::register_module!(Registered);

#[test]
fn the_macro_registers_with_the_link_time_registry() {
    let linked = module::linked_modules();
    let names: Vec<&str> = linked.iter().map(|m| m.name()).collect();
    assert!(names.contains(&"registered_by_macro"), "{names:?}");
    let duplicate = module::resolve(
        vec![Box::new(Registered), Box::new(Registered)],
        &CellConfig::load(
            &Sources {
                file: Some(("[cell]\nname = \"x\"\n".into(), "x".into())),
                env: Some(Default::default()),
                overrides: vec![],
            },
            &Default::default(),
        )
        .unwrap_or_else(|e| panic!("{e}")),
    );
    assert!(matches!(duplicate, Err(RegistryError::Duplicate { .. })));
}

/// Declares one onboarding step with the given key.
struct Steps(&'static str);

struct Never;

#[async_trait::async_trait(?Send)]
impl module::StepCheck for Never {
    async fn done(
        &self,
        _: &kernel::CellContext,
        _: &kernel::TenantTx,
    ) -> Result<bool, kernel::ApiError> {
        Ok(false)
    }
}

#[async_trait::async_trait]
impl PlatformModule for Steps {
    fn name(&self) -> &'static str {
        "steps"
    }
    fn version(&self) -> &'static str {
        "1.0.0"
    }
    fn onboarding_steps(&self) -> Vec<module::OnboardingStep> {
        let step = module::OnboardingStep {
            key: self.0,
            title: "Do it",
            required: true,
            check: std::sync::Arc::new(Never),
        };
        vec![step.clone(), step]
    }
}

#[test]
fn onboarding_steps_are_named_by_their_module_and_unique() -> anyhow::Result<()> {
    let message = failure(vec![Box::new(Steps("other.first"))], "[modules.steps]\n")?;
    assert!(
        message.contains("onboarding step `other.first` must be named `steps.<step>`"),
        "{message}"
    );
    let message = failure(vec![Box::new(Steps("steps.first"))], "[modules.steps]\n")?;
    assert!(
        message.contains("`steps.first`") && message.contains("unique"),
        "{message}"
    );
    Ok(())
}
