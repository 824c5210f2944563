//! The engine on a cell with a read replica (`database.read_url`; the test server's streaming
//! replica, `scripts/replica.sh`): an answer read there carries the revision the replica holds,
//! never a newer one this instance has heard of, so nothing stale is cached under a new revision.
//! (A revoked permission may answer from the past while the replica lags within the bound; once
//! it catches up, never again.)

use iam::{ObjectRef, ReadOptions, SubjectRef, Tuple, TupleUpdate, WriteBatch};
use kernel::replica::lagging_reads;
use testkit::TestDb;
use testkit::eventually;
use testkit::replica::{ReplayPaused, url_for};
use uuid::Uuid;

use crate::support::Docs;

const DOC: &str = "definition doc {\n    relation viewer: user\n    permission view = viewer\n}";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_read_on_a_lagging_replica_carry_the_replicas_revision() -> anyhow::Result<()> {
    let db = TestDb::postgres().await?;
    testkit::replica::wait_for(&db).await?;
    let read_url = url_for(&db, "postgres", None)?;
    let config = testkit::cell_config(
        &db,
        "[modules.iam]\n[modules.docs]\n",
        &[
            ("CELL__DATABASE__READ_URL", read_url.as_str()),
            ("CELL__DATABASE__REPLICA_MAX_LAG_MS", "60000"),
        ],
    )?;
    let app = testkit::TestApp::start(
        config,
        vec![Box::new(iam::Iam::default()), Box::new(Docs(DOC))],
    )
    .await?;
    let engine = iam::engine(&app.ctx).map_err(|e| anyhow::anyhow!("{}", e.message()))?;
    let org = Uuid::now_v7();
    let (doc, ann) = (
        ObjectRef::parse("doc:1")?,
        SubjectRef::object("user", "ann"),
    );
    let grant = Tuple::parse("doc:1#viewer@user:ann")?;
    let granted = engine
        .write(org, &WriteBatch::touch([grant.clone()]))
        .await?;

    // A check in a GET request, on the replica once it is fresh and holds the grant.
    let check = || async {
        let (engine, doc, ann) = (engine.clone(), doc.clone(), ann.clone());
        lagging_reads(async move {
            engine
                .check(org, &doc, "view", &ann, &ReadOptions::default())
                .await
        })
        .await
    };
    eventually("the replica answers with the grant", async || {
        Ok(app.ctx.db().replica_staleness().is_some() && check().await?.value)
    })
    .await?;

    // The replica stops replaying; the grant is revoked. This instance hears of the new
    // revision at once (its own write, and PostgreSQL's NOTIFY).
    let paused = ReplayPaused::start().await?;
    let revoked = engine
        .write(
            org,
            &WriteBatch {
                updates: vec![TupleUpdate::delete(grant)],
                preconditions: vec![],
            },
        )
        .await?;
    assert!(revoked > granted);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    // The replica answers from before the revocation, and says so.
    let stale = check().await?;
    assert!(stale.value, "the replica should still hold the grant");
    assert_eq!(
        stale.revision, granted,
        "an answer from the replica labelled with a revision it does not hold"
    );
    // Outside a GET (a write's check, a job), the writer answers: revoked.
    assert!(
        !engine
            .check(org, &doc, "view", &ann, &ReadOptions::default())
            .await?
            .value
    );

    // Once the replica catches up, the revocation holds there too: nothing stale was cached.
    paused.resume().await?;
    eventually("the replica answers with the revocation", async || {
        let answer = check().await?;
        Ok(!answer.value && answer.revision == revoked)
    })
    .await?;
    Ok(())
}
