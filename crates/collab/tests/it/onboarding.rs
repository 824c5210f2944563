//! The onboarding status: the steps enabled modules declare, checked for the caller's org.

use serde_json::json;
use testkit::db_test;

use crate::support::{cell, org, user};

db_test!(
    async fn onboarding_lists_each_modules_steps_for_the_org(db) {
        let cell = cell(&db).await?;
        let acme = org(&cell, "Acme").await?;
        let globex = org(&cell, "Globex").await?;
        let owner = user(&cell, "owner@acme.test", acme, "owner").await?;
        let other = user(&cell, "owner@globex.test", globex, "owner").await?;
        let step = |status: &serde_json::Value, key: &str| {
            status["steps"].as_array().into_iter().flatten().find(|s| s["key"] == key).map(|s| s["done"].clone())
        };
        let (status, body) = cell.get("/api/v1/onboarding/status", Some(&owner)).await?;
        assert_eq!(status, 200, "{body}");
        assert_eq!((step(&body, "tenancy.invite_teammate"), step(&body, "tenancy.create_team")), (Some(json!(false)), Some(json!(false))));
        assert_eq!(body["complete"], false);

        // A team is optional; an invitation completes it. Another org is untouched.
        let (status, _) = cell.post("/api/v1/teams", Some(&owner), json!({"name": "Sales"})).await?;
        assert_eq!(status, 201);
        let (_, body) = cell.get("/api/v1/onboarding/status", Some(&owner)).await?;
        assert_eq!((step(&body, "tenancy.create_team"), &body["complete"]), (Some(json!(true)), &json!(false)));
        let (status, inv) = cell.post("/api/v1/invitations", Some(&owner), json!({"email": "ann@acme.test", "role": "member"})).await?;
        assert_eq!(status, 201, "{inv}");
        let (_, body) = cell.get("/api/v1/onboarding/status", Some(&owner)).await?;
        assert_eq!(body["complete"], true, "{body}");
        let (_, theirs) = cell.get("/api/v1/onboarding/status", Some(&other)).await?;
        assert_eq!((step(&theirs, "tenancy.invite_teammate"), &theirs["complete"]), (Some(json!(false)), &json!(false)));
        Ok(())
    }
);
