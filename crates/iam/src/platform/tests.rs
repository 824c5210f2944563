use super::{BASE_SCHEMA, grantable, with_custom_roles};
use crate::compose_schema;
use crate::schema::Rewrite;

const DOCS: &str = "definition document {
    relation org: org
    relation viewer: user | team#member
    permission view = viewer + org->member_access
    permission edit = org->admin_access
}
definition note { relation viewer: user\n permission view = viewer }";

#[test]
fn custom_roles_reach_module_types_that_belong_to_an_org() -> Result<(), String> {
    let schema = with_custom_roles(compose_schema([("iam", BASE_SCHEMA), ("docs", DOCS)])?)?;
    let g = grantable(&schema);
    // `note` has no `org` relation; built-in types never take part.
    assert_eq!(
        g,
        vec![
            ("document".to_owned(), "edit".to_owned()),
            ("document".to_owned(), "view".to_owned())
        ]
    );
    let view = schema.relation("document", "view").ok_or("view")?;
    assert!(
        matches!(&view.rewrite, Rewrite::Union(parts) if parts.len() == 2),
        "{}",
        view.rewrite
    );
    assert!(
        schema
            .relation("role", "grant__document__view")
            .is_some_and(|r| r.is_assignable())
    );
    assert!(schema.relation("org", "role__document__edit").is_some());
    assert!(
        schema
            .relation("note", "view")
            .is_some_and(|r| r.rewrite == Rewrite::Computed("viewer".into()))
    );
    Ok(())
}

#[test]
fn generated_names_that_are_too_long_stop_start_up() -> Result<(), String> {
    let long = "definition a_document_type_with_a_very_long_name {
        relation org: org
        permission and_an_even_longer_permission_name = org->member_access
    }";
    let err = with_custom_roles(compose_schema([("iam", BASE_SCHEMA), ("x", long)])?)
        .err()
        .unwrap_or_default();
    assert!(err.contains("not a valid name"), "{err}");
    Ok(())
}
