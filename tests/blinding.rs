//! Blinding, tried as each role would, on the real web app over a seeded service:
//!
//! - the differential test: two worlds with the same seed and the same enrolments, one whose
//!   outcomes make look 1 replace the control and drop the old one, one whose outcomes decide
//!   nothing. Every page and API answer a coordinator (or a pharmacist) can get is the same in
//!   both, apart from the outcome values typed; for regulators and admins every record of the
//!   running trial is either the same or sealed the same way; the statistician's views differ
//!   (so the worlds really differ);
//! - decisions are recorded with actor `system` and the seq of the input that made them due;
//! - emergency unblinding;
//! - a blinded n-of-1 patient's calendar and report before and after their trial ends.

#![expect(clippy::expect_used, reason = "tests fail loudly")]

mod common;

use bayestrial::service::Role;
use common::{api_get, api_post, form, page, World, PASSWORD};
use serde_json::{json, Value};

/// A blinded binary platform trial with a control, fixed 1:1:1 blocks and a look at 12
/// outcomes; superiority at 0.99 makes a clearly better arm the new control.
fn platform(id: &str) -> String {
    format!(
        r#"[trial]
id = "{id}"
title = "Blinding test"
design = "platform"
max_participants = 60
blinded = true

[outcome]
kind = "binary"
name = "Response"
better = "higher"

[[arm]]
id = "soc"
control = true
[[arm]]
id = "a"
[[arm]]
id = "b"

[allocation]
rule = "fixed"

[analysis]
looks = {{ first = 12, every = 12 }}

[decision]
superiority = 0.99
inferiority = 0.001

[[scenario]]
name = "null"
truth = {{ soc = 0.3, a = 0.3, b = 0.3 }}
accrual_per_week = 10
"#
    )
}

/// Outcome words hidden from the comparison (the coordinator typed them).
fn masked(text: &str) -> String {
    // The correction form starts from the current value: which option is chosen is a typed
    // value too.
    text.replace("no response", "OUTCOME")
        .replace("response", "OUTCOME")
        .replace("<option value=\"1\" selected>", "<option value=\"1\">")
        .replace("<option value=\"0\" selected>", "<option value=\"0\">")
}

/// What one world showed each role.
struct Seen {
    coordinator: Vec<(String, String)>,
    pharmacist: Vec<(String, String)>,
    auditors: Vec<(String, Value)>,
    statistician: String,
}

/// Runs one world: 15 enrolments, 12 outcomes (look 1), 3 more outcomes; `decisive` outcomes
/// make look 1 replace the control, the others decide nothing.
async fn world(decisive: bool) -> Seen {
    let world = World::new(7);
    let id = world.started(&platform("BLIND-1"));
    let app = world.app().await;
    let coord = world.token("coord", Role::Coordinator);
    let stat = world.token("stat", Role::Statistician);
    let mut coordinator = Vec::new();
    let subjects: Vec<String> = (1..=15).map(|i| format!("S-{i:03}")).collect();
    for subject in &subjects {
        let answer = api_post(
            &app,
            &coord,
            &format!("/api/trials/{id}/participants"),
            json!({ "subject_id": subject, "idempotency_key": format!("key-{subject}") }),
        )
        .await;
        assert_eq!(answer.status, 201, "{}", answer.body);
        assert!(answer.json().get("arm").is_none(), "{}", answer.body);
        coordinator.push((format!("enrol {subject}"), answer.body));
    }
    // The arms, as the statistician sees them, decide the outcomes of this world.
    let arms: Vec<(String, String)> =
        api_get(&app, &stat, &format!("/api/trials/{id}/participants"))
            .await
            .json()
            .as_array()
            .expect("participants")
            .iter()
            .map(|p| {
                (
                    p["subject_id"].as_str().unwrap_or_default().to_owned(),
                    p["arm"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect();
    for (i, (subject, arm)) in arms.iter().enumerate() {
        let response = if decisive { arm != "soc" } else { i % 2 == 0 };
        let receipt = api_post(
            &app,
            &coord,
            &format!("/api/trials/{id}/participants/{subject}/outcomes"),
            json!({ "value": response }),
        )
        .await;
        assert_eq!(receipt.status, 201, "{}", receipt.body);
        coordinator.push((format!("outcome {subject}"), receipt.body));
    }

    // Every page and API answer the coordinator can get.
    let (session, _) = world.session("coord", Role::Coordinator);
    let mut paths = vec![
        "/trials".to_owned(),
        format!("/trials/{id}"),
        format!("/trials/{id}/enrol"),
        format!("/trials/{id}/participants"),
        format!("/trials/{id}/dashboard"),
        "/audit".to_owned(),
        "/account".to_owned(),
    ];
    paths.extend(
        subjects
            .iter()
            .map(|s| format!("/trials/{id}/participants/{s}")),
    );
    for path in &paths {
        let reply = page(&app, &session, path).await;
        coordinator.push((format!("page {path} {}", reply.status), masked(&reply.body)));
    }
    for path in [
        "/api/trials".to_owned(),
        format!("/api/trials/{id}"),
        format!("/api/trials/{id}/participants"),
        format!("/api/trials/{id}/events"),
    ] {
        let reply = api_get(&app, &coord, &path).await;
        coordinator.push((format!("api {path} {}", reply.status), masked(&reply.body)));
    }

    // The pharmacist: arms behind kit codes, never results.
    let (pharm_session, _) = world.session("pharm", Role::Pharmacist);
    let pharm = world.token("pharm", Role::Pharmacist);
    let mut pharmacist = Vec::new();
    for path in [
        format!("/trials/{id}"),
        format!("/trials/{id}/participants"),
        format!("/trials/{id}/participants/S-001"),
    ] {
        let reply = page(&app, &pharm_session, &path).await;
        assert_eq!(reply.status, 200, "{path}: {}", reply.body);
        pharmacist.push((path.clone(), reply.body));
    }
    let listed = api_get(&app, &pharm, &format!("/api/trials/{id}/participants")).await;
    assert_eq!(listed.status, 200, "{}", listed.body);
    for p in listed.json().as_array().expect("participants") {
        assert!(p["arm"].is_string() && p["kit"].is_string(), "{p}");
        assert!(
            p["outcome"].is_null(),
            "the pharmacist sees no outcomes: {p}"
        );
    }
    let results = api_get(&app, &pharm, &format!("/api/trials/{id}/events")).await;
    assert_eq!(results.status, 403, "{}", results.body);
    let dashboard = page(&app, &pharm_session, &format!("/trials/{id}/dashboard")).await;
    assert_eq!(dashboard.status, 403);

    // Regulators and admins while the trial runs: the events feed.
    let mut auditors = Vec::new();
    for (name, role) in [("reg", Role::Regulator), ("admin", Role::Admin)] {
        let token = world.token(name, role);
        let feed = api_get(&app, &token, &format!("/api/trials/{id}/events")).await;
        assert_eq!(feed.status, 200, "{}", feed.body);
        auditors.push((name.to_owned(), feed.json()));
    }
    let statistician = api_get(&app, &stat, &format!("/api/trials/{id}"))
        .await
        .body;
    Seen {
        coordinator,
        pharmacist,
        auditors,
        statistician,
    }
}

/// The records of a feed that are not sealed, without their place in the chain, and how many
/// are sealed.
fn open_records(feed: &Value) -> (Vec<Value>, usize) {
    let mut open = Vec::new();
    let mut sealed = 0;
    for record in feed.as_array().expect("records") {
        if record["sealed"].as_bool() == Some(true) {
            assert_eq!(record["kind"], "sealed", "{record}");
            assert!(
                !record["payload"].as_str().unwrap_or("{").contains('{'),
                "{record}"
            );
            sealed += 1;
        } else {
            // The values the coordinator typed are the one thing allowed to differ.
            let mut payload: Value =
                serde_json::from_str(record["payload"].as_str().unwrap_or("null"))
                    .unwrap_or(Value::Null);
            if let Some(value) = payload.get_mut("value") {
                *value = json!("typed");
            }
            open.push(json!({
                "kind": record["kind"],
                "payload": payload,
                "actor": record["actor"],
                "role": record["role"],
            }));
        }
    }
    (open, sealed)
}

#[actix_web::test]
async fn a_coordinator_cannot_tell_whether_a_look_dropped_an_arm_or_changed_the_control() {
    let decisive = world(true).await;
    let quiet = world(false).await;

    // The worlds differ: the statistician sees the control change in one only.
    assert_ne!(decisive.statistician, quiet.statistician);
    assert!(
        decisive.statistician.contains("\"control\":true")
            && !decisive
                .statistician
                .contains("{\"id\":\"soc\",\"name\":\"soc\",\"status\":\"open\""),
        "{}",
        decisive.statistician
    );

    assert_eq!(decisive.coordinator.len(), quiet.coordinator.len());
    for ((what, a), (_, b)) in decisive.coordinator.iter().zip(&quiet.coordinator) {
        assert_eq!(a, b, "the coordinator's {what} differs between the worlds");
        for leak in [
            "arm_dropped",
            "control_changed",
            "(control)",
            "closed",
            "soc closed",
        ] {
            assert!(!a.contains(leak), "{what} shows {leak:?}: {a}");
        }
    }
    for ((what, a), (_, b)) in decisive.pharmacist.iter().zip(&quiet.pharmacist) {
        // The pharmacist sees arms (so the pages differ once allocation does), never results.
        for leak in [
            "arm_dropped",
            "control_changed",
            "(control)",
            "posterior",
            "P(best)",
        ] {
            assert!(
                !a.contains(leak) && !b.contains(leak),
                "{what} shows {leak:?}"
            );
        }
    }

    // Regulators and admins: every record is the same in both worlds or sealed the same way.
    for ((who, a), (_, b)) in decisive.auditors.iter().zip(&quiet.auditors) {
        let (open_a, sealed_a) = open_records(a);
        let (open_b, sealed_b) = open_records(b);
        assert_eq!(
            open_a
                .iter()
                .map(|r| masked(&r.to_string()))
                .collect::<Vec<_>>(),
            open_b
                .iter()
                .map(|r| masked(&r.to_string()))
                .collect::<Vec<_>>(),
            "{who}'s open records differ"
        );
        assert!(sealed_a > 0 && sealed_b > 0, "{who}: {sealed_a} {sealed_b}");
        for record in open_a.iter().chain(&open_b) {
            let kind = record["kind"].as_str().unwrap_or_default();
            assert!(
                [
                    "trial_started",
                    "arm_opened",
                    "participant_enrolled",
                    "outcome_recorded"
                ]
                .contains(&kind),
                "{who} sees a {kind} record while the trial runs"
            );
        }
    }
}

#[actix_web::test]
async fn decisions_are_recorded_by_the_system_after_the_input_that_made_them_due() {
    let world = World::new(11);
    let id = world.started(&platform("BLIND-2"));
    let stat = World::actor("stat", Role::Statistician);
    let coord = World::actor("coord", Role::Coordinator);
    for i in 1..=12 {
        world
            .service
            .enrol(&coord, &id, &format!("S-{i:03}"), None)
            .expect("enrolled");
    }
    let arms: Vec<(String, String)> = world
        .service
        .participants(&stat, &id)
        .expect("participants")
        .into_iter()
        .map(|p| (p.subject_id, p.arm.unwrap_or_default()))
        .collect();
    for (subject, arm) in &arms {
        let value = bayestrial::engine::OutcomeValue::Binary {
            response: arm != "soc",
        };
        world
            .service
            .record_outcome(&coord, &id, subject, value, None)
            .expect("outcome");
    }
    let events = world.service.trial_events(&stat, &id, 0).expect("events");
    let last_outcome = events
        .iter()
        .filter(|e| e.kind == "outcome_recorded")
        .map(|e| e.seq)
        .max()
        .expect("outcomes");
    let mut decisions = 0;
    for e in &events {
        match e.kind.as_str() {
            "look_performed" | "arm_dropped" | "control_changed" | "allocation_updated" => {
                assert_eq!(e.actor, "system", "{e:?}");
                assert_eq!(e.role, "system", "{e:?}");
                if e.seq > last_outcome {
                    assert_eq!(
                        e.reason.as_deref(),
                        Some(format!("due after record {last_outcome}").as_str()),
                        "{e:?}"
                    );
                    decisions += 1;
                }
            }
            "outcome_recorded" | "participant_enrolled" | "randomised" => {
                assert_eq!(e.actor, "coord", "{e:?}");
            }
            _ => {}
        }
    }
    assert!(decisions >= 3, "look, control change and drop: {events:?}");
    assert!(events.iter().any(|e| e.kind == "control_changed"));
    assert!(events.iter().any(|e| e.kind == "arm_dropped"));
}

#[actix_web::test]
async fn emergency_unblinding_reveals_one_participant_to_the_site_and_is_recorded() {
    let world = World::new(5);
    let id = world.started(&platform("BLIND-3"));
    let app = world.app().await;
    let coord = world.token("coord", Role::Coordinator);
    for subject in ["U-1", "U-2"] {
        let answer = api_post(
            &app,
            &coord,
            &format!("/api/trials/{id}/participants"),
            json!({ "subject_id": subject, "idempotency_key": subject }),
        )
        .await;
        assert_eq!(answer.status, 201, "{}", answer.body);
    }
    let path = format!("/api/trials/{id}/participants/U-1/unblind");
    let no_reason = api_post(
        &app,
        &coord,
        &path,
        json!({ "reason": " ", "password": PASSWORD }),
    )
    .await;
    assert_eq!(no_reason.status, 422, "{}", no_reason.body);
    let wrong = api_post(
        &app,
        &coord,
        &path,
        json!({ "reason": "anaphylaxis", "password": "not the password" }),
    )
    .await;
    assert_eq!(wrong.status, 401, "{}", wrong.body);
    let stat = world.token("stat", Role::Statistician);
    let dmc_forbidden = api_post(
        &app,
        &stat,
        &path,
        json!({ "reason": "anaphylaxis", "password": PASSWORD }),
    )
    .await;
    assert_eq!(dmc_forbidden.status, 403, "{}", dmc_forbidden.body);

    let answer = api_post(
        &app,
        &coord,
        &path,
        json!({ "reason": "anaphylaxis in the emergency room", "password": PASSWORD }),
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let answer = answer.json();
    let truth: Vec<Value> = api_get(&app, &stat, &format!("/api/trials/{id}/participants"))
        .await
        .json()
        .as_array()
        .expect("participants")
        .clone();
    assert_eq!(answer["subject_id"], "U-1");
    assert_eq!(answer["arm"], truth[0]["arm"], "{answer}");
    assert_eq!(answer.as_object().map(|o| o.len()), Some(2), "{answer}");

    // Nothing else is revealed: the site's views still show kit codes only.
    let listed = api_get(&app, &coord, &format!("/api/trials/{id}/participants")).await;
    assert!(!listed.body.contains("\"arm\""), "{}", listed.body);

    // On the trial's chain: who, when, why; no arm in the record.
    let events = api_get(&app, &stat, &format!("/api/trials/{id}/events"))
        .await
        .json();
    let reveal = events
        .as_array()
        .expect("records")
        .iter()
        .find(|e| e["kind"] == "assignment_revealed")
        .expect("the code break is recorded");
    assert_eq!(reveal["actor"], "coord");
    assert_eq!(reveal["role"], "coordinator");
    assert_eq!(reveal["reason"], "anaphylaxis in the emergency room");
    assert!(reveal["recorded_at"]
        .as_str()
        .is_some_and(|t| t.ends_with('Z')));
    let payload = reveal["payload"].as_str().unwrap_or_default();
    for arm in ["\"soc\"", "\"a\"", "\"b\""] {
        assert!(!payload.contains(arm), "the record names no arm: {payload}");
    }

    // The failed attempts are on the system chain.
    let admin = World::actor("admin", Role::Admin);
    let system = world
        .service
        .audit_page(
            &admin,
            &bayestrial::store::AuditQuery {
                chain: Some("system".into()),
                limit: 500,
                ..Default::default()
            },
        )
        .expect("system chain");
    assert!(
        system
            .entries
            .iter()
            .any(|e| e.kind == "unblinding_failed" && e.actor == "coord"),
        "a refused code break without a reason is recorded"
    );
    assert!(
        system
            .entries
            .iter()
            .any(|e| e.kind == "signature_failed" && e.payload.contains("emergency unblinding")),
        "a wrong password is recorded"
    );

    // The statisticians and the DMC are told; the coordinators are not sent the arm.
    world.told_statisticians_and_dmc_only("emergency unblinding of U-1");

    // The page: a form on the participant page, the answer on its own page.
    let (session, csrf) = world.session("coord", Role::Coordinator);
    let participant = page(&app, &session, &format!("/trials/{id}/participants/U-2")).await;
    assert!(
        participant.body.contains("id=\"unblind\""),
        "{}",
        participant.body
    );
    let broken = form(
        &app,
        &session,
        &format!("/trials/{id}/participants/U-2/unblind"),
        &[
            ("csrf", &csrf),
            ("reason", "overdose"),
            ("password", PASSWORD),
        ],
    )
    .await;
    assert_eq!(broken.status, 200, "{}", broken.body);
    assert!(broken.body.contains("id=\"code-break\""), "{}", broken.body);
    assert!(
        broken.body.contains(&format!(
            "<strong>{}</strong>",
            truth[1]["arm"].as_str().unwrap_or("?")
        )),
        "{}",
        broken.body
    );
}

/// A blinded n-of-1 series: two treatments, 2 cycles of 2-day periods, one measurement a day.
fn nof1(id: &str) -> String {
    format!(
        r#"[trial]
id = "{id}"
title = "Blinded n-of-1"
design = "nof1"
max_participants = 4
blinded = true

[outcome]
kind = "continuous"
name = "Pain"
better = "lower"

[prior]
normal_inverse_gamma = {{ mu0 = 5.0, kappa0 = 0.1, alpha0 = 2.0, beta0 = 2.0 }}

[nof1]
treatments = ["placebo", "active"]
cycles = 2
period_days = 2
washout_days = 0
run_in_days = 0
measurements_per_period = 2
sequence = "pairs"
mcid = 1.0
stop_benefit = 0.999
stop_equivalence = 0.999
min_cycles = 2

[[scenario]]
name = "null"
truth = {{ placebo = 5.0, active = 5.0 }}
sd = 1.0
accrual_per_week = 1
"#
    )
}

#[actix_web::test]
async fn a_blinded_nof1_patient_sees_no_treatment_until_their_trial_ends() {
    let world = World::new(3);
    let id = world.started(&nof1("NOF1-BLIND"));
    let app = world.app().await;
    let coord = world.token("coord", Role::Coordinator);
    let stat = world.token("stat", Role::Statistician);
    let enrolled = api_post(
        &app,
        &coord,
        &format!("/api/trials/{id}/participants"),
        json!({ "subject_id": "P-1", "idempotency_key": "p1", "start_date": "2026-01-05" }),
    )
    .await;
    assert_eq!(enrolled.status, 201, "{}", enrolled.body);
    assert!(enrolled.json().get("arm").is_none(), "{}", enrolled.body);
    let report_path = format!("/api/trials/{id}/participants/P-1/report");
    let (session, _) = world.session("coord", Role::Coordinator);
    let calendar_path = format!("/trials/{id}/participants/P-1");
    let report_page_path = format!("/trials/{id}/participants/P-1/report");
    let check_concealed = |what: &str, body: &str| {
        for name in ["placebo", "active"] {
            // The protocol's treatment list is public; a period's or effect's treatment is not.
            let periods = body.split("\"periods\"").nth(1).unwrap_or(body);
            assert!(
                !periods.contains(&format!("\"treatment\":\"{name}\"")),
                "{what} names {name}: {body}"
            );
        }
    };
    // Cycle 1 and the first day of cycle 2: the patient's trial runs.
    for day in 1..=5 {
        let value = if day % 2 == 0 { 3.0 } else { 6.0 };
        let receipt = api_post(
            &app,
            &coord,
            &format!("/api/trials/{id}/participants/P-1/measurements"),
            json!({ "day": day, "value": value }),
        )
        .await;
        assert_eq!(receipt.status, 201, "{}", receipt.body);
    }
    let during = api_get(&app, &coord, &report_path).await;
    assert_eq!(during.status, 200, "{}", during.body);
    let report = during.json();
    assert_eq!(report["blinded"], true, "{report}");
    assert!(
        report["effects"].as_array().is_some_and(|e| e.is_empty()),
        "{report}"
    );
    assert!(
        report["sentence"].is_null() && report["end"].is_null(),
        "{report}"
    );
    assert!(
        report["periods"]
            .as_array()
            .expect("periods")
            .iter()
            .all(|p| p["treatment"].is_null()
                && p["kit"].as_str().is_some_and(|k| k.starts_with("KIT-"))),
        "{report}"
    );
    check_concealed("the report during the trial", &during.body);
    let calendar = page(&app, &session, &calendar_path).await;
    assert!(calendar.body.contains("kit KIT-"), "{}", calendar.body);
    for path in [&calendar_path, &report_page_path] {
        let html = page(&app, &session, path).await;
        assert_eq!(html.status, 200, "{path}: {}", html.body);
        for shown in [
            "% probability that",
            "active − placebo",
            "<strong>placebo</strong></td>",
            "<strong>active</strong></td>",
            "placebo (kit",
            "active (kit",
        ] {
            assert!(!html.body.contains(shown), "{path} shows {shown:?}");
        }
    }
    // The statistician sees the treatments all along.
    let unblinded = api_get(&app, &stat, &report_path).await.json();
    assert_eq!(unblinded["blinded"], false);
    assert!(
        unblinded["periods"][0]["treatment"].is_string(),
        "{unblinded}"
    );
    let before = api_get(&app, &stat, &format!("/api/trials/{id}/events"))
        .await
        .json();
    assert!(
        !before
            .as_array()
            .expect("records")
            .iter()
            .any(|e| e["kind"] == "assignment_revealed"),
        "no reveal before the end"
    );

    // The last day: the patient's trial ends, and the engine reveals it to the site.
    let last = api_post(
        &app,
        &coord,
        &format!("/api/trials/{id}/participants/P-1/measurements"),
        json!({ "day": 6, "value": 3.0 }),
    )
    .await;
    assert_eq!(last.status, 201, "{}", last.body);
    for day in 7..=8 {
        let receipt = api_post(
            &app,
            &coord,
            &format!("/api/trials/{id}/participants/P-1/measurements"),
            json!({ "day": day, "value": 5.0 }),
        )
        .await;
        if receipt.status != 201 {
            break;
        }
    }
    let after = api_get(&app, &coord, &report_path).await.json();
    assert!(
        after["end"].is_object(),
        "the patient's trial ended: {after}"
    );
    assert_eq!(after["blinded"], false, "{after}");
    assert!(after["periods"][0]["treatment"].is_string(), "{after}");
    assert!(
        after["effects"].as_array().is_some_and(|e| !e.is_empty()),
        "{after}"
    );
    let events = api_get(&app, &stat, &format!("/api/trials/{id}/events"))
        .await
        .json();
    let reveal = events
        .as_array()
        .expect("records")
        .iter()
        .find(|e| e["kind"] == "assignment_revealed")
        .expect("the reveal is on the chain");
    assert_eq!(reveal["actor"], "system", "{reveal}");
    assert!(reveal["payload"]
        .as_str()
        .is_some_and(|p| p.contains("patient_finished")));
}
