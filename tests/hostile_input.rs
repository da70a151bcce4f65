//! Hostile input through the real web app: identifiers that would break links or name two
//! participants as one, paths holding control characters, protocols that would exhaust the
//! server. Each answer is a 4xx naming the field and the bound, and nothing is written.

#![expect(clippy::expect_used, reason = "tests fail loudly")]

mod common;

use actix_web::http::StatusCode;
use bayestrial::service::Role;
use common::{api_get, api_post, platform_protocol as protocol, World};
use serde_json::json;

/// The ids of every trial: what "no trial was created" is checked against.
fn trial_ids(world: &World) -> Vec<String> {
    let stat = World::actor("stat", Role::Statistician);
    world
        .service
        .trials(&stat)
        .expect("trials")
        .into_iter()
        .map(|t| t.id)
        .collect()
}

#[actix_web::test]
async fn a_trial_id_with_control_characters_in_the_path_answers_4xx_never_500() {
    let world = World::new(21);
    let trial = world.started(&protocol("SAFE-1"));
    let app = world.app().await;
    let stat = world.token("stat", Role::Statistician);
    let coord = world.token("coord", Role::Coordinator);
    for bad in [
        "%01x",
        "a%0Ab",
        "%7F",
        "a%00b",
        "%E2%80%AE",
        &"x".repeat(300),
    ] {
        for (token, method, path) in [
            (&stat, "GET", format!("/api/trials/{bad}/events")),
            (&stat, "GET", format!("/api/trials/{bad}/participants")),
            (&stat, "POST", format!("/api/trials/{bad}/start")),
            (&coord, "POST", format!("/api/trials/{bad}/participants")),
        ] {
            let reply = if method == "GET" {
                api_get(&app, token, &path).await
            } else {
                api_post(
                    &app,
                    token,
                    &path,
                    json!({ "subject_id": "S1", "idempotency_key": "k1" }),
                )
                .await
            };
            assert!(
                reply.status == StatusCode::NOT_FOUND || reply.status == StatusCode::BAD_REQUEST,
                "{method} {path}: {} {}",
                reply.status,
                reply.body
            );
            assert!(
                reply.json()["detail"]
                    .as_str()
                    .is_some_and(|d| !d.is_empty()),
                "{method} {path}: {}",
                reply.body
            );
        }
    }
    // Nothing was written: the one trial has no participant.
    let participants = api_get(&app, &stat, &format!("/api/trials/{trial}/participants")).await;
    assert_eq!(participants.status, StatusCode::OK, "{}", participants.body);
    assert_eq!(participants.json().as_array().map(Vec::len), Some(0));
}

#[actix_web::test]
async fn a_new_trial_id_outside_the_url_safe_set_is_refused_naming_the_field() {
    let world = World::new(22);
    let app = world.app().await;
    let stat = world.token("stat", Role::Statistician);
    for bad in ["a/b", "a?b", "a#b", "a b", "..", "é", &"x".repeat(65)] {
        let reply = api_post(
            &app,
            &stat,
            "/api/trials",
            json!({ "protocol": protocol(bad) }),
        )
        .await;
        assert_eq!(
            reply.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{bad:?}: {}",
            reply.body
        );
        let detail = reply.json()["detail"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        assert!(
            detail.contains("trial.id") && detail.contains("1 to 64"),
            "{bad:?}: {detail}"
        );
    }
    assert!(trial_ids(&world).is_empty(), "no trial was created");
    let ok = api_post(
        &app,
        &stat,
        "/api/trials",
        json!({ "protocol": protocol("PLAT-2026.01_b") }),
    )
    .await;
    assert_eq!(ok.status, StatusCode::CREATED, "{}", ok.body);
}

#[actix_web::test]
async fn protocols_that_would_exhaust_the_server_are_refused_quickly() {
    let world = World::new(23);
    let app = world.app().await;
    let stat = world.token("stat", Role::Statistician);
    let huge_looks = protocol("HUGE-1")
        .replace("max_participants = 500", "max_participants = 2147483647")
        .replace("first = 25, every = 25", "first = 1, every = 1");
    let mut many_arms = protocol("ARMS-65");
    for i in 3..65 {
        many_arms.push_str(&format!("\n[[arm]]\nid = \"arm{i}\"\n"));
    }
    let nof1 = r#"[trial]
id = "NOF1-CYCLES"
title = "Cycles"
design = "nof1"
max_participants = 2

[outcome]
kind = "binary"
name = "Good day"

[nof1]
treatments = ["a", "b"]
cycles = 200000
period_days = 2147483647
measurements_per_period = 7
"#;
    for (text, expected) in [
        (
            huge_looks.as_str(),
            "trial.max_participants: 2147483647 is too large (at most 1000000)",
        ),
        (many_arms.as_str(), "65 arms given; at most 64 are allowed"),
        (nof1, "nof1.cycles: 200000 is too large (at most 100)"),
        (
            nof1,
            "nof1.period_days: 2147483647 is too large (at most 365)",
        ),
    ] {
        let started = std::time::Instant::now();
        let reply = api_post(&app, &stat, "/api/trials", json!({ "protocol": text })).await;
        assert!(started.elapsed().as_secs_f64() < 1.0, "{expected}");
        assert_eq!(
            reply.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{}",
            reply.body
        );
        assert!(reply.body.contains(expected), "{expected}: {}", reply.body);
    }
    let oversized = json!({ "protocol": format!("# {}\n", "x".repeat(2 << 20)) });
    let reply = api_post(&app, &stat, "/api/trials", oversized).await;
    assert!(reply.status.is_client_error(), "{}", reply.status);
    assert!(trial_ids(&world).is_empty(), "no trial was created");
}

#[actix_web::test]
async fn subject_ids_are_normalised_and_invisible_characters_refused() {
    let world = World::new(24);
    let trial = world.started(&protocol("SUBJ-1"));
    let app = world.app().await;
    let coord = world.token("coord", Role::Coordinator);
    let enrol = |subject: &str, key: &str| json!({ "subject_id": subject, "idempotency_key": key });
    let path = format!("/api/trials/{trial}/participants");
    let first = api_post(&app, &coord, &path, enrol("S001", "k1")).await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);
    for (i, bad) in ["S\u{200b}001", "\u{202e}S001", "S\u{feff}001", "S\u{7}01"]
        .iter()
        .enumerate()
    {
        let reply = api_post(&app, &coord, &path, enrol(bad, &format!("bad{i}"))).await;
        assert_eq!(
            reply.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{bad:?}: {}",
            reply.body
        );
        assert!(reply.body.contains("subject_id"), "{}", reply.body);
    }
    // The same name typed with a combining accent is the same participant.
    let composed = api_post(&app, &coord, &path, enrol("Am\u{e9}lie", "k2")).await;
    assert_eq!(composed.status, StatusCode::CREATED, "{}", composed.body);
    let decomposed = api_post(&app, &coord, &path, enrol("Ame\u{301}lie", "k3")).await;
    assert!(
        decomposed.status.is_client_error(),
        "{}: {}",
        decomposed.status,
        decomposed.body
    );
    let stat = world.token("stat", Role::Statistician);
    let listed = api_get(&app, &stat, &path).await;
    assert_eq!(
        listed.json().as_array().map(Vec::len),
        Some(2),
        "{}",
        listed.body
    );
}

#[actix_web::test]
async fn links_percent_encode_every_path_segment() {
    let world = World::new(25);
    let trial = world.started(&protocol("LINKS-1"));
    let app = world.app().await;
    let coord = world.token("coord", Role::Coordinator);
    let path = format!("/api/trials/{trial}/participants");
    for (subject, key) in [("S/1?x#y", "k1"), ("S 2", "k2")] {
        let reply = api_post(
            &app,
            &coord,
            &path,
            json!({ "subject_id": subject, "idempotency_key": key }),
        )
        .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    }
    let (session, _) = world.session("coord", Role::Coordinator);
    let page = common::page(&app, &session, &format!("/trials/{trial}/participants")).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    for encoded in [
        "href=\"/trials/LINKS-1/participants/S%2F1%3Fx%23y\"",
        "href=\"/trials/LINKS-1/participants/S%202\"",
    ] {
        assert!(page.body.contains(encoded), "{encoded} in {}", page.body);
    }
}
