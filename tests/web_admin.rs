//! The admin's pages and the newcomer's first start: the add-user form (no role chosen for the
//! admin, values kept after a mistake), each user's page (revoke offers the user's own roles;
//! the blinding warning), password resets (by an admin on the page, and on the command line)
//! that force a change at the next login, HEAD answered like GET, the favicon, and the running
//! demo trial a first start loads.

#![expect(clippy::expect_used, reason = "tests fail loudly")]

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};

use actix_web::body::MessageBody;
use actix_web::http::StatusCode;
use actix_web::test as actix_test;
use bayestrial::engine::Conclusion;
use bayestrial::service::{DemoPlan, Role, ServiceError, StatusTone};
use bayestrial::web::auth::{LOGIN_COOKIE, SESSION_COOKIE};
use common::{form, page, user, Scratch, TestApp, World, PASSWORD};

/// The options of the `<select id="{id}">` of `html`: (value, selected).
fn options(html: &str, id: &str) -> Vec<(String, bool)> {
    let start = html
        .find(&format!("<select id=\"{id}\""))
        .unwrap_or_else(|| panic!("no select #{id} in {html}"));
    let end = start + html[start..].find("</select>").expect("select closed");
    html[start..end]
        .split("<option")
        .skip(1)
        .map(|option| {
            let value = option
                .split("value=\"")
                .nth(1)
                .and_then(|rest| rest.split('"').next())
                .expect("option value")
                .to_owned();
            let tag = option.split('>').next().unwrap_or_default();
            (value, tag.contains("selected"))
        })
        .collect()
}

/// The opening tag of the element with `id`.
fn tag<'a>(html: &'a str, id: &str) -> &'a str {
    let at = html
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no #{id}"));
    let start = html[..at].rfind('<').expect("tag start");
    let end = at + html[at..].find('>').expect("tag end");
    &html[start..=end]
}

/// A request's answer with its `Location` and `Set-Cookie` headers.
struct Answer {
    status: StatusCode,
    location: Option<String>,
    cookies: Vec<(String, String)>,
    body: String,
}

async fn send<B: MessageBody>(app: &impl TestApp<B>, request: actix_test::TestRequest) -> Answer {
    let response = app.call(request.to_request()).await.expect("answer");
    let status = response.status();
    let location = response
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let cookies = response
        .response()
        .cookies()
        .map(|c| (c.name().to_owned(), c.value().to_owned()))
        .collect();
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

/// Logs in through the login form (its double-submit cookie and token) and answers the
/// session cookie and where the login led.
async fn log_in<B: MessageBody>(
    app: &impl TestApp<B>,
    username: &str,
    password: &str,
) -> (Option<String>, Answer) {
    let form_page = send(app, actix_test::TestRequest::get().uri("/login")).await;
    let login_cookie = form_page
        .cookies
        .iter()
        .find(|(name, _)| name == LOGIN_COOKIE)
        .map(|(_, value)| value.clone())
        .expect("login cookie");
    let request = actix_test::TestRequest::post()
        .uri("/login")
        .cookie(actix_web::cookie::Cookie::new(
            LOGIN_COOKIE,
            login_cookie.clone(),
        ))
        .set_form([
            ("username", username),
            ("password", password),
            ("role", ""),
            ("csrf", login_cookie.as_str()),
        ]);
    let answer = send(app, request).await;
    let session = answer
        .cookies
        .iter()
        .find(|(name, _)| name == SESSION_COOKIE)
        .map(|(_, value)| value.clone());
    (session, answer)
}

#[actix_web::test]
async fn the_add_user_role_has_no_default_and_a_mistake_keeps_the_values() {
    let world = World::new(61);
    let app = world.app().await;
    let (admin, csrf) = world.session("admin", Role::Admin);
    let users = page(&app, &admin, "/admin/users").await;
    assert_eq!(users.status, StatusCode::OK);
    let roles = options(&users.body, "new-role");
    assert_eq!(roles[0], (String::new(), true), "{roles:?}");
    assert!(
        roles[1..]
            .iter()
            .all(|(value, selected)| !value.is_empty() && !selected),
        "no role is chosen for the admin: {roles:?}"
    );
    assert_eq!(roles.len(), 1 + Role::ALL.len());
    assert!(tag(&users.body, "new-role").contains("required"));

    // A common password: the form again, 422, the message next to the password, every other
    // value kept and the password never sent back.
    let weak = form(
        &app,
        &admin,
        "/admin/users",
        &[
            ("csrf", &csrf),
            ("username", "ana"),
            ("name", "Ana Lopez"),
            ("email", "ana@example.org"),
            ("role", "statistician"),
            ("password", "password1234"),
        ],
    )
    .await;
    assert_eq!(weak.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(weak.body.contains("id=\"password-error\""), "{}", weak.body);
    assert!(weak.body.contains("too easy to guess"));
    assert!(tag(&weak.body, "new-password").contains("aria-invalid=\"true\""));
    assert!(
        !weak.body.contains("password1234"),
        "a password is never sent back"
    );
    assert!(tag(&weak.body, "new-username").contains("value=\"ana\""));
    assert!(tag(&weak.body, "new-name").contains("value=\"Ana Lopez\""));
    assert!(options(&weak.body, "new-role").contains(&("statistician".into(), true)));

    // No role chosen: the message next to the role.
    let no_role = form(
        &app,
        &admin,
        "/admin/users",
        &[
            ("csrf", &csrf),
            ("username", "ana"),
            ("name", "Ana Lopez"),
            ("email", "ana@example.org"),
            ("role", ""),
            ("password", PASSWORD),
        ],
    )
    .await;
    assert_eq!(no_role.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        no_role.body.contains("id=\"role-error\""),
        "{}",
        no_role.body
    );

    let added = form(
        &app,
        &admin,
        "/admin/users",
        &[
            ("csrf", &csrf),
            ("username", "ana"),
            ("name", "Ana Lopez"),
            ("email", "ana@example.org"),
            ("role", "statistician"),
            ("password", PASSWORD),
        ],
    )
    .await;
    assert_eq!(added.status, StatusCode::SEE_OTHER, "{}", added.body);
    assert!(world.service.login("ana", PASSWORD, None).is_ok());
}

#[actix_web::test]
async fn revoke_offers_only_the_users_roles_and_blinded_with_unblinded_is_warned() {
    let world = World::new(62);
    let app = world.app().await;
    let (admin, csrf) = world.session("admin", Role::Admin);
    let coord = page(&app, &admin, "/admin/users/coord").await;
    assert_eq!(coord.status, StatusCode::OK);
    assert_eq!(
        options(&coord.body, "revoke-role-select"),
        [(String::new(), true), ("coordinator".into(), false)]
    );
    let grantable: Vec<String> = options(&coord.body, "grant-role-select")
        .into_iter()
        .map(|(value, _)| value)
        .collect();
    assert!(
        !grantable.contains(&"coordinator".to_owned()),
        "{grantable:?}"
    );
    assert_eq!(
        grantable.len(),
        Role::ALL.len(),
        "the empty choice and 5 roles"
    );
    assert!(!coord.body.contains("id=\"blinding-warning\""));

    let granted = form(
        &app,
        &admin,
        "/admin/users/coord/roles",
        &[
            ("csrf", &csrf),
            ("role", "statistician"),
            ("change", "grant"),
        ],
    )
    .await;
    assert_eq!(granted.status, StatusCode::SEE_OTHER, "{}", granted.body);
    let coord = page(&app, &admin, "/admin/users/coord").await;
    assert_eq!(
        options(&coord.body, "revoke-role-select"),
        [
            (String::new(), true),
            ("statistician".into(), false),
            ("coordinator".into(), false)
        ]
    );
    assert!(
        coord.body.contains("id=\"blinding-warning\""),
        "{}",
        coord.body
    );
    assert!(coord.body.contains("holds coordinator, a blinded role"));
    let users = page(&app, &admin, "/admin/users").await;
    assert!(users
        .body
        .contains("coordinator and statistician: blinding at risk"));
    assert!(users.body.contains("id=\"blinding-warnings\""));

    // Revoking the last admin role: the user's page again with the reason, 409.
    let last = form(
        &app,
        &admin,
        "/admin/users/admin/roles",
        &[("csrf", &csrf), ("role", "admin"), ("change", "revoke")],
    )
    .await;
    assert_eq!(last.status, StatusCode::CONFLICT);
    assert!(last.body.contains("id=\"revoke-error\""), "{}", last.body);
    assert!(last.body.contains("the last admin role cannot be revoked"));
}

#[actix_web::test]
async fn an_admins_reset_forces_a_new_password_at_the_next_login() {
    let world = World::new(63);
    let app = world.app().await;
    let (admin, csrf) = world.session("admin", Role::Admin);
    let (old_session, _) = world.session("coord", Role::Coordinator);

    // A typed temporary password must pass the strength rule.
    let weak = form(
        &app,
        &admin,
        "/admin/users/coord/password",
        &[("csrf", &csrf), ("password", "qwertyuiopasdf")],
    )
    .await;
    assert_eq!(weak.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        weak.body.contains("id=\"reset-password-error\""),
        "{}",
        weak.body
    );

    // A random one is shown once, on the answer.
    let reset = form(
        &app,
        &admin,
        "/admin/users/coord/password",
        &[("csrf", &csrf), ("password", "")],
    )
    .await;
    assert_eq!(reset.status, StatusCode::OK, "{}", reset.body);
    assert!(reset.body.contains("id=\"notice\""));
    let temporary = reset
        .body
        .split("<code id=\"temporary-password-value\">")
        .nth(1)
        .and_then(|rest| rest.split('<').next())
        .expect("the temporary password is shown")
        .to_owned();
    assert_eq!(temporary.len(), 24);
    let again = page(&app, &admin, "/admin/users/coord").await;
    assert!(!again.body.contains(&temporary), "shown once");
    assert!(again
        .body
        .contains("must choose a new one at their next login"));

    // The reset ended the user's sessions; the old password no longer works.
    assert_eq!(
        page(&app, &old_session, "/trials").await.status,
        StatusCode::SEE_OTHER
    );
    assert!(world.service.login("coord", PASSWORD, None).is_err());
    // No API token until the password is changed.
    assert!(matches!(
        world
            .service
            .issue_api_token("coord", &temporary, None, "t"),
        Err(ServiceError::Forbidden(_))
    ));

    // The login leads to the password change, and every other page refuses until then.
    let (session, login) = log_in(&app, "coord", &temporary).await;
    assert_eq!(login.status, StatusCode::SEE_OTHER);
    assert_eq!(login.location.as_deref(), Some("/account"));
    let session = session.expect("a session");
    for path in ["/trials", "/admin/users", "/trials/x/participants"] {
        let refused = send(
            &app,
            actix_test::TestRequest::get()
                .uri(path)
                .cookie(actix_web::cookie::Cookie::new(
                    SESSION_COOKIE,
                    session.clone(),
                )),
        )
        .await;
        assert_eq!(refused.status, StatusCode::SEE_OTHER, "{path}");
        assert_eq!(refused.location.as_deref(), Some("/account"), "{path}");
    }
    let account = page(&app, &session, "/account").await;
    assert_eq!(account.status, StatusCode::OK);
    assert!(account.body.contains("id=\"must-change\""));
    let csrf = account
        .body
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("csrf")
        .to_owned();
    // A form elsewhere is refused the same way, before it is read.
    let enrol = send(
        &app,
        actix_test::TestRequest::post()
            .uri("/trials/x/participants")
            .cookie(actix_web::cookie::Cookie::new(
                SESSION_COOKIE,
                session.clone(),
            ))
            .set_form([("csrf", csrf.as_str()), ("subject_id", "S-1")]),
    )
    .await;
    assert_eq!(enrol.location.as_deref(), Some("/account"));

    // The same password again is refused, next to the new password's field.
    let same = form(
        &app,
        &session,
        "/account/password",
        &[
            ("csrf", &csrf),
            ("current", &temporary),
            ("new", &temporary),
            ("confirm", &temporary),
        ],
    )
    .await;
    assert_eq!(same.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(same.body.contains("id=\"new-error\""), "{}", same.body);
    // A wrong current password: next to the current password's field.
    let wrong = form(
        &app,
        &session,
        "/account/password",
        &[
            ("csrf", &csrf),
            ("current", "not the temporary one"),
            ("new", "a brand new passphrase 9"),
            ("confirm", "a brand new passphrase 9"),
        ],
    )
    .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert!(
        wrong.body.contains("id=\"current-error\""),
        "{}",
        wrong.body
    );
    let mismatch = form(
        &app,
        &session,
        "/account/password",
        &[
            ("csrf", &csrf),
            ("current", &temporary),
            ("new", "a brand new passphrase 9"),
            ("confirm", "a brand new passphrase 8"),
        ],
    )
    .await;
    assert_eq!(mismatch.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(mismatch.body.contains("id=\"confirm-error\""));
    let changed = form(
        &app,
        &session,
        "/account/password",
        &[
            ("csrf", &csrf),
            ("current", &temporary),
            ("new", "a brand new passphrase 9"),
            ("confirm", "a brand new passphrase 9"),
        ],
    )
    .await;
    assert_eq!(changed.status, StatusCode::SEE_OTHER, "{}", changed.body);

    let (session, login) = log_in(&app, "coord", "a brand new passphrase 9").await;
    assert_eq!(login.location.as_deref(), Some("/trials"));
    let trials = page(&app, &session.expect("session"), "/trials").await;
    assert_eq!(trials.status, StatusCode::OK);
}

#[actix_web::test]
async fn a_failed_login_keeps_the_user_name_and_role() {
    let world = World::new(64);
    let app = world.app().await;
    let (_, failed) = log_in(&app, "stat", "wrong password entirely").await;
    assert_eq!(failed.status, StatusCode::UNAUTHORIZED);
    assert!(failed.body.contains("id=\"login-error\""));
    assert!(tag(&failed.body, "username").contains("value=\"stat\""));
    assert!(!failed.body.contains("wrong password entirely"));
    assert!(failed.body.contains("rel=\"icon\""));
}

#[test]
fn the_command_line_resets_a_password_and_prints_it_once() {
    let scratch = Scratch::new();
    {
        let service = scratch.service();
        user(&service, "coord", Role::Coordinator);
    }
    let run = |name: &str| {
        Command::new(env!("CARGO_BIN_EXE_bayestrial"))
            .args(["user", "reset-password", name, "--database-url"])
            .arg(scratch.url())
            .arg("--data-dir")
            .arg(scratch.dir.path())
            .output()
            .expect("the binary runs")
    };
    let out = run("coord");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let temporary = stdout
        .split("temporary password \"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the password is printed")
        .to_owned();
    let service = scratch.service();
    assert!(service.login("coord", PASSWORD, None).is_err());
    let session = service
        .start_session("coord", &temporary, None)
        .expect("the temporary password logs in");
    assert!(session.must_change_password);
    let unknown = run("nobody");
    assert_eq!(unknown.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no user nobody"));
}

/// The real server on a free port with no demo trials (HEAD goes through the HTTP layer).
struct Server {
    child: Child,
    address: String,
    _scratch: Scratch,
}

impl Server {
    fn start() -> Self {
        let scratch = Scratch::new();
        let mut child = Command::new(env!("CARGO_BIN_EXE_bayestrial"))
            .args(["serve", "--bind", "127.0.0.1:0", "--workers", "1"])
            .arg("--database-url")
            .arg(scratch.url())
            .arg("--data-dir")
            .arg(scratch.dir.path())
            .arg("--protocols")
            .arg(scratch.dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("server starts");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = std::io::BufRead::lines(std::io::BufReader::new(stdout));
        let address = loop {
            let line = lines.next().expect("a line").expect("text");
            if let Some(url) = line.strip_prefix("bayestrial: listening on http://") {
                break url.trim().to_owned();
            }
        };
        std::thread::spawn(move || for _ in lines {});
        Self {
            child,
            address,
            _scratch: scratch,
        }
    }

    /// The raw answer to `METHOD path`: status line and headers, and the bytes after them.
    fn raw(&self, method: &str, path: &str) -> (String, Vec<u8>) {
        let mut stream = TcpStream::connect(&self.address).expect("connect");
        write!(
            stream,
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            self.address
        )
        .expect("request");
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).expect("answer");
        let split = answer
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("end of headers");
        (
            String::from_utf8_lossy(&answer[..split]).to_lowercase(),
            answer[split + 4..].to_vec(),
        )
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines()
        .find_map(|line| line.strip_prefix(&format!("{name}: ")))
        .map(str::trim)
}

#[test]
fn head_answers_like_get_without_a_body_and_the_favicon_is_served() {
    let server = Server::start();
    for path in ["/login", "/static/app.css", "/static/favicon.svg", "/"] {
        let (get_head, get_body) = server.raw("GET", path);
        let (head_head, head_body) = server.raw("HEAD", path);
        let status = |head: &str| head.lines().next().unwrap_or_default().to_owned();
        assert_eq!(status(&head_head), status(&get_head), "{path}");
        assert!(head_body.is_empty(), "{path}: HEAD sent a body");
        assert_eq!(
            header(&head_head, "content-length"),
            Some(get_body.len().to_string().as_str()),
            "{path}: HEAD tells the length of GET's body"
        );
        assert_eq!(
            header(&head_head, "location"),
            header(&get_head, "location")
        );
    }
    let (login, _) = server.raw("HEAD", "/login");
    assert!(login.starts_with("http/1.1 200"), "{login}");
    let (css, _) = server.raw("HEAD", "/static/app.css");
    assert!(css.starts_with("http/1.1 200"), "{css}");
    assert_eq!(
        header(&css, "content-type"),
        Some("text/css; charset=utf-8")
    );
    let (root, _) = server.raw("HEAD", "/");
    assert!(root.starts_with("http/1.1 303"), "{root}");

    let (ico, _) = server.raw("GET", "/favicon.ico");
    assert!(ico.starts_with("http/1.1 308"), "{ico}");
    assert_eq!(header(&ico, "location"), Some("/static/favicon.svg"));
    let (svg, body) = server.raw("GET", "/static/favicon.svg");
    assert!(svg.starts_with("http/1.1 200"), "{svg}");
    assert_eq!(header(&svg, "content-type"), Some("image/svg+xml"));
    assert!(String::from_utf8_lossy(&body).starts_with("<svg"));
}

#[test]
fn the_demo_trial_runs_with_simulated_participants_and_its_chain_verifies() {
    let scratch = Scratch::new();
    let service = scratch.service();
    let admin = user(&service, "admin", Role::Admin);
    let source = std::fs::read_to_string("protocols/three-arm-pbest.toml").expect("protocol");
    let plan = DemoPlan {
        scenario: "phone-best".into(),
        participants: 120,
        lag: 20,
        seed: 7,
    };
    let report = service
        .load_running_demo(&admin, &source, "protocols/three-arm-pbest.toml", &plan)
        .expect("the demo loads")
        .expect("a new demo");
    assert!(report.running, "{report:?}");
    assert_eq!(report.enrolled, 120);
    assert!((90..=100).contains(&report.outcomes), "{report:?}");
    let stat = common::World::actor("demo-approver", Role::Statistician);
    let view = service
        .trial_view(&stat, &report.trial_id, false)
        .expect("the trial's view");
    assert_eq!(view.status, "running");
    assert_eq!(view.tone, StatusTone::Running);
    assert_eq!(view.enrolled, 120);
    assert_eq!(view.looks_done, 1, "the first look at 90 outcomes");
    let verified = service.verify(None).expect("verify");
    assert!(verified.problem.is_none(), "{:?}", verified.problem);
    assert!(verified.records > 240);
    // Loaded once: the second time changes nothing.
    assert!(service
        .load_running_demo(&admin, &source, "protocols/three-arm-pbest.toml", &plan)
        .expect("answers")
        .is_none());
}

#[test]
fn a_stopped_trial_reads_as_concluded_only_with_a_conclusion() {
    assert_eq!(StatusTone::of("draft", None).class(), "draft");
    assert_eq!(StatusTone::of("running", None).class(), "running");
    assert_eq!(StatusTone::of("paused", None).class(), "paused");
    assert_eq!(StatusTone::of("stopped", None).class(), "stopped");
    assert_eq!(
        StatusTone::of("stopped", Some(Conclusion::Superiority)).class(),
        "stopped concluded"
    );
    assert_eq!(
        StatusTone::of("stopped", Some(Conclusion::Equivalence)),
        StatusTone::Concluded
    );
    for other in [
        Conclusion::Futility,
        Conclusion::MaximumSampleSize,
        Conclusion::Closed,
    ] {
        assert_eq!(StatusTone::of("stopped", Some(other)), StatusTone::Stopped);
    }
}

#[actix_web::test]
async fn activation_and_token_mistakes_come_back_on_their_page() {
    let world = World::new(65);
    let app = world.app().await;
    let (admin, csrf) = world.session("admin", Role::Admin);
    let own = form(
        &app,
        &admin,
        "/admin/users/admin/active",
        &[("csrf", &csrf), ("active", "false")],
    )
    .await;
    assert_eq!(own.status, StatusCode::CONFLICT);
    assert!(own.body.contains("id=\"active-error\""), "{}", own.body);
    assert!(own.body.contains("cannot deactivate their own account"));
    let other = form(
        &app,
        &admin,
        "/admin/users/reg/active",
        &[("csrf", &csrf), ("active", "false")],
    )
    .await;
    assert_eq!(other.status, StatusCode::SEE_OTHER);
    assert!(world.service.login("reg", PASSWORD, None).is_err());

    let (stat, stat_csrf) = world.session("stat", Role::Statistician);
    world.token("stat", Role::Statistician);
    let unknown = form(
        &app,
        &stat,
        "/account/tokens/revoke",
        &[("csrf", &stat_csrf), ("token", &"0".repeat(64))],
    )
    .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert!(
        unknown.body.contains("id=\"token-error\""),
        "{}",
        unknown.body
    );
    assert!(
        unknown.body.contains("id=\"tokens\""),
        "the token list again"
    );
}
