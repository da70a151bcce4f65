//! Simulation jobs of the web app: the replicate cap and the bounded queue (through HTTP),
//! cancelling a running job, and reports kept on disk (0600 files in a 0700 folder) with the
//! protocol they ran on, listed again after a restart.

#![expect(clippy::expect_used, reason = "tests fail loudly")]

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

use bayestrial::protocol::LoadedProtocol;
use bayestrial::service::Role;
use bayestrial::web::jobs::{JobError, JobLimits, JobRequest, JobState, SimulationJobs};

fn protocol() -> LoadedProtocol {
    LoadedProtocol::load(Path::new("protocols/platform-binary-4arm.toml")).expect("protocol")
}

fn request(reps: u64) -> JobRequest {
    JobRequest {
        trial_id: "T".into(),
        version: 1,
        scenario: "null".into(),
        reps,
        seed: 1,
        started_by: "stat".into(),
    }
}

fn wait_until_ended(jobs: &SimulationJobs, id: u64) -> JobState {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let state = jobs.get(id).expect("job").state();
        if state.ended() {
            return state;
        }
        assert!(Instant::now() < deadline, "job {id} still {state:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .expect("metadata")
        .permissions()
        .mode()
        & 0o777
}

#[test]
fn the_queue_is_bounded_a_job_cancels_and_reports_survive_a_restart() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let limits = JobLimits {
        running: 1,
        waiting: 1,
        max_reps: 1_000_000,
    };
    let jobs = SimulationJobs::open(dir.path(), limits, 1).expect("jobs");
    let small = jobs.start(protocol(), request(20)).expect("small job");
    assert!(matches!(
        wait_until_ended(&jobs, small.spec.id),
        JobState::Finished { .. }
    ));
    let long = jobs
        .start(protocol(), request(1_000_000))
        .expect("long job");
    let waiting = jobs.start(protocol(), request(1_000_000)).expect("waits");
    assert_eq!(waiting.state(), JobState::Waiting);
    let full = jobs.start(protocol(), request(10));
    assert!(
        matches!(
            full,
            Err(JobError::Full {
                running: 1,
                waiting: 1
            })
        ),
        "{full:?}"
    );
    assert!(matches!(
        jobs.start(protocol(), request(1_000_001)),
        Err(JobError::Reps {
            asked: 1_000_001,
            max: 1_000_000
        })
    ));
    assert!(jobs.cancel(waiting.spec.id));
    assert_eq!(waiting.state(), JobState::Cancelled);
    while long.percent() == 0 {
        std::thread::sleep(Duration::from_millis(5));
    }
    let asked = Instant::now();
    assert!(jobs.cancel(long.spec.id));
    assert_eq!(wait_until_ended(&jobs, long.spec.id), JobState::Cancelled);
    assert!(
        asked.elapsed() < Duration::from_secs(5),
        "stopped {:?} after the cancel",
        asked.elapsed()
    );
    // It shows where it stopped, and an ended job cannot be cancelled again.
    assert!(long.percent() < 100, "{}", long.progress());
    assert!(
        long.progress().starts_with("cancelled at "),
        "{}",
        long.progress()
    );
    assert!(!jobs.cancel(long.spec.id));

    let folder = dir.path().join("simulations");
    assert_eq!(mode(&folder), 0o700);
    for file in ["1.json", "1.html", "2.json", "3.json"] {
        assert_eq!(mode(&folder.join(file)), 0o600, "{file}");
    }
    let report = jobs.report(small.spec.id).expect("report");
    drop(jobs);

    let again = SimulationJobs::open(dir.path(), limits, 1).expect("reopened");
    let listed = again.of_trial("T");
    assert_eq!(
        listed.iter().map(|j| j.spec.id).collect::<Vec<_>>(),
        vec![3, 2, 1]
    );
    let first = again.get(1).expect("job 1");
    let loaded = protocol();
    assert_eq!(first.spec.protocol_id, loaded.protocol.trial.id);
    assert_eq!(first.spec.protocol_hash, loaded.hash.to_hex());
    assert_eq!(first.spec.version, 1);
    assert!(matches!(first.state(), JobState::Finished { .. }));
    assert_eq!(again.report(1).expect("report after restart"), report);
    assert_eq!(again.get(2).expect("job 2").state(), JobState::Cancelled);
    let next = again
        .start(protocol(), request(5))
        .expect("numbering goes on");
    assert_eq!(next.spec.id, 4);
}

#[actix_web::test]
async fn the_web_form_names_the_replicate_bound_and_cancel_needs_the_csrf_token() {
    let world = common::World::new(11);
    let app = world.app().await;
    let text = std::fs::read_to_string("protocols/platform-binary-4arm.toml").expect("protocol");
    let trial = world.started(&text);
    let (session, csrf) = world.session("stat", Role::Statistician);
    let path = format!("/trials/{trial}/simulations");
    let too_many = common::form(
        &app,
        &session,
        &path,
        &[
            ("csrf", &csrf),
            ("scenario", "null"),
            ("reps", "100001"),
            ("seed", "1"),
        ],
    )
    .await;
    // The form comes back (422) with the bound next to the replicates.
    assert_eq!(too_many.status, 422, "{}", too_many.body);
    assert!(too_many.body.contains("100000"), "{}", too_many.body);
    assert!(
        too_many.body.contains(r#"id="reps-error""#),
        "{}",
        too_many.body
    );
    let started = common::form(
        &app,
        &session,
        &path,
        &[
            ("csrf", &csrf),
            ("scenario", "null"),
            ("reps", "100000"),
            ("seed", "1"),
        ],
    )
    .await;
    assert_eq!(started.status, 303, "{}", started.body);
    let cancel = format!("/trials/{trial}/simulations/1/cancel");
    let forged = common::form(&app, &session, &cancel, &[]).await;
    assert_eq!(forged.status, 403, "{}", forged.body);
    let cancelled = common::form(&app, &session, &cancel, &[("csrf", &csrf)]).await;
    assert_eq!(cancelled.status, 303, "{}", cancelled.body);
    assert_eq!(wait_until_ended(&world.jobs, 1), JobState::Cancelled);
    let page = common::page(&app, &session, &format!("/trials/{trial}/simulations/1")).await;
    assert!(page.body.contains("cancelled"), "{}", page.body);
}
