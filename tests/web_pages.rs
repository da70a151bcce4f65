//! Every page as every role, through the real web app in process: no page carries a
//! `javascript:` URL (the Content-Security-Policy would block it), error pages keep the
//! navigation, and an action's confirmation is shown once on the page it redirects to.

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
