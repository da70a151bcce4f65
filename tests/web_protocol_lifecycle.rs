//! The statistician's protocol lifecycle through the pages: a draft saved again as a new
//! version with its diff, a duplicate trial id, four eyes on approval, the forms shown only
//! where their action is possible and shown again with the user's values after a mistake, a
//! pending amendment previewed as a diff, and a witness list saved unchanged.

#![expect(clippy::expect_used, reason = "tests fail loudly")]

mod common;

use actix_web::http::StatusCode;
use actix_web::test as actix_test;
use bayestrial::service::{Meaning, Role, ServiceError};
use common::{form, page, platform_protocol, TestApp, World, PASSWORD};

/// An answer with the header a redirect or a notice is read from.
struct Answer {
    status: StatusCode,
    location: Option<String>,
    cookies: String,
    body: String,
}

/// POSTs a multipart form (the protocol editor's) as a browser with a session.
async fn multipart<B: actix_web::body::MessageBody>(
    app: &impl TestApp<B>,
    session: &str,
    path: &str,
    fields: &[(&str, &str)],
) -> Answer {
    let boundary = "----lifecycleboundary";
    let mut body = String::new();
    for (name, value) in fields {
        body.push_str(&format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
        ));
    }
    body.push_str(&format!("--{boundary}--\r\n"));
    let request = actix_test::TestRequest::post()
        .uri(path)
        .cookie(actix_web::cookie::Cookie::new(
            bayestrial::web::auth::SESSION_COOKIE,
            session.to_owned(),
        ))
        .insert_header((
            "Content-Type",
            format!("multipart/form-data; boundary={boundary}"),
        ))
        .set_payload(body);
    answer(app, request).await
}

/// POSTs a urlencoded form and keeps the redirect's location and cookies.
async fn post<B: actix_web::body::MessageBody>(
    app: &impl TestApp<B>,
    session: &str,
    path: &str,
    fields: &[(&str, &str)],
) -> Answer {
    let request = actix_test::TestRequest::post()
        .uri(path)
        .cookie(actix_web::cookie::Cookie::new(
            bayestrial::web::auth::SESSION_COOKIE,
            session.to_owned(),
        ))
        .set_form(fields.to_vec());
    answer(app, request).await
}

async fn answer<B: actix_web::body::MessageBody>(
    app: &impl TestApp<B>,
    request: actix_test::TestRequest,
) -> Answer {
    let response = app.call(request.to_request()).await.expect("answer");
    let status = response.status();
    let header = |name: &str| {
        response
            .headers()
            .get_all(name)
            .filter_map(|v| v.to_str().ok())
            .collect::<Vec<_>>()
            .join("; ")
    };
    let location = Some(header("location")).filter(|l| !l.is_empty());
    let cookies = header("set-cookie");
    let bytes = actix_web::body::to_bytes(response.into_body())
        .await
        .unwrap_or_default();
    Answer {
        status,
        location,
        cookies,
        body: String::from_utf8_lossy(&bytes).into_owned(),
    }
}

/// The protocol of trial `id` with another title and maximum: version 2 of a draft.
fn revised(id: &str) -> String {
    platform_protocol(id)
        .replace("Export test trial", "Revised trial")
        .replace("max_participants = 500", "max_participants = 400")
}

fn system_records(world: &World) -> usize {
    world.service.verify(None).expect("verify").records
}

#[actix_web::test]
async fn a_draft_saved_again_is_version_2_with_the_diff_shown_and_starts_on_it() {
    let world = World::new(41);
    let app = world.app().await;
    let (stat, csrf) = world.session("stat", Role::Statistician);
    let author = World::actor("stat", Role::Statistician);
    world
        .service
        .create_trial(&author, &platform_protocol("DRAFT-1"), "test")
        .expect("created");

    let editor = page(&app, &stat, "/trials/DRAFT-1/edit").await;
    assert_eq!(editor.status, StatusCode::OK, "{}", editor.body);
    assert!(
        editor.body.contains("Export test trial"),
        "the draft's text"
    );
    assert!(editor.body.contains("id=\"save-submit\""));

    let text = revised("DRAFT-1");
    let saved = multipart(
        &app,
        &stat,
        "/trials/DRAFT-1/edit",
        &[("csrf", &csrf), ("action", "save"), ("protocol", &text)],
    )
    .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);
    assert_eq!(
        saved.location.as_deref(),
        Some("/trials/DRAFT-1/versions/2")
    );
    assert!(saved.cookies.contains("draft-saved"), "{}", saved.cookies);

    let version = page(&app, &stat, "/trials/DRAFT-1/versions/2").await;
    assert_eq!(version.status, StatusCode::OK, "{}", version.body);
    let body = &version.body;
    assert!(body.contains("Changes from version 1"), "{body}");
    assert!(body.contains("current draft"), "{body}");
    for line in [
        "max_participants = 500",
        "max_participants = 400",
        "Revised trial",
    ] {
        assert!(body.contains(line), "the diff shows {line:?}");
    }
    assert!(
        body.contains("class=\"d removed\"") && body.contains("class=\"d added\""),
        "removed and added lines are marked"
    );
    assert!(body.contains("2 lines added, 2 removed"), "{body}");

    let trial = page(&app, &stat, "/trials/DRAFT-1").await;
    assert!(trial.body.contains("Revised trial"), "the new title");
    assert!(trial.body.contains("earlier draft"), "version 1 stays");
    assert!(trial.body.contains("/trials/DRAFT-1/versions/1"));

    // The same text again saves nothing.
    let again = multipart(
        &app,
        &stat,
        "/trials/DRAFT-1/edit",
        &[("csrf", &csrf), ("action", "save"), ("protocol", &text)],
    )
    .await;
    assert_eq!(again.status, StatusCode::SEE_OTHER);
    assert_eq!(again.location.as_deref(), Some("/trials/DRAFT-1"));
    assert!(
        again.cookies.contains("nothing-changed"),
        "{}",
        again.cookies
    );
    assert_eq!(
        page(&app, &stat, "/trials/DRAFT-1/versions/3").await.status,
        StatusCode::NOT_FOUND
    );

    // A text with errors comes back with the errors by line, 422.
    let broken = text.replace("kind = \"binary\"", "kind = \"binaryy\"");
    let refused = multipart(
        &app,
        &stat,
        "/trials/DRAFT-1/edit",
        &[("csrf", &csrf), ("action", "save"), ("protocol", &broken)],
    )
    .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        refused.body.contains("line bad"),
        "the error line is marked"
    );
    assert!(
        refused.body.contains("href=\"#L"),
        "the error links to its line"
    );
    assert!(refused.body.contains("binaryy"), "the text is kept");

    // Approved by another statistician, the trial starts on version 2, and every stored row
    // is the one its chains derive.
    world
        .service
        .sign(
            &World::actor("stat2", Role::Statistician),
            "DRAFT-1",
            Meaning::Approval,
            PASSWORD,
        )
        .expect("approved");
    world.service.start(&author, "DRAFT-1").expect("started");
    let state = world.service.trial_state("DRAFT-1").expect("state");
    assert_eq!(state.max_participants, 400, "the engine runs version 2");
    let report = world
        .service
        .check_projections(Some("DRAFT-1"))
        .expect("projections");
    assert!(report.differences.is_empty(), "{:?}", report.differences);
    let replayed = world.service.replay(Some("DRAFT-1")).expect("replay");
    assert!(replayed.is_ok(), "{replayed:?}");
    let started = page(&app, &stat, "/trials/DRAFT-1/edit").await;
    assert_eq!(
        started.status,
        StatusCode::CONFLICT,
        "a started trial is amended"
    );
}

#[actix_web::test]
async fn a_duplicate_trial_id_is_a_form_error_linking_to_the_draft() {
    let world = World::new(42);
    let app = world.app().await;
    let (stat, csrf) = world.session("stat", Role::Statistician);
    let text = platform_protocol("DUP-1");
    world
        .service
        .create_trial(&World::actor("stat", Role::Statistician), &text, "test")
        .expect("created");
    let again = multipart(
        &app,
        &stat,
        "/trials",
        &[("csrf", &csrf), ("action", "create"), ("protocol", &text)],
    )
    .await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.body);
    assert!(again.body.contains("exists already"), "{}", again.body);
    assert!(
        again.body.contains("href=\"/trials/DUP-1/edit\""),
        "a link to edit the existing draft: {}",
        again.body
    );
    assert!(
        again.body.contains("id=\"protocol\"") && again.body.contains("Export test trial"),
        "the form keeps the text"
    );
    assert!(again.body.contains("id=\"main\""), "the full layout");
}

#[test]
fn the_authors_own_approval_is_refused_by_the_service() {
    let world = World::new(43);
    let author = World::actor("stat", Role::Statistician);
    world
        .service
        .create_trial(&author, &platform_protocol("EYES-1"), "test")
        .expect("created");
    let before = system_records(&world);
    let own = world
        .service
        .sign(&author, "EYES-1", Meaning::Approval, PASSWORD);
    assert!(
        matches!(own, Err(ServiceError::Forbidden(ref m)) if m.contains("four eyes")),
        "{own:?}"
    );
    assert_eq!(system_records(&world), before, "nothing recorded");
    world
        .service
        .sign(&author, "EYES-1", Meaning::Authorship, PASSWORD)
        .expect("the author signs for authorship");
    let refused = world.service.start(&author, "EYES-1");
    assert!(
        matches!(refused, Err(ServiceError::Conflict(_))),
        "{refused:?}"
    );
    world
        .service
        .sign(
            &World::actor("stat2", Role::Statistician),
            "EYES-1",
            Meaning::Approval,
            PASSWORD,
        )
        .expect("another statistician approves");
    world.service.start(&author, "EYES-1").expect("started");
}

#[actix_web::test]
async fn the_sign_form_answers_mistakes_in_place_and_goes_once_approved() {
    let world = World::new(44);
    let app = world.app().await;
    let (stat, csrf) = world.session("stat", Role::Statistician);
    let (stat2, csrf2) = world.session("stat2", Role::Statistician);
    world
        .service
        .create_trial(
            &World::actor("stat", Role::Statistician),
            &platform_protocol("SIGN-1"),
            "test",
        )
        .expect("created");

    let draft = page(&app, &stat, "/trials/SIGN-1").await;
    assert!(draft.body.contains("id=\"sign\""), "a Sign form");
    assert!(
        !draft.body.contains("id=\"start\"") && draft.body.contains("id=\"start-unavailable\""),
        "no Start form without approval, and a sentence why"
    );
    assert!(
        !draft.body.contains("id=\"amend\""),
        "a draft is edited, not amended"
    );

    // A wrong password: the form again, 401, with the meaning kept.
    let wrong = post(
        &app,
        &stat,
        "/trials/SIGN-1/sign",
        &[
            ("csrf", &csrf),
            ("meaning", "review"),
            ("password", "not my password at all"),
        ],
    )
    .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED, "{}", wrong.body);
    assert!(wrong.body.contains("id=\"sign-error\""), "{}", wrong.body);
    assert!(
        wrong.body.contains("<option value=\"review\" selected>"),
        "the meaning is kept"
    );
    assert!(wrong.body.contains("id=\"main\""), "the full layout");

    // The author's approval: refused in place, 403, with the reason.
    let own = post(
        &app,
        &stat,
        "/trials/SIGN-1/sign",
        &[
            ("csrf", &csrf),
            ("meaning", "approval"),
            ("password", PASSWORD),
        ],
    )
    .await;
    assert_eq!(own.status, StatusCode::FORBIDDEN, "{}", own.body);
    assert!(own.body.contains("four eyes"), "{}", own.body);
    assert!(own.body.contains("<option value=\"approval\" selected>"));

    // Start without approval (a stale page): the page again with the reason, 409.
    let start = post(&app, &stat, "/trials/SIGN-1/start", &[("csrf", &csrf)]).await;
    assert_eq!(start.status, StatusCode::CONFLICT, "{}", start.body);
    assert!(start.body.contains("id=\"start-error\""), "{}", start.body);

    // Another statistician approves: confirmed, and the Sign form is gone.
    let approved = post(
        &app,
        &stat2,
        "/trials/SIGN-1/sign",
        &[
            ("csrf", &csrf2),
            ("meaning", "approval"),
            ("password", PASSWORD),
        ],
    )
    .await;
    assert_eq!(approved.status, StatusCode::SEE_OTHER, "{}", approved.body);
    assert!(approved.cookies.contains("protocol-signed"));
    let after = page(&app, &stat, "/trials/SIGN-1").await;
    assert!(
        !after.body.contains("id=\"sign\""),
        "no Sign form after approval"
    );
    assert!(after.body.contains("id=\"sign-done\""));
    assert!(after.body.contains("id=\"start\""), "now it can start");
    let started = post(&app, &stat, "/trials/SIGN-1/start", &[("csrf", &csrf)]).await;
    assert_eq!(started.status, StatusCode::SEE_OTHER);
    assert!(started.cookies.contains("trial-started"));

    // Running: no resume button (it would answer 409); pause with no reason is kept in place.
    let running = page(&app, &stat, "/trials/SIGN-1").await;
    assert!(running.body.contains("id=\"pause\"") && !running.body.contains("id=\"resume\""));
    let no_reason = post(
        &app,
        &stat,
        "/trials/SIGN-1/pause",
        &[("csrf", &csrf), ("reason", "  ")],
    )
    .await;
    assert_eq!(no_reason.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(no_reason.body.contains("id=\"pause-reason-error\""));
}

#[actix_web::test]
async fn an_amendment_is_pending_with_its_diff_until_another_statistician_approves_it() {
    let world = World::new(45);
    let app = world.app().await;
    let (stat, csrf) = world.session("stat", Role::Statistician);
    let (stat2, csrf2) = world.session("stat2", Role::Statistician);
    // With a scenario: on a running trial an amendment is simulated before its approval.
    let protocol = format!(
        "{}\n[[scenario]]\nname = \"null\"\ntruth = {{ control = 0.3, a = 0.3, b = 0.3 }}\naccrual_per_week = 20\noutcome_delay_weeks = 1\n",
        platform_protocol("AMEND-1")
    );
    let id = world.started(&protocol);
    let arms = world.service.trial_state(&id).expect("state").arms.len();

    // A mistake keeps the values typed.
    let bad = post(
        &app,
        &stat,
        "/trials/AMEND-1/amend",
        &[
            ("csrf", &csrf),
            ("arm_id", "c"),
            ("arm_name", "Drug C"),
            ("ratio", "12,5"),
            ("reason", "new compound"),
            ("password", PASSWORD),
        ],
    )
    .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.body);
    assert!(
        bad.body.contains("id=\"amend-ratio-error\""),
        "{}",
        bad.body
    );
    assert!(bad.body.contains("value=\"Drug C\"") && bad.body.contains("value=\"12,5\""));

    let proposed = post(
        &app,
        &stat,
        "/trials/AMEND-1/amend",
        &[
            ("csrf", &csrf),
            ("arm_id", "c"),
            ("arm_name", "Drug C"),
            ("ratio", "1"),
            ("reason", "new compound"),
            ("password", PASSWORD),
        ],
    )
    .await;
    assert_eq!(proposed.status, StatusCode::SEE_OTHER, "{}", proposed.body);
    assert_eq!(
        proposed.location.as_deref(),
        Some("/trials/AMEND-1/versions/2")
    );
    let preview = page(&app, &stat, "/trials/AMEND-1/versions/2").await;
    assert!(
        preview.body.contains("pending signature"),
        "{}",
        preview.body
    );
    assert!(preview.body.contains("Changes from version 1"));
    assert!(
        preview.body.contains("id = &quot;c&quot;") || preview.body.contains("id = &#34;c&#34;")
    );
    assert!(preview.body.contains("id=\"simulate-version\""));
    assert_eq!(
        world.service.trial_state(&id).expect("state").arms.len(),
        arms,
        "nothing in force before the approval"
    );
    let trial = page(&app, &stat, "/trials/AMEND-1").await;
    assert!(trial.body.contains("id=\"pending-amendment\""));
    assert!(
        !trial.body.contains("id=\"amend\""),
        "one amendment waits at a time"
    );

    let own = post(
        &app,
        &stat,
        "/trials/AMEND-1/sign",
        &[
            ("csrf", &csrf),
            ("meaning", "approval"),
            ("password", PASSWORD),
        ],
    )
    .await;
    assert_eq!(own.status, StatusCode::FORBIDDEN);
    // On a running trial an amendment is approved only after a simulation of its version.
    common::store_simulation(
        &world.service,
        &World::actor("stat", Role::Statistician),
        "AMEND-1",
        2,
    );
    let approved = post(
        &app,
        &stat2,
        "/trials/AMEND-1/sign",
        &[
            ("csrf", &csrf2),
            ("meaning", "approval"),
            ("password", PASSWORD),
        ],
    )
    .await;
    assert_eq!(approved.status, StatusCode::SEE_OTHER, "{}", approved.body);
    assert_eq!(
        world.service.trial_state(&id).expect("state").arms.len(),
        arms + 1,
        "the arm is added on approval"
    );
    let report = world
        .service
        .check_projections(Some(&id))
        .expect("projections");
    assert!(report.differences.is_empty(), "{:?}", report.differences);
}

#[actix_web::test]
async fn an_unchanged_witness_list_writes_no_audit_record() {
    let world = World::new(46);
    let app = world.app().await;
    let (stat, csrf) = world.session("stat", Role::Statistician);
    let id = world.started(&platform_protocol("WIT-1"));
    let path = format!("/trials/{id}/witnesses");
    let saved = post(
        &app,
        &stat,
        &path,
        &[
            ("csrf", &csrf),
            ("witnesses", "chair@dmc.example, sponsor@example.org"),
        ],
    )
    .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);
    assert!(saved.cookies.contains("witnesses-saved"));
    let before = system_records(&world);
    let same = post(
        &app,
        &stat,
        &path,
        &[
            ("csrf", &csrf),
            ("witnesses", "sponsor@example.org\nchair@dmc.example\n"),
        ],
    )
    .await;
    assert_eq!(same.status, StatusCode::SEE_OTHER);
    assert!(same.cookies.contains("nothing-changed"), "{}", same.cookies);
    assert_eq!(system_records(&world), before, "no audit record");

    // A bad address: the form again with what was typed.
    let bad = form(
        &app,
        &stat,
        &path,
        &[("csrf", &csrf), ("witnesses", "chair@dmc.example a@b@c.d")],
    )
    .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.body);
    assert!(bad.body.contains("id=\"witness-list-error\""));
    assert!(bad.body.contains("a@b@c.d"));
}

/// A precision design is created, approved and started like any protocol; its enrolment form
/// asks for every biomarker, refuses an ineligible subtype in place and randomises within the
/// participant's stratum.
#[actix_web::test]
async fn a_precision_design_starts_and_enrols_by_biomarkers_on_the_form() {
    let world = World::new(46);
    let app = world.app().await;
    let (stat, csrf) = world.session("stat", Role::Statistician);
    let text = std::fs::read_to_string("tests/protocols/precision-two-biomarkers.toml")
        .expect("the precision fixture")
        .replace("id = \"P-1\"", "id = \"PREC-1\"");
    world
        .service
        .create_trial(&World::actor("stat", Role::Statistician), &text, "test")
        .expect("created");
    world
        .service
        .sign(
            &World::actor("stat2", Role::Statistician),
            "PREC-1",
            Meaning::Approval,
            PASSWORD,
        )
        .expect("another statistician approves");
    let start = post(&app, &stat, "/trials/PREC-1/start", &[("csrf", &csrf)]).await;
    assert_eq!(start.status, StatusCode::SEE_OTHER, "{}", start.body);
    let (coord, coord_csrf) = world.session("coord", Role::Coordinator);
    let enrol = page(&app, &coord, "/trials/PREC-1/enrol").await;
    for field in ["name=\"biomarker.HR\"", "name=\"biomarker.HER2\""] {
        assert!(enrol.body.contains(field), "{field}: {}", enrol.body);
    }
    let key = |k: &str| format!("form-{k}");
    let ineligible = post(
        &app,
        &coord,
        "/trials/PREC-1/participants",
        &[
            ("csrf", &coord_csrf),
            ("subject_id", "F-1"),
            ("eligible", "yes"),
            ("idempotency_key", &key("1")),
            ("biomarker.HR", "pos"),
            ("biomarker.HER2", "pos"),
        ],
    )
    .await;
    assert_eq!(ineligible.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        ineligible.body.contains("id=\"biomarkers-error\""),
        "{}",
        ineligible.body
    );
    assert!(
        ineligible.body.contains("HR=pos HER2=pos"),
        "{}",
        ineligible.body
    );
    let enrolled = post(
        &app,
        &coord,
        "/trials/PREC-1/participants",
        &[
            ("csrf", &coord_csrf),
            ("subject_id", "F-1"),
            ("eligible", "yes"),
            ("idempotency_key", &key("1")),
            ("biomarker.HR", "pos"),
            ("biomarker.HER2", "neg"),
        ],
    )
    .await;
    assert_eq!(enrolled.status, StatusCode::OK, "{}", enrolled.body);
    assert!(
        enrolled.body.contains("id=\"assignment\""),
        "{}",
        enrolled.body
    );
}
