//! Every page as every role, through the real web app in process: no page carries a
//! `javascript:` URL (the Content-Security-Policy would block it), error pages keep the
//! navigation, an action's confirmation is shown once on the page it redirects to, and the
//! trial page offers an export only where it works.

#![expect(clippy::expect_used, reason = "tests fail loudly")]

mod common;

use bayestrial::service::Role;
use common::{form, page, platform_protocol, World};

const ROLES: [(&str, Role); 6] = [
    ("admin", Role::Admin),
    ("stat", Role::Statistician),
    ("coord", Role::Coordinator),
    ("pharm", Role::Pharmacist),
    ("dmc", Role::Dmc),
    ("reg", Role::Regulator),
];

#[actix_web::test]
async fn no_page_as_any_role_contains_a_javascript_url() {
    let world = World::new(14);
    let id = world.started(&platform_protocol("PAGES-1"));
    let app = world.app().await;
    let paths = [
        "/trials".to_owned(),
        "/trials/new".to_owned(),
        format!("/trials/{id}"),
        format!("/trials/{id}/enrol"),
        format!("/trials/{id}/participants"),
        format!("/trials/{id}/dashboard"),
        format!("/trials/{id}/simulate"),
        "/audit".to_owned(),
        format!("/audit?trial={id}"),
        "/admin/users".to_owned(),
        "/account".to_owned(),
        "/no/such/page".to_owned(),
        format!("/trials/{id}/participants/NOBODY"),
    ];
    let mut seen = 0;
    for (name, role) in ROLES {
        let (session, _) = world.session(name, role);
        for path in &paths {
            let reply = page(&app, &session, path).await;
            assert!(
                !reply.body.to_ascii_lowercase().contains("javascript:"),
                "{name} GET {path} ({}) contains a javascript: URL",
                reply.status
            );
            if reply.status.is_client_error() {
                assert!(
                    reply.body.contains("<nav"),
                    "{name} GET {path}: the {} page has no navigation",
                    reply.status
                );
            }
            seen += 1;
        }
    }
    assert_eq!(seen, ROLES.len() * paths.len());
}

#[actix_web::test]
async fn a_refused_action_keeps_the_navigation_and_a_bad_csrf_token_is_an_error_page() {
    let world = World::new(15);
    let id = world.started(&platform_protocol("PAGES-2"));
    let app = world.app().await;
    let (session, _) = world.session("coord", Role::Coordinator);
    let reply = form(
        &app,
        &session,
        &format!("/trials/{id}/participants"),
        &[
            ("csrf", "wrong"),
            ("subject_id", "S-1"),
            ("eligible", "yes"),
        ],
    )
    .await;
    assert_eq!(reply.status.as_u16(), 403);
    assert!(reply.body.contains("<nav"), "{}", reply.body);
    assert!(reply.body.contains("security token"), "{}", reply.body);
}

#[actix_web::test]
async fn an_action_is_confirmed_once_on_the_page_it_redirects_to() {
    use actix_web::cookie::Cookie;
    use actix_web::dev::Service as _;
    use actix_web::test::{self, TestRequest};
    use bayestrial::web::auth::SESSION_COOKIE;
    use bayestrial::web::notice::{Notice, NOTICE_COOKIE};

    let world = World::new(16);
    let id = world.started(&platform_protocol("PAGES-3"));
    let app = world.app().await;
    let (session, csrf) = world.session("stat", Role::Statistician);
    let paused = app
        .call(
            TestRequest::post()
                .uri(&format!("/trials/{id}/pause"))
                .cookie(Cookie::new(SESSION_COOKIE, session.clone()))
                .set_form([("csrf", csrf.as_str()), ("reason", "site audit")])
                .to_request(),
        )
        .await
        .expect("answer");
    assert_eq!(paused.status().as_u16(), 303);
    let carried = paused
        .response()
        .cookies()
        .find(|c| c.name() == NOTICE_COOKIE)
        .expect("the notice cookie");
    assert_eq!(carried.value(), Notice::TrialPaused.code());
    assert!(carried.http_only().unwrap_or(false));

    // The next page shows the sentence once and clears the cookie.
    let shown = app
        .call(
            TestRequest::get()
                .uri(&format!("/trials/{id}"))
                .cookie(Cookie::new(SESSION_COOKIE, session.clone()))
                .cookie(Cookie::new(NOTICE_COOKIE, carried.value().to_owned()))
                .to_request(),
        )
        .await
        .expect("answer");
    assert_eq!(shown.status().as_u16(), 200);
    let cleared = shown
        .response()
        .cookies()
        .find(|c| c.name() == NOTICE_COOKIE)
        .expect("the notice cookie cleared");
    assert_eq!(cleared.value(), "");
    let body = String::from_utf8(test::read_body(shown).await.to_vec()).expect("UTF-8");
    assert!(body.contains(r#"id="notice""#), "no notice shown");
    assert!(
        body.contains(Notice::TrialPaused.message()),
        "not the pause sentence"
    );

    // A code this build does not know shows nothing (fail closed).
    let forged = app
        .call(
            TestRequest::get()
                .uri(&format!("/trials/{id}"))
                .cookie(Cookie::new(SESSION_COOKIE, session))
                .cookie(Cookie::new(NOTICE_COOKIE, "you-won"))
                .to_request(),
        )
        .await
        .expect("answer");
    let body = String::from_utf8(test::read_body(forged).await.to_vec()).expect("UTF-8");
    assert!(
        !body.contains(r#"id="notice""#),
        "an unknown notice code was shown"
    );
}

#[actix_web::test]
async fn the_trial_page_offers_an_export_only_where_it_works_and_says_why_not() {
    let world = World::new(17);
    let id = world.started(&platform_protocol("PAGES-4"));
    let app = world.app().await;
    // A regulator does not see results: a running trial's export would be refused (409).
    let (regulator, _) = world.session("reg", Role::Regulator);
    let page_of_regulator = page(&app, &regulator, &format!("/trials/{id}")).await;
    assert_eq!(page_of_regulator.status.as_u16(), 200);
    assert!(!page_of_regulator.body.contains(r#"id="export-trial""#));
    assert!(
        page_of_regulator.body.contains(r#"id="export-refused""#)
            && page_of_regulator.body.contains("still running"),
        "the reason is shown instead"
    );
    // A statistician sees results: the export works, so the button is there.
    let (statistician, _) = world.session("stat", Role::Statistician);
    let page_of_statistician = page(&app, &statistician, &format!("/trials/{id}")).await;
    assert!(page_of_statistician.body.contains(r#"id="export-trial""#));
    assert!(!page_of_statistician.body.contains(r#"id="export-refused""#));
    // A coordinator reads no audit trail: neither.
    let (coordinator, _) = world.session("coord", Role::Coordinator);
    let page_of_coordinator = page(&app, &coordinator, &format!("/trials/{id}")).await;
    assert!(!page_of_coordinator.body.contains("export-"));
}
