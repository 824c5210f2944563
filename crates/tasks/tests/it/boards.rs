//! Boards, columns, the kanban view and moves: order by fractional positions, statuses that
//! follow columns, the refusals (another board's column, completed is final, WIP limits),
//! roles and other orgs.

use serde_json::json;
use testkit::db_test;

use crate::support::*;

db_test!(
    async fn tasks_move_across_a_board_in_order(db) {
        let cell = cell(&db).await?;
        let acme = org(&cell, "Acme").await?;
        let globex = org(&cell, "Globex").await?;
        let mia = user(&cell, "mia@acme.test", acme, "member").await?;
        let vic = user(&cell, "vic@acme.test", acme, "viewer").await?;
        let gus = user(&cell, "gus@globex.test", globex, "owner").await?;

        let sprint = board(&cell, &mia, "Sprint").await?;
        let b = id(&sprint);
        let col = |name: &str| {
            sprint["columns"].as_array().into_iter().flatten()
                .find(|c| c["name"] == name).map(|c| c["id"].clone()).unwrap_or_default()
        };
        let statuses: Vec<&str> = sprint["columns"].as_array().into_iter().flatten().filter_map(|c| c["status"].as_str()).collect();
        assert_eq!(statuses, ["todo", "in_progress", "review", "completed"]);

        // New tasks go last in the board's first column.
        let t1 = task(&cell, &mia, json!({"title": "one", "board_id": b})).await?;
        let t2 = task(&cell, &mia, json!({"title": "two", "board_id": b})).await?;
        let t3 = task(&cell, &mia, json!({"title": "three", "board_id": b})).await?;
        let kanban = format!("/api/v1/tasks?view=kanban&board_id={b}");
        let (status, k) = cell.get(&kanban, Some(&vic)).await?;
        assert_eq!(status, 200, "{k}");
        assert_eq!(columns(&k)[0].1, ["one", "two", "three"]);
        assert_eq!(k["columns"][0]["total"], 3);

        // Moves: to the top; between the second and the third (2.5 of [three, one]: last).
        let mv = |t: &str| format!("/api/v1/tasks/{t}/move");
        let (status, moved) = cell.patch(&mv(&t3), Some(&mia), json!({"column_id": col("To Do"), "position": 0})).await?;
        assert_eq!((status, &moved["status"]), (200, &json!("todo")), "{moved}");
        let (status, _) = cell.patch(&mv(&t2), Some(&mia), json!({"column_id": col("To Do"), "position": 1.5})).await?;
        assert_eq!(status, 200);
        let (_, k) = cell.get(&kanban, Some(&mia)).await?;
        assert_eq!(columns(&k)[0].1, ["three", "one", "two"]);
        assert!(cell.events("tasks.task.status_changed").await?.is_empty(), "no status changed yet");

        // Another column: the status follows (`tasks.task.status_changed`).
        let (status, moved) = cell.patch(&mv(&t1), Some(&mia), json!({"column_id": col("In Progress")})).await?;
        assert_eq!((status, &moved["status"], &moved["column_id"]), (200, &json!("in_progress"), &col("In Progress")), "{moved}");
        let changed = cell.events("tasks.task.status_changed").await?;
        assert_eq!(changed.len(), 1);
        assert_eq!((&changed[0]["from"], &changed[0]["to"]), (&json!("todo"), &json!("in_progress")));

        // Done is final.
        let (status, done) = cell.patch(&mv(&t1), Some(&mia), json!({"column_id": col("Done")})).await?;
        assert_eq!((status, &done["status"], done["completed_at"].is_string()), (200, &json!("completed"), true), "{done}");
        assert_eq!(cell.events("tasks.task.completed").await?.len(), 1);
        let (status, e) = cell.patch(&mv(&t1), Some(&mia), json!({"column_id": col("To Do")})).await?;
        assert_eq!(status, 409, "{e}");
        let (status, _) = cell.patch(&format!("/api/v1/tasks/{t1}"), Some(&mia), json!({"status": "todo"})).await?;
        assert_eq!(status, 409);

        // A status change by PATCH moves the task to the end of that column.
        let (status, p) = cell.patch(&format!("/api/v1/tasks/{t3}"), Some(&mia), json!({"status": "review"})).await?;
        assert_eq!((status, &p["column_id"]), (200, &col("Review")), "{p}");

        // Another board's column is refused; so is a column that does not exist.
        let other = board(&cell, &mia, "Other").await?;
        let (status, e) = cell.patch(&mv(&t2), Some(&mia), json!({"column_id": other["columns"][0]["id"]})).await?;
        assert_eq!(status, 422, "{e}");
        assert!(e["error"]["details"]["fields"]["column_id"].is_string(), "{e}");
        let (status, _) = cell.patch(&mv(&t2), Some(&mia), json!({"column_id": uuid::Uuid::now_v7()})).await?;
        assert_eq!(status, 422);
        let (status, _) = cell.patch(&mv(&t2), Some(&mia), json!({"column_id": col("To Do"), "position": -1})).await?;
        assert_eq!(status, 422);

        // Columns: renamed, reordered, added; one holding tasks cannot go or change status.
        let cols = format!("/api/v1/boards/{b}/columns");
        let keep = |n: &str, s: &str| json!({"id": col(n), "name": n, "status": s});
        let (status, e) = cell.patch(&cols, Some(&mia), json!({"columns": [keep("In Progress", "in_progress"), keep("Review", "review"), keep("Done", "completed")]})).await?;
        assert_eq!(status, 409, "To Do holds a task: {e}");
        let (status, e) = cell.patch(&cols, Some(&mia), json!({"columns": [keep("To Do", "review"), keep("In Progress", "in_progress"), keep("Review", "review"), keep("Done", "completed")]})).await?;
        assert_eq!(status, 409, "{e}");
        let (status, changed) = cell.patch(&cols, Some(&mia), json!({"columns": [
            keep("To Do", "todo"), {"name": "Blocked", "status": "in_progress", "wip_limit": 1, "color": "#aa0000"},
            keep("In Progress", "in_progress"), keep("Review", "review"), keep("Done", "completed")]})).await?;
        assert_eq!(status, 200, "{changed}");
        let names: Vec<&str> = changed["columns"].as_array().into_iter().flatten().filter_map(|c| c["name"].as_str()).collect();
        assert_eq!(names, ["To Do", "Blocked", "In Progress", "Review", "Done"]);
        let blocked = changed["columns"][1]["id"].clone();
        assert_eq!(cell.patch(&mv(&t2), Some(&mia), json!({"column_id": blocked})).await?.0, 200);
        let (status, e) = cell.patch(&mv(&t3), Some(&mia), json!({"column_id": blocked})).await?;
        assert_eq!(status, 409, "WIP limit 1: {e}");

        // Roles: a viewer reads, does not write.
        assert_eq!(cell.post("/api/v1/tasks", Some(&vic), json!({"title": "x"})).await?.0, 403);
        assert_eq!(cell.post("/api/v1/boards", Some(&vic), json!({"name": "x"})).await?.0, 403);
        assert_eq!(cell.patch(&mv(&t2), Some(&vic), json!({"column_id": col("To Do")})).await?.0, 403);

        // Another org: nothing is found, nothing moves.
        for (status, what) in [
            (cell.get(&format!("/api/v1/tasks/{t2}"), Some(&gus)).await?.0, "read"),
            (cell.patch(&mv(&t2), Some(&gus), json!({"column_id": col("To Do")})).await?.0, "move"),
            (cell.patch(&format!("/api/v1/tasks/{t2}"), Some(&gus), json!({"title": "x"})).await?.0, "update"),
            (cell.delete(&format!("/api/v1/tasks/{t2}"), Some(&gus)).await?.0, "delete"),
            (cell.get(&kanban, Some(&gus)).await?.0, "kanban"),
            (cell.get(&format!("/api/v1/boards/{b}"), Some(&gus)).await?.0, "board"),
            (cell.patch(&cols, Some(&gus), json!({"columns": [{"name": "x", "status": "todo"}]})).await?.0, "columns"),
        ] {
            assert_eq!(status, 404, "{what}");
        }
        let g = board(&cell, &gus, "Theirs").await?;
        let (status, e) = cell.patch(&mv(&t2), Some(&gus), json!({"column_id": g["columns"][0]["id"]})).await?;
        assert_eq!(status, 404, "{e}");
        let (status, e) = cell.post("/api/v1/tasks", Some(&gus), json!({"title": "x", "column_id": col("To Do")})).await?;
        assert_eq!(status, 422, "{e}");
        let (_, list) = cell.get("/api/v1/tasks", Some(&gus)).await?;
        assert_eq!(list["meta"]["total"], 0);
        let (_, boards) = cell.get("/api/v1/boards", Some(&gus)).await?;
        assert_eq!(boards.as_array().map(Vec::len), Some(1));

        // The list view: filters, sort, board.
        let (status, list) = cell.get(&format!("/api/v1/tasks?view=list&board_id={b}&filter[status]=review"), Some(&mia)).await?;
        assert_eq!(status, 200, "{list}");
        assert_eq!(list["meta"]["total"], 1);
        assert_eq!(list["data"][0]["title"], "three");
        Ok(())
    }
);

db_test!(
    async fn calendar_and_gantt_views_show_dated_tasks(db) {
        let cell = cell(&db).await?;
        let acme = org(&cell, "Acme").await?;
        let mia = user(&cell, "mia@acme.test", acme, "member").await?;
        let b = id(&board(&cell, &mia, "Plan").await?);
        let a = task(&cell, &mia, json!({"title": "design", "board_id": b, "start_date": "2027-01-04T09:00:00Z", "due_date": "2027-01-08T17:00:00Z"})).await?;
        let c = task(&cell, &mia, json!({"title": "build", "board_id": b, "start_date": "2027-01-11T09:00:00Z", "due_date": "2027-01-22T17:00:00Z"})).await?;
        task(&cell, &mia, json!({"title": "launch", "board_id": b, "due_date": "2027-02-01T12:00:00Z"})).await?;
        task(&cell, &mia, json!({"title": "someday", "board_id": b})).await?;
        let (status, _) = cell.post(&format!("/api/v1/tasks/{c}/dependencies"), Some(&mia), json!({"depends_on_id": a})).await?;
        assert_eq!(status, 201);

        let (status, cal) = cell.get("/api/v1/tasks?view=calendar&from=2027-01-07T00:00:00Z&to=2027-01-12T00:00:00Z", Some(&mia)).await?;
        assert_eq!(status, 200, "{cal}");
        let titles: Vec<&str> = cal["tasks"].as_array().into_iter().flatten().filter_map(|t| t["title"].as_str()).collect();
        assert_eq!(titles, ["design", "build"]);
        let (status, cal) = cell.get("/api/v1/tasks?view=calendar&from=2027-01-25T00:00:00Z&to=2027-02-25T00:00:00Z", Some(&mia)).await?;
        assert_eq!(status, 200);
        assert_eq!(cal["tasks"].as_array().map(Vec::len), Some(1));
        for bad in ["view=calendar", "view=calendar&from=2027-01-02T00:00:00Z&to=2027-01-01T00:00:00Z", "view=calendar&from=2027-01-01T00:00:00Z&to=2029-01-01T00:00:00Z", "view=kanban", "view=sideways"] {
            let (status, e) = cell.get(&format!("/api/v1/tasks?{bad}"), Some(&mia)).await?;
            assert!(status == 422 || status == 400, "{bad}: {status} {e}");
        }

        let (status, g) = cell.get(&format!("/api/v1/tasks?view=gantt&board_id={b}"), Some(&mia)).await?;
        assert_eq!(status, 200, "{g}");
        assert_eq!(g["tasks"].as_array().map(Vec::len), Some(3), "the undated task is left out");
        assert_eq!(g["dependencies"], json!([{"task_id": c, "depends_on_id": a, "kind": "finish_to_start"}]));
        Ok(())
    }
);
