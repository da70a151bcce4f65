//! Who may act, through the service, on a fresh SQLite file per test and on a fresh PostgreSQL
//! database too when `BAYESTRIAL_TEST_POSTGRES` is set: the password throttle holds under
//! concurrent guesses, e-signatures and password changes share it, and an unknown or inactive
//! user name costs a password evaluation like a known one; weak passwords are refused; API
//! tokens expire, are listed and revoked; no GET changes anything.

#![expect(clippy::expect_used, reason = "tests fail loudly")]

mod common;

use std::sync::{Arc, Mutex};

use bayestrial::audit::UtcTimestamp;
use bayestrial::service::{
    Actor, ApiTokenDays, Clock, Meaning, Password, Role, ServiceError, SteppingClock,
    LOCKOUT_FAILURES,
};
use common::backend::Backend;
use common::{user, PASSWORD};

const WRONG: &str = "not the password at all";

#[test]
fn concurrent_wrong_logins_evaluate_at_most_the_limit_and_then_lock_the_right_password_out() {
    for backend in Backend::all() {
        let service = Arc::new(backend.service());
        user(&service, "ann", Role::Coordinator);
        let before = service.password_evaluations();
        let guesses: Vec<_> = (0..41)
            .map(|_| {
                let service = Arc::clone(&service);
                std::thread::spawn(move || service.login("ann", WRONG, None))
            })
            .collect();
        let mut throttled = 0;
        for guess in guesses {
            match guess.join().expect("thread") {
                Err(ServiceError::Throttled(_)) => throttled += 1,
                Err(ServiceError::Unauthorized(_)) => {}
                other => panic!("{}: a wrong password gave {other:?}", backend.name()),
            }
        }
        let evaluated = service.password_evaluations() - before;
        assert_eq!(
            evaluated,
            LOCKOUT_FAILURES as u64,
            "{}: passwords evaluated",
            backend.name()
        );
        assert_eq!(throttled, 41 - LOCKOUT_FAILURES, "{}", backend.name());
        let right = service.login("ann", PASSWORD, None);
        assert!(
            matches!(right, Err(ServiceError::Throttled(_))),
            "{}: the right password while locked gave {right:?}",
            backend.name()
        );
        assert_eq!(
            service.password_evaluations() - before,
            LOCKOUT_FAILURES as u64,
            "{}: a locked name evaluates no password",
            backend.name()
        );
    }
}

#[test]
fn wrong_signature_passwords_count_towards_the_same_lock() {
    for backend in Backend::all() {
        let service = backend.service();
        let stat = user(&service, "stat", Role::Statistician);
        let trial = service
            .create_trial(
                &stat,
                &common::platform_protocol("throttle-1"),
                "test protocol",
            )
            .expect("trial")
            .id;
        for _ in 0..2 {
            assert!(matches!(
                service.login("stat", WRONG, None),
                Err(ServiceError::Unauthorized(_))
            ));
        }
        for _ in 2..LOCKOUT_FAILURES {
            assert!(matches!(
                service.sign(&stat, &trial, Meaning::Approval, WRONG),
                Err(ServiceError::Unauthorized(_))
            ));
        }
        let before = service.password_evaluations();
        let signed = service.sign(&stat, &trial, Meaning::Approval, PASSWORD);
        assert!(
            matches!(signed, Err(ServiceError::Throttled(_))),
            "{}: a signature while locked gave {signed:?}",
            backend.name()
        );
        let changed = service.change_password(&stat, PASSWORD, "a brand new passphrase 9");
        assert!(
            matches!(changed, Err(ServiceError::Throttled(_))),
            "{}: a password change while locked gave {changed:?}",
            backend.name()
        );
        assert!(matches!(
            service.login("stat", PASSWORD, None),
            Err(ServiceError::Throttled(_))
        ));
        assert_eq!(service.password_evaluations(), before, "{}", backend.name());
    }
}

#[test]
fn a_right_password_clears_the_count() {
    let backend = Backend::sqlite();
    let service = backend.service();
    let stat = user(&service, "stat", Role::Statistician);
    for _ in 1..LOCKOUT_FAILURES {
        assert!(service.login("stat", WRONG, None).is_err());
    }
    service
        .login("stat", PASSWORD, None)
        .expect("right password");
    for _ in 1..LOCKOUT_FAILURES {
        assert!(matches!(
            service.change_password(&stat, WRONG, "a brand new passphrase 9"),
            Err(ServiceError::Unauthorized(_))
        ));
    }
    service
        .login("stat", PASSWORD, None)
        .expect("still not locked");
}

#[test]
fn unknown_and_inactive_users_cost_one_password_evaluation_like_known_ones() {
    let backend = Backend::sqlite();
    let service = backend.service();
    let admin = user(&service, "admin", Role::Admin);
    user(&service, "gone", Role::Coordinator);
    service
        .set_active(&admin, "gone", false)
        .expect("deactivated");
    for name in ["admin", "nobody", "gone"] {
        let before = service.password_evaluations();
        let answer = service.login(name, WRONG, None);
        assert!(
            matches!(&answer, Err(ServiceError::Unauthorized(problem)) if problem == "wrong user name or password"),
            "{name}: {answer:?}"
        );
        assert_eq!(service.password_evaluations() - before, 1, "{name}");
    }
    let before = service.password_evaluations();
    assert!(service.login("gone", PASSWORD, None).is_err());
    assert_eq!(service.password_evaluations() - before, 1);
}

/// A clock that steps one second per reading and can jump ahead.
struct JumpingClock(Mutex<SteppingClock>);

impl JumpingClock {
    fn jump_to(&self, unix_seconds: i64) {
        *self.0.lock().expect("clock") = SteppingClock::starting_at(unix_seconds);
    }
}

impl Clock for JumpingClock {
    fn now(&self) -> UtcTimestamp {
        self.0.lock().expect("clock").now()
    }
}

#[test]
fn api_tokens_expire_are_listed_without_their_secret_and_are_revoked_by_their_owner() {
    assert!(ApiTokenDays::new(0).is_err() && ApiTokenDays::new(366).is_err());
    for backend in Backend::all() {
        let clock = Arc::new(JumpingClock(Mutex::new(SteppingClock::starting_at(
            1_780_000_000,
        ))));
        let service = backend.service_with(|config| {
            config.clock = clock.clone();
            config.api_token_days = ApiTokenDays::new(2).expect("days");
        });
        let ann = user(&service, "ann", Role::Coordinator);
        user(&service, "bob", Role::Coordinator);
        let issued = service
            .issue_api_token("ann", PASSWORD, None, "nightly export")
            .expect("token");
        assert!(
            issued.expires_at.starts_with("2026-05-30T"),
            "{}",
            issued.expires_at
        );
        assert_eq!(service.api_actor(&issued.token).expect("valid"), ann);
        let listed = service.api_tokens(&ann).expect("list");
        assert_eq!(listed.len(), 1, "{}", backend.name());
        let token = &listed[0];
        assert_eq!(
            (token.label.as_str(), token.state, token.valid()),
            ("nightly export", "valid", true)
        );
        assert!(token.last_used_at.is_some() && token.expires_at == issued.expires_at);
        assert!(token.id.len() == 64 && token.id != issued.token);
        assert!(service
            .api_tokens(&Actor {
                username: "bob".into(),
                role: Role::Coordinator
            })
            .expect("list")
            .is_empty());
        // Expiry: 401 with a message naming when.
        clock.jump_to(1_780_000_000 + 2 * 86_400 + 10);
        let expired = service.api_actor(&issued.token);
        assert!(
            matches!(&expired, Err(ServiceError::Unauthorized(m)) if m.contains("expired at 2026-05-30T")),
            "{}: {expired:?}",
            backend.name()
        );
        assert_eq!(service.api_tokens(&ann).expect("list")[0].state, "expired");
        // Revocation by the owner only.
        let second = service
            .issue_api_token("ann", PASSWORD, None, "laptop")
            .expect("token");
        let id = service.api_tokens(&ann).expect("list")[0].id.clone();
        let bob = Actor {
            username: "bob".into(),
            role: Role::Coordinator,
        };
        assert!(matches!(
            service.revoke_own_api_token(&bob, &id),
            Err(ServiceError::NotFound(_))
        ));
        assert!(matches!(
            service.revoke_own_api_token(&ann, "not-an-id"),
            Err(ServiceError::Invalid { field: "token", .. })
        ));
        service.api_actor(&second.token).expect("still valid");
        service.revoke_own_api_token(&ann, &id).expect("revoked");
        assert!(matches!(
            service.api_actor(&second.token),
            Err(ServiceError::Unauthorized(_))
        ));
        assert_eq!(service.api_tokens(&ann).expect("list")[0].state, "revoked");
    }
}

#[test]
fn weak_passwords_are_refused_wherever_a_password_is_set() {
    let backend = Backend::sqlite();
    let service = backend.service();
    let admin = user(&service, "admin", Role::Admin);
    let weak = Password::new("password1234").expect_err("common password");
    assert!(
        weak.to_string().starts_with("password: too easy to guess"),
        "{weak}"
    );
    let changed = service.change_password(&admin, PASSWORD, "aaaaaaaaaaaaaaaa");
    assert!(
        matches!(&changed, Err(ServiceError::Invalid { field: "password", problem }) if problem.contains("epeat")),
        "{changed:?}"
    );
    service
        .login("admin", PASSWORD, None)
        .expect("the old password still works");
}

#[actix_web::test]
async fn the_account_page_lists_tokens_and_revokes_one_with_the_csrf_token() {
    let world = common::World::new(3);
    let app = world.app().await;
    let token = world.token("coord", Role::Coordinator);
    assert_eq!(
        common::api_get(&app, &token, "/api/trials").await.status,
        200
    );
    let (session, csrf) = world.session("coord", Role::Coordinator);
    let page = common::page(&app, &session, "/account").await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("<table id=\"tokens\">") && !page.body.contains(&token));
    let id = world
        .service
        .api_tokens(&common::World::actor("coord", Role::Coordinator))
        .expect("list")[0]
        .id
        .clone();
    assert!(
        page.body.contains(&id),
        "the revoke form names the token by its id"
    );
    let forged = common::form(&app, &session, "/account/tokens/revoke", &[("token", &id)]).await;
    assert_eq!(forged.status, 403, "{}", forged.body);
    let revoked = common::form(
        &app,
        &session,
        "/account/tokens/revoke",
        &[("csrf", &csrf), ("token", &id)],
    )
    .await;
    assert_eq!(revoked.status, 303, "{}", revoked.body);
    let refused = common::api_get(&app, &token, "/api/trials").await;
    assert_eq!(refused.status, 401, "{}", refused.body);
    let weak = common::form(
        &app,
        &session,
        "/account/password",
        &[
            ("csrf", &csrf),
            ("current", PASSWORD),
            ("new", "qwertyuiopasdf"),
            ("confirm", "qwertyuiopasdf"),
        ],
    )
    .await;
    assert_eq!(weak.status, 422, "{}", weak.body);
    assert!(weak.body.contains("too easy to guess"), "{}", weak.body);
}

#[actix_web::test]
async fn get_never_changes_state_and_the_export_address_answers_405() {
    let world = common::World::new(5);
    let app = world.app().await;
    let trial = world.started(&common::platform_protocol("SAFE-GET"));
    // Every page a GET reaches without showing unblinded results (those record a read log,
    // `results_viewed`, by design), and the old export link.
    let records = || world.service.verify(None).expect("verify").records;
    for (role_name, role) in [
        ("stat", Role::Statistician),
        ("coord", Role::Coordinator),
        ("reg", Role::Regulator),
        ("admin", Role::Admin),
    ] {
        let (session, _) = world.session(role_name, role);
        let before = records();
        for path in [
            format!("/trials/{trial}/export.jsonl"),
            format!("/trials/{trial}/export.jsonl?unblinded=1"),
            "/trials".to_owned(),
            format!("/trials/{trial}/participants"),
            "/audit".to_owned(),
            "/account".to_owned(),
            "/admin/users".to_owned(),
            format!("/trials/{trial}/enrol"),
        ] {
            let got = common::page(&app, &session, &path).await;
            if path.contains("export.jsonl") {
                assert_eq!(got.status, 405, "{path} as {role_name}: {}", got.body);
            }
        }
        assert_eq!(records(), before, "GETs as {role_name} appended records");
    }
}
