use tenancy::{NewOrganization, create_organization, organizations_of, role_in};
use uuid::Uuid;

use crate::support::Cell;

testkit::db_test!(async fn registration_org_and_memberships(test_db) {
    let cell = Cell::start(&test_db).await?;
    let ctx = cell.ctx();
    let db = ctx.db();
    let (alice, bob) = (Uuid::now_v7(), Uuid::now_v7());
    let mut orgs = Vec::new();
    for (user, name) in [(alice, "Alice Smith"), (alice, "Acme"), (bob, "Acme")] {
        let tx = db.tenant(Uuid::now_v7()).await?;
        let org = create_organization(
            ctx,
            &tx,
            NewOrganization { name: name.into(), personal: false, ..Default::default() },
            user,
        )
        .await
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
        tx.commit().await?;
        orgs.push(org);
    }
    assert_eq!(orgs[0].slug, "alice-smith");
    assert_eq!(orgs[1].slug, "acme");
    assert!(orgs[2].slug.starts_with("acme-") && orgs[2].slug != "acme", "{}", orgs[2].slug);

    // However it is made, a new org is announced (crm seeds its pipeline from it).
    let created = cell.events("tenancy.organization.created").await?;
    assert_eq!(created.len(), 3, "{created:?}");
    assert_eq!(created[2]["owner_id"], serde_json::json!(bob));

    let mine = organizations_of(db, alice).await.map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let ids: Vec<Uuid> = mine.iter().map(|m| m.organization.id).collect();
    assert_eq!(ids, vec![orgs[0].id, orgs[1].id]);
    assert!(mine.iter().all(|m| m.role == "owner"));
    assert_eq!(role_in(db, bob, orgs[2].id).await.map_err(|e| anyhow::anyhow!("{e:?}"))?.as_deref(), Some("owner"));
    assert_eq!(role_in(db, bob, orgs[1].id).await.map_err(|e| anyhow::anyhow!("{e:?}"))?, None);

    // A taken slug given explicitly is a conflict, not a silent rename.
    let tx = db.tenant(Uuid::now_v7()).await?;
    let err = create_organization(
        ctx,
        &tx,
        NewOrganization { name: "Other".into(), slug: Some("acme".into()), ..Default::default() },
        bob,
    )
    .await
    .err()
    .map(|e| e.code());
    assert_eq!(err, Some(kernel::ErrorCode::Conflict));
    cell.finish(test_db).await
});
