//! The coordinator's pages over the real web app on a seeded service: forms that come back
//! with their error and the values typed, the binary outcome's empty and required choice in
//! the outcome's own words, the correction form starting from the current value, n-of-1 dates
//! checked against the service's clock, the work list, the paged and searchable participant
//! list, and a paused trial's reason instead of an enrol form.

#![expect(clippy::expect_used, reason = "tests fail loudly")]

mod common;

use bayestrial::service::Role;
use common::{form, page, World};

/// A running binary platform trial with labels for its outcome, 1:1 blocks and a scenario
/// assuming the outcome three weeks after randomisation.
fn binary(id: &str) -> String {
    format!(
        r#"[trial]
id = "{id}"
title = "Coordinator test"
design = "platform"
max_participants = 200

[outcome]
kind = "binary"
name = "Alive without organ support at day 21"
labels = {{ response = "Alive and free of organ support", no_response = "Died or on organ support" }}

[[arm]]
id = "control"
name = "Standard care"
control = true

[[arm]]
id = "active"
name = "Active drug"

[allocation]
burn_in = 200

[analysis]
looks = [200]

[[scenario]]
name = "null"
truth = {{ control = 0.5, active = 0.5 }}
accrual_per_week = 10
outcome_delay_weeks = 3
"#
    )
}

/// A continuous platform trial without a declared outcome delay.
fn continuous(id: &str) -> String {
    format!(
        r#"[trial]
id = "{id}"
title = "Continuous"
design = "platform"
max_participants = 20

[outcome]
kind = "continuous"
name = "Blood pressure"
better = "lower"

[prior]
normal_inverse_gamma = {{ mu0 = 120.0, kappa0 = 0.1, alpha0 = 2.0, beta0 = 50.0 }}

[[arm]]
id = "a"
name = "A"

[[arm]]
id = "b"
name = "B"

[analysis]
looks = [20]
"#
    )
}

/// An n-of-1 trial.
fn nof1(id: &str) -> String {
    format!(
        r#"[trial]
id = "{id}"
title = "n-of-1"
design = "nof1"
max_participants = 4

[outcome]
kind = "continuous"
name = "Pain"
better = "lower"

[prior]
normal_inverse_gamma = {{ mu0 = 5.0, kappa0 = 0.1, alpha0 = 2.0, beta0 = 2.0 }}

[nof1]
treatments = ["placebo", "active"]
cycles = 2
period_days = 7
washout_days = 0
run_in_days = 0
measurements_per_period = 2
sequence = "pairs"
mcid = 1.0

[[scenario]]
name = "null"
truth = {{ placebo = 5.0, active = 5.0 }}
sd = 1.0
accrual_per_week = 1
"#
    )
}

/// Enrols `subject` through the enrol form.
async fn enrol<B: actix_web::body::MessageBody>(
    app: &impl common::TestApp<B>,
    session: &(String, String),
    trial: &str,
    subject: &str,
) -> common::Reply {
    form(
        app,
        &session.0,
        &format!("/trials/{trial}/participants"),
        &[
            ("csrf", &session.1),
            ("subject_id", subject),
            ("eligible", "yes"),
        ],
    )
    .await
}

/// The `<select>` element with this id, as text.
fn select<'a>(body: &'a str, id: &str) -> &'a str {
    let start = body
        .find(&format!("<select id=\"{id}\""))
        .unwrap_or_else(|| panic!("no select {id}: {body}"));
    let end = body[start..].find("</select>").expect("select ends") + start;
    &body[start..end]
}

#[actix_web::test]
async fn the_binary_outcome_is_chosen_in_its_own_words_and_corrected_from_its_current_value() {
    let world = World::new(1);
    let id = world.started(&binary("COORD-BIN"));
    let app = world.app().await;
    let coord = world.session("coord", Role::Coordinator);
    let enrolled = enrol(&app, &coord, &id, "B-001").await;
    assert_eq!(enrolled.status, 200, "{}", enrolled.body);
    assert!(enrolled.body.contains("id=\"notice\""), "{}", enrolled.body);
    assert!(
        enrolled.body.contains("B-001 is enrolled"),
        "{}",
        enrolled.body
    );

    let path = format!("/trials/{id}/participants/B-001");
    let fresh = page(&app, &coord.0, &path).await;
    assert_eq!(fresh.status, 200, "{}", fresh.body);
    let choice = select(&fresh.body, "outcome-value");
    assert!(choice.contains(" required"), "{choice}");
    assert!(
        !choice.contains("selected"),
        "nothing is chosen for the user: {choice}"
    );
    assert!(
        choice.contains(">Alive and free of organ support</option>"),
        "{choice}"
    );
    assert!(
        choice.contains(">Died or on organ support</option>"),
        "{choice}"
    );
    assert!(
        fresh.body.contains(&format!("href=\"/trials/{id}\"")),
        "a link back to the trial"
    );

    // Recorded, then confirmed after the redirect.
    let outcome = format!("{path}/outcome");
    let recorded = form(
        &app,
        &coord.0,
        &outcome,
        &[("csrf", &coord.1), ("value", "0")],
    )
    .await;
    assert_eq!(recorded.status, 303, "{}", recorded.body);

    // The correction form starts from the current value and needs a reason.
    let now = page(&app, &coord.0, &path).await;
    let choice = select(&now.body, "outcome-value");
    assert!(choice.contains("<option value=\"0\" selected>"), "{choice}");
    assert!(
        !choice.contains("<option value=\"1\" selected>"),
        "{choice}"
    );
    assert!(now
        .body
        .contains("Current value: <strong>Died or on organ support</strong>"));
    let refused = form(
        &app,
        &coord.0,
        &outcome,
        &[("csrf", &coord.1), ("value", "1")],
    )
    .await;
    assert_eq!(refused.status, 422, "{}", refused.body);
    assert!(
        refused.body.contains("id=\"outcome-reason-error\""),
        "{}",
        refused.body
    );
    assert!(
        refused.body.contains("a correction needs a reason"),
        "{}",
        refused.body
    );
    // The value typed is kept (not the stored one).
    let kept = select(&refused.body, "outcome-value");
    assert!(kept.contains("<option value=\"1\" selected>"), "{kept}");
    assert!(
        refused.body.contains("<nav aria-label=\"Main\">"),
        "the full layout"
    );

    // The list shows the outcome in its own words.
    let list = page(&app, &coord.0, &format!("/trials/{id}/participants")).await;
    assert!(
        list.body.contains("Died or on organ support"),
        "{}",
        list.body
    );
}

#[actix_web::test]
async fn a_failed_enrolment_comes_back_with_the_form_and_the_values() {
    let world = World::new(2);
    let id = world.started(&binary("COORD-ENROL"));
    let app = world.app().await;
    let coord = world.session("coord", Role::Coordinator);
    assert_eq!(enrol(&app, &coord, &id, "DUP-1").await.status, 200);
    let again = enrol(&app, &coord, &id, "DUP-1").await;
    assert!(again.status.is_client_error(), "{}", again.status);
    assert!(again.body.contains("<form id=\"enrol\""), "{}", again.body);
    assert!(again.body.contains("value=\"DUP-1\""), "{}", again.body);
    assert!(again.body.contains("id=\"form-error\""), "{}", again.body);

    // Eligibility not confirmed: the message next to the box, the subject kept.
    let unconfirmed = form(
        &app,
        &coord.0,
        &format!("/trials/{id}/participants"),
        &[("csrf", &coord.1), ("subject_id", "NEW-7")],
    )
    .await;
    assert_eq!(unconfirmed.status, 422, "{}", unconfirmed.body);
    assert!(unconfirmed.body.contains("id=\"eligible-error\""));
    assert!(unconfirmed.body.contains("value=\"NEW-7\""));
}

#[actix_web::test]
async fn a_paused_trial_shows_why_and_offers_no_enrolment() {
    let world = World::new(3);
    let id = world.started(&binary("COORD-PAUSE"));
    let app = world.app().await;
    let coord = world.session("coord", Role::Coordinator);
    let stat = world.session("stat", Role::Statistician);
    // The coordinator opened the enrol form before the pause.
    let before = page(&app, &coord.0, &format!("/trials/{id}/enrol")).await;
    assert!(before.body.contains("<form id=\"enrol\""));
    let paused = form(
        &app,
        &stat.0,
        &format!("/trials/{id}/pause"),
        &[
            ("csrf", &stat.1),
            ("reason", "DSMB safety review of liver enzymes"),
        ],
    )
    .await;
    assert!(paused.status.is_redirection(), "{}", paused.body);

    let late = enrol(&app, &coord, &id, "LATE-1").await;
    assert_eq!(late.status, 409, "{}", late.body);
    assert!(late.body.contains("<form id=\"enrol\""), "{}", late.body);
    assert!(late.body.contains("value=\"LATE-1\""), "{}", late.body);
    assert!(late.body.contains("DSMB safety review of liver enzymes"));
    assert!(!late.body.contains("resume it"), "{}", late.body);

    for path in [
        format!("/trials/{id}"),
        format!("/trials/{id}/enrol"),
        format!("/trials/{id}/participants"),
    ] {
        let shown = page(&app, &coord.0, &path).await;
        assert_eq!(shown.status, 200, "{path}: {}", shown.body);
        assert!(
            shown.body.contains("id=\"no-enrolment\""),
            "{path}: {}",
            shown.body
        );
        assert!(
            shown.body.contains("DSMB safety review of liver enzymes"),
            "{path}"
        );
        assert!(
            shown.body.contains("A statistician can resume enrolment"),
            "{path}"
        );
        assert!(!shown.body.contains("<form id=\"enrol\""), "{path}");
        assert!(!shown.body.contains("id=\"enrol-link\""), "{path}");
    }
    // Everyone sees the reason on the trial page.
    let dmc = world.session("dmc", Role::Dmc);
    let trial = page(&app, &dmc.0, &format!("/trials/{id}")).await;
    assert!(trial.body.contains("DSMB safety review of liver enzymes"));
}

#[actix_web::test]
async fn a_number_with_a_comma_is_refused_next_to_its_field_and_kept() {
    let world = World::new(4);
    let id = world.started(&continuous("COORD-CONT"));
    let app = world.app().await;
    let coord = world.session("coord", Role::Coordinator);
    assert_eq!(enrol(&app, &coord, &id, "C-1").await.status, 200);
    let refused = form(
        &app,
        &coord.0,
        &format!("/trials/{id}/participants/C-1/outcome"),
        &[("csrf", &coord.1), ("value", "12,5")],
    )
    .await;
    assert_eq!(refused.status, 422, "{}", refused.body);
    assert!(
        refused.body.contains("id=\"outcome-value-error\""),
        "{}",
        refused.body
    );
    assert!(refused.body.contains("value=\"12,5\""), "{}", refused.body);
    assert!(refused.body.contains("aria-invalid=\"true\""));

    // No delay declared: the work list says so and counts the days.
    let work = page(&app, &coord.0, &format!("/trials/{id}/work")).await;
    assert_eq!(work.status, 200, "{}", work.body);
    assert!(work.body.contains("declares no delay"), "{}", work.body);
    assert!(work.body.contains("C-1"), "{}", work.body);
}

#[actix_web::test]
async fn the_work_list_counts_days_against_the_expected_delay() {
    let world = World::new(5);
    let id = world.started(&binary("COORD-WORK"));
    let app = world.app().await;
    let coord = world.session("coord", Role::Coordinator);
    assert_eq!(enrol(&app, &coord, &id, "W-1").await.status, 200);
    let trial = page(&app, &coord.0, &format!("/trials/{id}")).await;
    assert!(trial.body.contains(&format!("href=\"/trials/{id}/work\"")));
    let list = page(&app, &coord.0, &format!("/trials/{id}/participants")).await;
    assert!(list.body.contains(&format!("href=\"/trials/{id}/work\"")));
    let work = page(&app, &coord.0, &format!("/trials/{id}/work")).await;
    assert_eq!(work.status, 200, "{}", work.body);
    assert!(
        work.body.contains("about 21 days after randomisation"),
        "{}",
        work.body
    );
    assert!(work.body.contains("id=\"outcomes-due\""), "{}", work.body);
    assert!(work.body.contains("in 21 days"), "{}", work.body);
    // Not for roles that do not enrol.
    let reg = world.session("reg", Role::Regulator);
    assert_eq!(
        page(&app, &reg.0, &format!("/trials/{id}/work"))
            .await
            .status,
        403
    );
}

#[actix_web::test]
async fn participant_lists_are_paged_searched_filtered_and_bounded() {
    let world = World::new(6);
    let id = world.started(&binary("COORD-LIST"));
    let app = world.app().await;
    let coord = world.session("coord", Role::Coordinator);
    for k in 1..=60 {
        let enrolled = enrol(&app, &coord, &id, &format!("S-{k:03}")).await;
        assert_eq!(enrolled.status, 200, "{}", enrolled.body);
    }
    let outcome = format!("/trials/{id}/participants/S-007/outcome");
    let recorded = form(
        &app,
        &coord.0,
        &outcome,
        &[("csrf", &coord.1), ("value", "1")],
    )
    .await;
    assert_eq!(recorded.status, 303);

    let list = format!("/trials/{id}/participants");
    let first = page(&app, &coord.0, &list).await;
    assert!(
        first.body.contains("Participants 1–50 of 60"),
        "{}",
        first.body
    );
    assert_eq!(first.body.matches("<tr><td class=\"n\">").count(), 50);
    assert!(first.body.contains("page=2"), "{}", first.body);
    let second = page(&app, &coord.0, &format!("{list}?page=2")).await;
    assert!(
        second.body.contains("Participants 51–60 of 60"),
        "{}",
        second.body
    );
    // A page far past the last shows the last.
    let huge = page(&app, &coord.0, &format!("{list}?page=1000000000000")).await;
    assert_eq!(huge.status, 200, "{}", huge.body);
    assert!(
        huge.body.contains("Participants 51–60 of 60"),
        "{}",
        huge.body
    );
    let longer = page(&app, &coord.0, &format!("{list}?page={}", "9".repeat(500))).await;
    assert_eq!(longer.status, 200);
    // Search and filter.
    let found = page(&app, &coord.0, &format!("{list}?q=s-00")).await;
    assert!(
        found
            .body
            .contains("Participants 1–9 of 9 matching (60 enrolled)"),
        "{}",
        found.body
    );
    let done = page(&app, &coord.0, &format!("{list}?outcome=recorded")).await;
    assert!(
        done.body.contains("Participant 1 of 1 matching"),
        "{}",
        done.body
    );
    assert!(done.body.contains(">S-007</a>"));
    let awaited = page(&app, &coord.0, &format!("{list}?outcome=awaited&page=2")).await;
    assert!(
        awaited.body.contains("Participants 51–59 of 59 matching"),
        "{}",
        awaited.body
    );
    // Hostile input: a clear 422 naming the field, the typed value kept.
    let long = page(&app, &coord.0, &format!("{list}?q={}", "x".repeat(10_000))).await;
    assert_eq!(long.status, 422, "{}", long.status);
    assert!(long.body.contains("id=\"q-error\""));
    for bad in ["page=abc", "page=-1", "outcome=maybe"] {
        let answer = page(&app, &coord.0, &format!("{list}?{bad}")).await;
        assert_eq!(answer.status, 422, "{bad}: {}", answer.body);
        assert!(answer.body.contains("class=\"field-error\""), "{bad}");
    }
    // A coordinator of this blinded-or-not trial may filter by arm only where arms are shown.
    let stat = world.session("stat", Role::Statistician);
    let by_arm = page(&app, &stat.0, &format!("{list}?arm=active")).await;
    assert_eq!(by_arm.status, 200, "{}", by_arm.body);
    assert!(
        by_arm.body.contains("matching (60 enrolled)"),
        "{}",
        by_arm.body
    );
    let unknown = page(&app, &stat.0, &format!("{list}?arm=nothing")).await;
    assert_eq!(unknown.status, 422);
}

#[actix_web::test]
async fn n_of_1_dates_in_the_future_are_refused_and_back_dated_starts_marked() {
    let world = World::new(7);
    let id = world.started(&nof1("COORD-NOF1"));
    let app = world.app().await;
    let coord = world.session("coord", Role::Coordinator);
    // The service's clock reads 2026-05-28.
    let enrol_at = |subject: &'static str, start: &'static str| {
        let (app, coord, id) = (&app, &coord, &id);
        async move {
            form(
                app,
                &coord.0,
                &format!("/trials/{id}/participants"),
                &[
                    ("csrf", &coord.1),
                    ("subject_id", subject),
                    ("eligible", "yes"),
                    ("start_date", start),
                ],
            )
            .await
        }
    };
    let future = enrol_at("F-1", "2026-07-01").await;
    assert_eq!(future.status, 422, "{}", future.body);
    assert!(
        future.body.contains("id=\"start-date-error\""),
        "{}",
        future.body
    );
    assert!(future.body.contains("value=\"2026-07-01\""));
    assert!(future.body.contains("value=\"F-1\""));

    let started = enrol_at("F-1", "2026-05-20").await;
    assert_eq!(started.status, 303, "{}", started.body);
    let patient = format!("/trials/{id}/participants/F-1");
    let shown = page(&app, &coord.0, &patient).await;
    assert!(
        !shown.body.contains("id=\"backdated\""),
        "8 days back is not marked"
    );

    let measure = format!("{patient}/measurements");
    for (fields, field) in [
        (vec![("date", "2026-06-02"), ("value", "5")], "m-date-error"),
        (vec![("day", "12"), ("value", "5")], "m-day-error"),
    ] {
        let mut all = vec![("csrf", coord.1.as_str())];
        all.extend(fields);
        let refused = form(&app, &coord.0, &measure, &all).await;
        assert_eq!(refused.status, 422, "{}", refused.body);
        assert!(
            refused.body.contains(&format!("id=\"{field}\"")),
            "{}",
            refused.body
        );
        assert!(
            refused.body.contains("is in the future"),
            "{}",
            refused.body
        );
        assert!(refused.body.contains("value=\"5\""), "{}", refused.body);
    }
    let today = form(
        &app,
        &coord.0,
        &measure,
        &[("csrf", &coord.1), ("day", "2"), ("value", "5")],
    )
    .await;
    assert_eq!(today.status, 303, "{}", today.body);

    let back = enrol_at("B-1", "2026-04-01").await;
    assert_eq!(back.status, 303, "{}", back.body);
    let shown = page(&app, &coord.0, &format!("/trials/{id}/participants/B-1")).await;
    assert!(shown.body.contains("id=\"backdated\""), "{}", shown.body);
    // Its missed days are on the work list.
    let work = page(&app, &coord.0, &format!("/trials/{id}/work")).await;
    assert!(
        work.body.contains("id=\"measurements-due\""),
        "{}",
        work.body
    );
    assert!(work.body.contains(">B-1</a>"), "{}", work.body);
}

#[actix_web::test]
async fn a_refused_code_break_comes_back_open_with_the_reason_kept() {
    let world = World::new(8);
    let protocol = binary("COORD-BLIND").replace(
        "max_participants = 200\n",
        "max_participants = 200\nblinded = true\n",
    );
    let id = world.started(&protocol);
    let app = world.app().await;
    let coord = world.session("coord", Role::Coordinator);
    assert_eq!(enrol(&app, &coord, &id, "K-1").await.status, 200);
    let refused = form(
        &app,
        &coord.0,
        &format!("/trials/{id}/participants/K-1/unblind"),
        &[
            ("csrf", &coord.1),
            ("reason", "anaphylaxis in the emergency department"),
            ("password", "not the password at all"),
        ],
    )
    .await;
    assert!(refused.status.is_client_error(), "{}", refused.status);
    assert!(
        refused
            .body
            .contains("id=\"unblind-zone\" class=\"danger-zone\" open"),
        "{}",
        refused.body
    );
    assert!(
        refused.body.contains("id=\"unblind-error\""),
        "{}",
        refused.body
    );
    assert!(refused
        .body
        .contains("value=\"anaphylaxis in the emergency department\""));
    assert!(
        !refused.body.contains("not the password at all"),
        "never sent back"
    );
    assert!(!refused.body.contains("Treatments of") && !refused.body.contains("was randomised to"));
}
