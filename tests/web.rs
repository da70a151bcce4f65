//! The web app as a black box: each test starts the real `bayestrial serve` on a free port, on
//! a fresh SQLite file (and, when `BAYESTRIAL_TEST_POSTGRES` names a server, the matrix and
//! blinding tests again on a fresh PostgreSQL database), and talks HTTP to it: the
//! authorization matrix, CSRF, blinding (checked by parsing the responses), the JSON API's
//! errors, login throttling, the protocol editor, and e-mail to a real SMTP server when
//! `BAYESTRIAL_TEST_SMTP` is set.

#![expect(clippy::expect_used, reason = "tests fail loudly")]

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::{Connection, PgConnection};
use serde_json::{json, Value};

const PASSWORD: &str = "correct horse battery staple";

/// A binary platform trial with a control; looks every `every` outcomes.
fn protocol(id: &str, blinded: bool, every: u32) -> String {
    format!(
        r#"[trial]
id = "{id}"
title = "Web test trial"
design = "platform"
max_participants = 200
blinded = {blinded}

[outcome]
kind = "binary"
name = "Response"
better = "higher"

[[arm]]
id = "control"
control = true
[[arm]]
id = "a"
[[arm]]
id = "b"

[allocation]
rule = "thompson"
power = 0.5
control = "sqrt-k"
min = 0.05

[analysis]
looks = {{ first = {every}, every = {every} }}

[decision]
superiority = 0.999
inferiority = 0.001

[[scenario]]
name = "null"
truth = {{ control = 0.3, a = 0.3, b = 0.3 }}
accrual_per_week = 10
"#
    )
}

/// A fresh database: an SQLite file, or a PostgreSQL database dropped afterwards.
struct Database {
    url: String,
    dir: tempfile::TempDir,
    dropper: Option<(String, String)>,
}

impl Database {
    fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("temporary directory");
        Self {
            url: dir.path().join("web.db").display().to_string(),
            dir,
            dropper: None,
        }
    }

    fn postgres() -> Option<Self> {
        let base = std::env::var("BAYESTRIAL_TEST_POSTGRES").ok()?;
        let name = format!("btweb_{}_{}", std::process::id(), nanos());
        PgConnection::establish(&base)
            .expect("PostgreSQL server")
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .expect("create database");
        let (prefix, _) = base.rsplit_once('/').expect("URL names a database");
        Some(Self {
            url: format!("{prefix}/{name}"),
            dir: tempfile::tempdir().expect("temporary directory"),
            dropper: Some((base, name)),
        })
    }

    fn all() -> Vec<Self> {
        let mut all = vec![Self::sqlite()];
        all.extend(Self::postgres());
        all
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        if let Some((base, name)) = &self.dropper {
            if let Ok(mut conn) = PgConnection::establish(base) {
                let _ = conn.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
            }
        }
    }
}

fn nanos() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default()
}

/// The server process.
struct Server {
    child: Child,
    base: String,
    admin_password: String,
    /// Kept so the database lives (and is dropped) with the server.
    _db: Database,
}

impl Server {
    fn start(db: Database, extra: &[&str]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_bayestrial"))
            .args(["serve", "--bind", "127.0.0.1:0", "--workers", "2"])
            .args(["--database-url", &db.url])
            .arg("--data-dir")
            .arg(db.dir.path())
            // No demo trials: the data directory holds no protocol files.
            .arg("--protocols")
            .arg(db.dir.path())
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("server starts");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let (mut password, mut base) = (None, None);
        while base.is_none() {
            let line = lines
                .next()
                .expect("the server printed its address")
                .expect("stdout line");
            if let Some(rest) = line.split("password \"").nth(1) {
                password = rest.split('"').next().map(str::to_owned);
            }
            if let Some(address) = line.strip_prefix("bayestrial: listening on ") {
                base = Some(address.trim().to_owned());
            }
        }
        // Keep draining stdout so the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Self {
            child,
            base: base.expect("address"),
            admin_password: password.expect("the admin password was printed"),
            _db: db,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One HTTP answer.
#[derive(Debug)]
struct Reply {
    status: u16,
    location: String,
    cookies: Vec<(String, String)>,
    /// Every header but `Set-Cookie`, by lower-case name (repeated headers joined with ", ").
    headers: HashMap<String, String>,
    body: String,
}

impl Reply {
    /// A header's value, or "" when the answer has none.
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map_or("", String::as_str)
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {} {}", self.status, self.body))
    }
}

fn agent() -> ureq::Agent {
    ureq::AgentBuilder::new()
        .redirects(0)
        .timeout(Duration::from_secs(60))
        .build()
}

fn reply(result: Result<ureq::Response, ureq::Error>) -> Reply {
    let response = match result {
        Ok(response) => response,
        Err(ureq::Error::Status(_, response)) => response,
        Err(other) => panic!("HTTP transport error: {other}"),
    };
    let status = response.status();
    let location = response.header("Location").unwrap_or_default().to_owned();
    let cookies = response
        .all("Set-Cookie")
        .iter()
        .filter_map(|c| {
            let pair = c.split(';').next()?;
            let (k, v) = pair.split_once('=')?;
            Some((k.trim().to_owned(), v.trim().to_owned()))
        })
        .collect();
    let headers = response
        .headers_names()
        .into_iter()
        .filter(|name| !name.eq_ignore_ascii_case("set-cookie"))
        .map(|name| {
            let value = response.all(&name).join(", ");
            (name.to_ascii_lowercase(), value)
        })
        .collect();
    let body = response.into_string().unwrap_or_default();
    Reply {
        status,
        location,
        cookies,
        headers,
        body,
    }
}

/// A browser: cookies and the current session's CSRF token.
struct Browser<'a> {
    server: &'a Server,
    agent: ureq::Agent,
    cookies: HashMap<String, String>,
    csrf: String,
}

fn hidden_csrf(html: &str) -> Option<String> {
    let at = html.find("name=\"csrf\" value=\"")? + "name=\"csrf\" value=\"".len();
    Some(html[at..].split('"').next()?.to_owned())
}

impl<'a> Browser<'a> {
    fn anonymous(server: &'a Server) -> Self {
        Self {
            server,
            agent: agent(),
            cookies: HashMap::new(),
            csrf: String::new(),
        }
    }

    fn login(server: &'a Server, username: &str, password: &str) -> Self {
        let mut browser = Self::anonymous(server);
        let form = browser.get("/login");
        let token = hidden_csrf(&form.body).expect("login form has a CSRF token");
        let done = browser.post(
            "/login",
            &[
                ("username", username),
                ("password", password),
                ("csrf", &token),
            ],
        );
        assert_eq!(done.status, 303, "{username} logs in: {}", done.body);
        let page = browser.get("/trials");
        assert_eq!(page.status, 200);
        browser.csrf = hidden_csrf(&page.body).expect("pages carry the session's CSRF token");
        browser
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn keep(&mut self, reply: Reply) -> Reply {
        for (k, v) in &reply.cookies {
            if v.is_empty() {
                self.cookies.remove(k);
            } else {
                self.cookies.insert(k.clone(), v.clone());
            }
        }
        reply
    }

    fn get(&mut self, path: &str) -> Reply {
        let request = self
            .agent
            .get(&self.server.url(path))
            .set("Cookie", &self.cookie_header());
        let answer = reply(request.call());
        self.keep(answer)
    }

    fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Reply {
        let request = self
            .agent
            .post(&self.server.url(path))
            .set("Cookie", &self.cookie_header());
        let answer = reply(request.send_form(form));
        self.keep(answer)
    }

    /// Posts a form with the session's CSRF token added.
    fn submit(&mut self, path: &str, form: &[(&str, &str)]) -> Reply {
        let csrf = self.csrf.clone();
        let mut all = form.to_vec();
        all.push(("csrf", &csrf));
        self.post(path, &all)
    }

    fn multipart(&mut self, path: &str, fields: &[(&str, &str)]) -> Reply {
        let boundary = "----bayestrialtestboundary";
        let mut body = String::new();
        for (name, value) in fields {
            body.push_str(&format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            ));
        }
        body.push_str(&format!("--{boundary}--\r\n"));
        let request = self
            .agent
            .post(&self.server.url(path))
            .set("Cookie", &self.cookie_header())
            .set(
                "Content-Type",
                &format!("multipart/form-data; boundary={boundary}"),
            );
        let answer = reply(request.send_string(&body));
        self.keep(answer)
    }
}

/// A JSON API client.
struct Api<'a> {
    server: &'a Server,
    agent: ureq::Agent,
    token: String,
}

impl<'a> Api<'a> {
    fn login(server: &'a Server, username: &str, password: &str) -> Self {
        let agent = agent();
        let answer = reply(
            agent
                .post(&server.url("/api/session"))
                .send_json(json!({ "username": username, "password": password })),
        );
        assert_eq!(answer.status, 200, "{username}: {}", answer.body);
        let token = answer.json()["token"].as_str().expect("token").to_owned();
        Self {
            server,
            agent,
            token,
        }
    }

    fn get(&self, path: &str) -> Reply {
        reply(
            self.agent
                .get(&self.server.url(path))
                .set("Authorization", &format!("Bearer {}", self.token))
                .call(),
        )
    }

    fn post(&self, path: &str, body: Value) -> Reply {
        reply(
            self.agent
                .post(&self.server.url(path))
                .set("Authorization", &format!("Bearer {}", self.token))
                .send_json(body),
        )
    }
}

const ROLES: [&str; 5] = ["admin", "statistician", "coordinator", "dmc", "regulator"];

fn user_of(role: &str) -> String {
    format!("{role}1")
}

/// Creates one user per role (through the admin's page).
fn users(server: &Server) {
    let mut admin = Browser::login(server, "admin", &server.admin_password);
    for role in ROLES {
        let name = user_of(role);
        let email = format!("{name}@example.org");
        let done = admin.submit(
            "/admin/users",
            &[
                ("username", &name),
                ("name", &format!("Test {role}")),
                ("email", &email),
                ("role", role),
                ("password", PASSWORD),
            ],
        );
        assert_eq!(done.status, 303, "add {name}: {}", done.body);
    }
    // A second statistician: the approval of a protocol comes from someone other than its
    // author (four eyes).
    let done = admin.submit(
        "/admin/users",
        &[
            ("username", APPROVER),
            ("name", "Test approver"),
            ("email", "approver@example.org"),
            ("role", "statistician"),
            ("password", PASSWORD),
        ],
    );
    assert_eq!(done.status, 303, "add {APPROVER}: {}", done.body);
}

/// The statistician who approves the protocols `statistician1` writes.
const APPROVER: &str = "approver1";

/// Creates, approves and starts a trial through the API; returns its id.
fn started_trial(server: &Server, id: &str, blinded: bool, every: u32) -> String {
    let stat = Api::login(server, &user_of("statistician"), PASSWORD);
    let created = stat.post(
        "/api/trials",
        json!({ "protocol": protocol(id, blinded, every) }),
    );
    assert_eq!(created.status, 201, "{}", created.body);
    let signed = Api::login(server, APPROVER, PASSWORD).post(
        &format!("/api/trials/{id}/signatures"),
        json!({ "password": PASSWORD, "meaning": "approval" }),
    );
    assert_eq!(signed.status, 201, "{}", signed.body);
    let started = stat.post(&format!("/api/trials/{id}/start"), json!({}));
    assert_eq!(started.status, 200, "{}", started.body);
    id.to_owned()
}

/// Enrols `n` participants (`prefix-NNN`) and records an outcome for each: arm `b` fails,
/// the others respond.
fn run_participants(server: &Server, trial: &str, prefix: &str, n: u32) -> Vec<Value> {
    let coord = Api::login(server, &user_of("coordinator"), PASSWORD);
    let mut answers = Vec::new();
    for i in 0..n {
        let subject = format!("{prefix}-{i:03}");
        let enrolled = coord.post(
            &format!("/api/trials/{trial}/participants"),
            json!({ "subject_id": subject, "idempotency_key": format!("key-{subject}") }),
        );
        assert_eq!(enrolled.status, 201, "{}", enrolled.body);
        let answer = enrolled.json();
        let fails = answer["arm"].as_str() == Some("b");
        let recorded = coord.post(
            &format!("/api/trials/{trial}/participants/{subject}/outcomes"),
            json!({ "value": if fails { 0 } else { 1 } }),
        );
        assert!(
            recorded.status == 201 || recorded.status == 409,
            "{}",
            recorded.body
        );
        answers.push(answer);
    }
    answers
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Expect {
    /// Passes authentication and authorization (any status but 401, 403 or a login redirect).
    Allowed,
    /// 403.
    Forbidden,
    /// Anonymous: pages redirect to /login (303), the API answers 401.
    Login,
}

fn check(route: &str, who: &str, got: &Reply, expect: Expect) {
    let ok = match expect {
        Expect::Allowed => {
            got.status != 401 && got.status != 403 && got.location != "/login" && got.status < 500
        }
        Expect::Forbidden => got.status == 403,
        Expect::Login => (got.status == 303 && got.location == "/login") || got.status == 401,
    };
    assert!(
        ok,
        "{route} as {who}: expected {expect:?}, got {} (location {:?}): {}",
        got.status,
        got.location,
        &got.body.chars().take(300).collect::<String>()
    );
}

/// Every role.
const ALL: &[&str] = &ROLES;
/// The roles that read the audit trail.
const AUDIT: &[&str] = &["admin", "statistician", "dmc", "regulator"];
/// The roles that see participants.
const PEOPLE: &[&str] = &["coordinator", "statistician", "dmc"];

/// A page read with GET: (path, roles allowed).
type PageRoute = (String, &'static [&'static str]);
/// A form: (path, fields, roles allowed). Allowed roles send input that the service then
/// refuses or accepts harmlessly; the point is that they get past the role check.
type FormRoute = (
    String,
    Vec<(&'static str, &'static str)>,
    &'static [&'static str],
);
/// A JSON API call: (method, path, body, roles allowed).
type ApiRoute = (&'static str, String, Value, &'static [&'static str]);

/// The route table of the authorization matrix (ARCHITECTURE §8), on a [`Matrix`] server:
/// every page, form and API route with the roles that may use it. The forms are walked in
/// this order (pause before resume, …).
struct RouteTable {
    pages: Vec<PageRoute>,
    forms: Vec<FormRoute>,
    api: Vec<ApiRoute>,
}

impl RouteTable {
    fn of(trial: &str, nof1: &str) -> Self {
        let pages: Vec<PageRoute> = vec![
            ("/trials".into(), ALL),
            ("/account".into(), ALL),
            (format!("/trials/{trial}"), ALL),
            ("/trials/new".into(), &["statistician"]),
            (
                format!("/trials/{trial}/dashboard"),
                &["statistician", "dmc"],
            ),
            (format!("/trials/{trial}/report"), &["statistician", "dmc"]),
            (format!("/trials/{trial}/enrol"), &["coordinator"]),
            (format!("/trials/{trial}/participants"), PEOPLE),
            (format!("/trials/{trial}/participants/M-000"), PEOPLE),
            ("/audit".into(), AUDIT),
            ("/admin/users".into(), &["admin"]),
            // n-of-1: the patient's calendar, their report, the pooled series.
            (format!("/trials/{nof1}/enrol"), &["coordinator"]),
            (format!("/trials/{nof1}/participants/N-000"), PEOPLE),
            (format!("/trials/{nof1}/participants/N-000/report"), PEOPLE),
            (format!("/trials/{nof1}/series"), &["statistician", "dmc"]),
            (
                format!("/trials/{nof1}/dashboard"),
                &["statistician", "dmc"],
            ),
        ];
        let forms: Vec<FormRoute> = vec![
            (
                format!("/trials/{trial}/sign"),
                vec![("password", PASSWORD), ("meaning", "review")],
                &["statistician", "dmc"],
            ),
            (format!("/trials/{trial}/start"), vec![], &["statistician"]),
            (
                format!("/trials/{trial}/pause"),
                vec![("reason", "")],
                &["statistician"],
            ),
            (format!("/trials/{trial}/resume"), vec![], &["statistician"]),
            (
                format!("/trials/{trial}/amend"),
                vec![
                    ("arm_id", "c"),
                    ("arm_name", "C"),
                    ("password", PASSWORD),
                    ("reason", "matrix"),
                ],
                &["statistician"],
            ),
            (
                format!("/trials/{trial}/simulations"),
                vec![("scenario", "null"), ("reps", "2"), ("seed", "1")],
                &["statistician"],
            ),
            (
                format!("/trials/{trial}/participants"),
                vec![("subject_id", "M-000"), ("eligible", "yes")],
                &["coordinator"],
            ),
            (
                format!("/trials/{trial}/participants/M-000/outcome"),
                vec![("value", "1")],
                &["coordinator"],
            ),
            (
                format!("/trials/{nof1}/participants"),
                vec![
                    ("subject_id", "N-001"),
                    ("eligible", "yes"),
                    ("start_date", "2025-11-03"),
                ],
                &["coordinator"],
            ),
            (
                format!("/trials/{nof1}/participants/N-000/measurements"),
                vec![("day", "4"), ("value", "5")],
                &["coordinator"],
            ),
            (
                format!("/trials/{trial}/recommendations"),
                vec![
                    ("look", "0"),
                    ("action", "continue"),
                    ("rationale", "matrix"),
                    ("password", PASSWORD),
                ],
                &["dmc"],
            ),
            ("/audit/verify".into(), vec![], AUDIT),
            (
                format!("/trials/{trial}/export.jsonl"),
                vec![],
                &["statistician", "dmc"],
            ),
            (
                "/admin/users".into(),
                vec![
                    ("username", "x"),
                    ("name", "X"),
                    ("email", "bad"),
                    ("role", "dmc"),
                    ("password", "short"),
                ],
                &["admin"],
            ),
            (
                "/admin/users/dmc1/roles".into(),
                vec![("role", "dmc"), ("change", "grant")],
                &["admin"],
            ),
            (
                "/admin/users/nobody/active".into(),
                vec![("active", "true")],
                &["admin"],
            ),
        ];
        let api: Vec<ApiRoute> = vec![
            ("GET", "/api/trials".into(), Value::Null, ALL),
            ("GET", format!("/api/trials/{trial}"), Value::Null, ALL),
            (
                "GET",
                format!("/api/trials/{trial}/events?after=0"),
                Value::Null,
                AUDIT,
            ),
            (
                "GET",
                format!("/api/trials/{trial}/participants"),
                Value::Null,
                PEOPLE,
            ),
            (
                "POST",
                "/api/trials".into(),
                json!({ "protocol": "not toml" }),
                &["statistician"],
            ),
            (
                "POST",
                format!("/api/trials/{trial}/signatures"),
                json!({ "password": PASSWORD, "meaning": "review" }),
                &["statistician", "dmc"],
            ),
            (
                "POST",
                format!("/api/trials/{trial}/start"),
                json!({}),
                &["statistician"],
            ),
            (
                "POST",
                format!("/api/trials/{trial}/participants"),
                json!({ "subject_id": "M-001", "idempotency_key": "key-M-001" }),
                &["coordinator"],
            ),
            (
                "POST",
                format!("/api/trials/{trial}/participants/M-001/outcomes"),
                json!({ "value": 1 }),
                &["coordinator"],
            ),
            (
                "GET",
                format!("/api/trials/{nof1}/participants/N-000/report"),
                Value::Null,
                PEOPLE,
            ),
            (
                "GET",
                format!("/api/trials/{nof1}/series"),
                Value::Null,
                &["statistician", "dmc"],
            ),
            (
                "POST",
                format!("/api/trials/{nof1}/participants/N-000/measurements"),
                json!({ "day": 5, "value": 5 }),
                &["coordinator"],
            ),
        ];
        Self { pages, forms, api }
    }
}

/// A server for the route table: one user per role, a started blinded platform trial with
/// three participants (M-000…), and a started n-of-1 trial with patient N-000.
struct Matrix {
    server: Server,
    trial: String,
    nof1: String,
}

impl Matrix {
    fn start(db: Database) -> Self {
        let server = Server::start(db, &[]);
        users(&server);
        let trial = started_trial(&server, "MATRIX", true, 10);
        run_participants(&server, &trial, "M", 3);
        let nof1 = started_nof1(&server, "MATRIX-N1");
        let enrolled = Api::login(&server, &user_of("coordinator"), PASSWORD).post(
            &format!("/api/trials/{nof1}/participants"),
            json!({ "subject_id": "N-000", "idempotency_key": "key-N-000",
                    "start_date": "2025-11-03" }),
        );
        assert_eq!(enrolled.status, 201, "{}", enrolled.body);
        Self {
            server,
            trial,
            nof1,
        }
    }

    fn routes(&self) -> RouteTable {
        RouteTable::of(&self.trial, &self.nof1)
    }

    /// A logged-in browser per role.
    fn browsers(&self) -> Vec<(String, Browser<'_>)> {
        ROLES
            .iter()
            .map(|role| {
                (
                    role.to_string(),
                    Browser::login(&self.server, &user_of(role), PASSWORD),
                )
            })
            .collect()
    }

    /// An API token holder per role.
    fn apis(&self) -> Vec<(String, Api<'_>)> {
        ROLES
            .iter()
            .map(|role| {
                (
                    role.to_string(),
                    Api::login(&self.server, &user_of(role), PASSWORD),
                )
            })
            .collect()
    }
}

/// The protocol editor's multipart form (`POST /trials`), validating a protocol.
fn validate_in_editor(browser: &mut Browser<'_>) -> Reply {
    let csrf = browser.csrf.clone();
    browser.multipart(
        "/trials",
        &[
            ("csrf", &csrf),
            ("action", "validate"),
            ("protocol", &protocol("EDIT", false, 10)),
        ],
    )
}

/// Calls an API route as a token holder.
fn call_api(client: &Api<'_>, method: &str, path: &str, body: &Value) -> Reply {
    if method == "GET" {
        client.get(path)
    } else {
        client.post(path, body.clone())
    }
}

#[test]
fn every_route_answers_every_role_as_the_architecture_says() {
    for db in Database::all() {
        let matrix = Matrix::start(db);
        let (server, trial) = (&matrix.server, &matrix.trial);
        let routes = matrix.routes();
        let mut browsers = matrix.browsers();
        let apis = matrix.apis();
        let mut anonymous = Browser::anonymous(server);
        for (path, allowed) in &routes.pages {
            for (role, browser) in browsers.iter_mut() {
                let got = browser.get(path);
                let expect = if allowed.contains(&role.as_str()) {
                    Expect::Allowed
                } else {
                    Expect::Forbidden
                };
                check(path, role, &got, expect);
            }
            check(path, "anonymous", &anonymous.get(path), Expect::Login);
        }
        for (path, fields, allowed) in &routes.forms {
            for (role, browser) in browsers.iter_mut() {
                let got = browser.submit(path, fields);
                let expect = if allowed.contains(&role.as_str()) {
                    Expect::Allowed
                } else if *path == format!("/trials/{trial}/export.jsonl")
                    && AUDIT.contains(&role.as_str())
                {
                    // Blinded audit roles may export once the trial has stopped: 409 now.
                    assert_eq!(got.status, 409, "{path} as {role}: {}", got.body);
                    continue;
                } else {
                    Expect::Forbidden
                };
                check(path, role, &got, expect);
            }
            check(
                path,
                "anonymous",
                &anonymous.post(path, fields),
                Expect::Login,
            );
        }
        // The protocol editor (multipart).
        for (role, browser) in browsers.iter_mut() {
            let got = validate_in_editor(browser);
            let expect = if role == "statistician" {
                Expect::Allowed
            } else {
                Expect::Forbidden
            };
            check("POST /trials", role, &got, expect);
        }
        for (method, path, body, allowed) in &routes.api {
            for (role, client) in &apis {
                let got = call_api(client, method, path, body);
                let expect = if allowed.contains(&role.as_str()) {
                    Expect::Allowed
                } else {
                    Expect::Forbidden
                };
                check(&format!("{method} {path}"), role, &got, expect);
                if got.status >= 400 {
                    let error = got.json();
                    assert!(
                        error["error"].is_string() && error["detail"].is_string(),
                        "{method} {path} as {role}: errors are {{error, detail}}: {}",
                        got.body
                    );
                }
            }
            let anon = reply(if *method == "GET" {
                agent().get(&server.url(path)).call()
            } else {
                agent().post(&server.url(path)).send_json(body.clone())
            });
            assert_eq!(anon.status, 401, "{method} {path} anonymous: {}", anon.body);
            assert_eq!(anon.json()["error"], "unauthorized");
        }
        // The chain still verifies after all of that.
        let mut regulator = Browser::login(server, &user_of("regulator"), PASSWORD);
        let verified = regulator.submit("/audit/verify", &[]);
        assert!(
            verified.body.contains("All chains verified"),
            "{}",
            verified.body
        );
        assert!(
            verified
                .body
                .contains("The tables the pages show match the chains"),
            "{}",
            verified.body
        );
    }
}

fn assert_no_store(what: &str, got: &Reply) {
    assert_eq!(
        got.header("Cache-Control"),
        "no-store",
        "{what} ({}) must not be cached: {:?}",
        got.status,
        got.headers
    );
}

#[test]
fn no_answer_that_needs_a_login_is_cached() {
    let matrix = Matrix::start(Database::sqlite());
    let routes = matrix.routes();
    let mut browsers = matrix.browsers();
    let apis = matrix.apis();
    let trial = &matrix.trial;
    let mut statuses: Vec<u16> = Vec::new();
    let mut seen = |what: String, got: Reply| {
        assert_no_store(&what, &got);
        statuses.push(got.status);
    };
    // Every route of the table as every role (allowed, refused, in conflict) and a few that
    // name nothing.
    let missing = [
        "/trials/NO-SUCH-TRIAL".to_owned(),
        format!("/trials/{trial}/participants/NOBODY"),
        "/no/such/page".to_owned(),
    ];
    for (role, browser) in browsers.iter_mut() {
        for (path, _) in &routes.pages {
            seen(format!("GET {path} as {role}"), browser.get(path));
        }
        for (path, fields, _) in &routes.forms {
            seen(
                format!("POST {path} as {role}"),
                browser.submit(path, fields),
            );
        }
        seen(
            format!("POST /trials as {role}"),
            validate_in_editor(browser),
        );
        for path in &missing {
            seen(format!("GET {path} as {role}"), browser.get(path));
        }
    }
    let missing_api = [
        "/api/trials/NO-SUCH-TRIAL".to_owned(),
        format!("/api/trials/{}/participants/NOBODY/report", matrix.nof1),
        "/api/no/such/route".to_owned(),
    ];
    for (role, client) in &apis {
        for (method, path, body, _) in &routes.api {
            seen(
                format!("{method} {path} as {role} (token)"),
                call_api(client, method, path, body),
            );
        }
        for path in &missing_api {
            seen(format!("GET {path} as {role} (token)"), client.get(path));
        }
    }
    for status in [200, 201, 303, 403, 404, 409] {
        assert!(
            statuses.contains(&status),
            "the walk met a {status} answer: {statuses:?}"
        );
    }
    // Static files stay cacheable.
    let css = Browser::anonymous(&matrix.server).get("/static/app.css");
    assert_eq!(css.status, 200);
    assert_eq!(css.header("Cache-Control"), "max-age=3600");
}

#[test]
fn a_form_without_the_sessions_csrf_token_is_refused_and_changes_nothing() {
    let server = Server::start(Database::sqlite(), &[]);
    users(&server);
    let stat = Api::login(&server, &user_of("statistician"), PASSWORD);
    let created = stat.post(
        "/api/trials",
        json!({ "protocol": protocol("CSRF", false, 10) }),
    );
    assert_eq!(created.status, 201, "{}", created.body);
    let signed = Api::login(&server, APPROVER, PASSWORD).post(
        "/api/trials/CSRF/signatures",
        json!({ "password": PASSWORD, "meaning": "approval" }),
    );
    assert_eq!(signed.status, 201);
    let mut browser = Browser::login(&server, &user_of("statistician"), PASSWORD);
    let missing = browser.post("/trials/CSRF/start", &[]);
    assert_eq!(missing.status, 403, "{}", missing.body);
    let wrong = browser.post("/trials/CSRF/start", &[("csrf", "0123456789abcdef")]);
    assert_eq!(wrong.status, 403, "{}", wrong.body);
    assert_eq!(stat.get("/api/trials/CSRF").json()["status"], "draft");
    // The login form's double-submit token too.
    let mut anonymous = Browser::anonymous(&server);
    let login = anonymous.post(
        "/login",
        &[
            ("username", "statistician1"),
            ("password", PASSWORD),
            ("csrf", "forged"),
        ],
    );
    assert_eq!(login.status, 403);
    // With the right token it works.
    let started = browser.submit("/trials/CSRF/start", &[]);
    assert_eq!(started.status, 303, "{}", started.body);
    assert_eq!(stat.get("/api/trials/CSRF").json()["status"], "running");
}

/// Keys that carry arm-level results or allocation probabilities.
const UNBLINDED_KEYS: &[&str] = &[
    "results",
    "posteriors",
    "probabilities",
    "probability",
    "p_best",
    "p_better_than_control",
    "p_equivalent",
    "posterior",
    "allocation",
    "draw",
    "mean",
];

fn unblinded_keys(value: &Value, path: &str, found: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, inner) in map {
                if UNBLINDED_KEYS.contains(&key.as_str()) && !inner.is_null() {
                    found.push(format!("{path}.{key}"));
                }
                unblinded_keys(inner, &format!("{path}.{key}"), found);
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                unblinded_keys(item, &format!("{path}[{i}]"), found);
            }
        }
        _ => {}
    }
}

fn assert_blind(what: &str, value: &Value) {
    let mut found = Vec::new();
    unblinded_keys(value, "", &mut found);
    assert!(found.is_empty(), "{what} carries results: {found:?}");
}

#[test]
fn blinded_roles_never_receive_arm_level_results_or_allocation_probabilities() {
    for db in Database::all() {
        let server = Server::start(db, &[]);
        users(&server);
        let trial = started_trial(&server, "BLIND", true, 10);
        let answers = run_participants(&server, &trial, "B", 24);
        // The coordinator's enrolment answers on a blinded trial: a kit code, no arm.
        for answer in &answers {
            assert_blind("enrolment answer", answer);
            assert!(answer.get("arm").is_none(), "{answer}");
            assert!(
                answer["kit"]
                    .as_str()
                    .is_some_and(|k| k.starts_with("KIT-")),
                "{answer}"
            );
        }
        let stat = Api::login(&server, &user_of("statistician"), PASSWORD);
        let unblinded = stat.get("/api/trials/BLIND").json();
        assert!(
            unblinded["results"]["looks"]
                .as_array()
                .is_some_and(|l| !l.is_empty()),
            "looks ran and the statistician sees them: {unblinded}"
        );
        let mut found = Vec::new();
        unblinded_keys(&unblinded, "", &mut found);
        assert!(
            !found.is_empty(),
            "the check can see results when they are there"
        );
        for role in ["coordinator", "admin", "regulator"] {
            let api = Api::login(&server, &user_of(role), PASSWORD);
            let view = api.get("/api/trials/BLIND");
            assert_eq!(view.status, 200);
            assert_blind(&format!("GET /api/trials/BLIND as {role}"), &view.json());
            let list = api.get("/api/trials");
            assert_blind(&format!("GET /api/trials as {role}"), &list.json());
            let participants = api.get("/api/trials/BLIND/participants");
            if participants.status == 200 {
                let list = participants.json();
                assert_blind(&format!("participants as {role}"), &list);
                for p in list.as_array().expect("list") {
                    assert!(p.get("arm").is_none(), "{role} sees an arm: {p}");
                }
            }
            let events = api.get("/api/trials/BLIND/events?after=0");
            if events.status == 200 {
                for record in events.json().as_array().expect("records") {
                    let payload: Value =
                        serde_json::from_str(record["payload"].as_str().expect("payload text"))
                            .unwrap_or(Value::Null);
                    assert_blind(&format!("event {} as {role}", record["seq"]), &payload);
                }
            }
        }
        // The coordinator's pages.
        let mut coordinator = Browser::login(&server, &user_of("coordinator"), PASSWORD);
        for path in [
            "/trials",
            "/trials/BLIND",
            "/trials/BLIND/participants",
            "/trials/BLIND/participants/B-000",
            "/trials/BLIND/enrol",
        ] {
            let page = coordinator.get(path);
            assert_eq!(page.status, 200, "{path}");
            let text = page.body.to_lowercase();
            for word in ["p(best)", "probabilit", "posterior", "than control"] {
                assert!(!text.contains(word), "{path} shows {word:?}");
            }
            // The trial page lists the protocol's arms (the design); pages about participants
            // must not say which arm anyone is on.
            if path.contains("participants") || path.contains("enrol") {
                for arm in [
                    "<td>control",
                    "<td>a<",
                    "<td>b<",
                    "<strong>control<",
                    "<strong>b<",
                ] {
                    assert!(!page.body.contains(arm), "{path} shows an arm: {arm}");
                }
                assert!(
                    page.body.contains("KIT-") || path.ends_with("enrol"),
                    "{path}"
                );
            }
        }
        // The statistician's dashboard shows them, and the view is recorded.
        let mut statistician = Browser::login(&server, &user_of("statistician"), PASSWORD);
        let dashboard = statistician.get("/trials/BLIND/dashboard");
        assert_eq!(dashboard.status, 200);
        assert!(dashboard.body.contains("P(better than control)"));
        assert!(dashboard.body.contains("<svg"), "charts are inline SVG");
        let views = Api::login(&server, &user_of("dmc"), PASSWORD)
            .get("/api/trials/BLIND")
            .json();
        assert!(views["results"].is_object());
    }
}

#[test]
fn the_api_answers_errors_as_json_with_the_right_status() {
    let server = Server::start(Database::sqlite(), &[]);
    users(&server);
    let stat = Api::login(&server, &user_of("statistician"), PASSWORD);
    let missing = stat.get("/api/trials/NOPE");
    assert_eq!(missing.status, 404);
    assert_eq!(missing.json()["error"], "not_found");
    let unknown = stat.get("/api/nothing-here");
    assert_eq!(unknown.status, 404);
    assert_eq!(unknown.json()["error"], "not_found");
    let bad_json = reply(
        agent()
            .post(&server.url("/api/trials"))
            .set("Authorization", &format!("Bearer {}", stat.token))
            .set("Content-Type", "application/json")
            .send_string("{not json"),
    );
    assert_eq!(bad_json.status, 400);
    assert_eq!(bad_json.json()["error"], "bad_request");
    let invalid = stat.post(
        "/api/trials",
        json!({ "protocol": "[trial]\nid = \"X\"\ntitle = \"t\"\ndesign = \"platform\"\nmax_participants = 0\n" }),
    );
    assert_eq!(invalid.status, 422);
    let detail = invalid.json()["detail"]
        .as_str()
        .expect("detail")
        .to_owned();
    assert!(detail.contains("api:"), "the error says where: {detail}");
    let wrong = reply(
        agent()
            .post(&server.url("/api/session"))
            .send_json(json!({ "username": "statistician1", "password": "not the password" })),
    );
    assert_eq!(wrong.status, 401);
    let document = reply(agent().get(&server.url("/api/openapi.json")).call()).json();
    assert!(document["openapi"]
        .as_str()
        .is_some_and(|v| v.starts_with('3')));
    for path in [
        "/api/session",
        "/api/trials",
        "/api/trials/{id}/signatures",
        "/api/trials/{id}/start",
        "/api/trials/{id}/participants",
        "/api/trials/{id}/participants/{subject_id}/outcomes",
        "/api/trials/{id}",
        "/api/trials/{id}/events",
    ] {
        assert!(
            document["paths"][path].is_object(),
            "OpenAPI documents {path}"
        );
    }
}

#[test]
fn repeated_failed_logins_lock_the_user_name() {
    let server = Server::start(Database::sqlite(), &[]);
    users(&server);
    let attempt = |password: &str| {
        reply(
            agent()
                .post(&server.url("/api/session"))
                .send_json(json!({ "username": "coordinator1", "password": password })),
        )
    };
    for _ in 0..5 {
        assert_eq!(attempt("wrong password!!").status, 401);
    }
    let locked = attempt(PASSWORD);
    assert_eq!(locked.status, 429, "{}", locked.body);
    assert!(locked.json()["detail"]
        .as_str()
        .is_some_and(|d| d.contains("too many")));
    // Another user is not affected.
    assert_eq!(
        reply(
            agent()
                .post(&server.url("/api/session"))
                .send_json(json!({ "username": "dmc1", "password": PASSWORD })),
        )
        .status,
        200
    );
    // Every attempt is on the system chain.
    let mut regulator = Browser::login(&server, &user_of("regulator"), PASSWORD);
    let failures = regulator.get("/audit?chain=system&kind=login_failed");
    assert!(
        failures.body.contains("Records 1–6 of 6."),
        "{}",
        failures.body
    );
}

#[test]
fn the_protocol_editor_shows_errors_at_their_lines_and_creates_valid_trials() {
    let server = Server::start(Database::sqlite(), &[]);
    users(&server);
    let mut stat = Browser::login(&server, &user_of("statistician"), PASSWORD);
    let csrf = stat.csrf.clone();
    let broken =
        protocol("EDIT", false, 10).replace("max_participants = 200", "max_participants = -3");
    let answer = stat.multipart(
        "/trials",
        &[
            ("csrf", &csrf),
            ("action", "validate"),
            ("protocol", &broken),
        ],
    );
    assert_eq!(answer.status, 422, "{}", answer.body);
    assert!(answer.body.contains("validation-errors"));
    assert!(
        answer.body.contains("line 5:"),
        "errors name their line: {}",
        answer.body
    );
    assert!(
        answer.body.contains("id=\"L5\""),
        "the line is marked in the listing"
    );
    let valid = stat.multipart(
        "/trials",
        &[
            ("csrf", &csrf),
            ("action", "validate"),
            ("protocol", &protocol("EDIT", false, 10)),
        ],
    );
    assert_eq!(valid.status, 200);
    assert!(valid.body.contains("validation-ok"));
    let created = stat.multipart(
        "/trials",
        &[
            ("csrf", &csrf),
            ("action", "create"),
            ("protocol", &protocol("EDIT", false, 10)),
        ],
    );
    assert_eq!(created.status, 303, "{}", created.body);
    assert_eq!(created.location, "/trials/EDIT");
    let page = stat.get("/trials/EDIT");
    assert!(page.body.contains("not yet approved"));
    // Simulation as a background job with its report.
    let job = stat.submit(
        "/trials/EDIT/simulations",
        &[("scenario", "null"), ("reps", "40"), ("seed", "7")],
    );
    assert_eq!(job.status, 303, "{}", job.body);
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let status = stat.get(&job.location);
        if status.body.contains("simulation-done") {
            break;
        }
        assert!(!status.body.contains("failed"), "{}", status.body);
        assert!(Instant::now() < deadline, "the simulation finishes");
        std::thread::sleep(Duration::from_millis(200));
    }
    let report = stat.get(&format!("{}/report", job.location));
    assert_eq!(report.status, 200);
    assert!(report.body.contains("<svg"), "the report has its charts");
}

/// A real SMTP server on loopback (Python's aiosmtpd; `.ci/run` installs it).
struct SmtpCapture {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl SmtpCapture {
    fn start() -> Self {
        let dir = tempfile::tempdir().expect("temporary directory");
        let mut child = Command::new("python3")
            .arg("tests/smtp/capture.py")
            .arg("--dir")
            .arg(dir.path())
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 tests/smtp/capture.py starts");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("the SMTP server prints its port");
        let port = line
            .trim()
            .strip_prefix("listening on ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"));
        Self { child, port, dir }
    }

    fn messages(&self) -> Vec<Value> {
        let mut all: Vec<_> = std::fs::read_dir(self.dir.path())
            .expect("capture dir")
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        all.sort();
        all.iter()
            .filter_map(|p| std::fs::read_to_string(p).ok())
            .filter_map(|t| serde_json::from_str(&t).ok())
            .collect()
    }
}

impl Drop for SmtpCapture {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn a_decision_at_a_look_is_mailed_to_statisticians_and_the_dmc_over_smtp() {
    if std::env::var_os("BAYESTRIAL_TEST_SMTP").is_none() {
        eprintln!("skipped: set BAYESTRIAL_TEST_SMTP=1 (with python3 and aiosmtpd) to run");
        return;
    }
    let smtp = SmtpCapture::start();
    let port = smtp.port.to_string();
    let server = Server::start(
        Database::sqlite(),
        &[
            "--smtp-host",
            "127.0.0.1",
            "--smtp-port",
            &port,
            "--mail-from",
            "trials@example.org",
            "--outbox-interval-ms",
            "100",
        ],
    );
    users(&server);
    let trial = started_trial(&server, "SMTP", false, 30);
    // Arm b never responds, the others always do: b is dropped for inferiority at look 1.
    run_participants(&server, &trial, "S", 30);
    let subject = "[SMTP] arm b closed at look 1";
    let deadline = Instant::now() + Duration::from_secs(30);
    let received = loop {
        let matching: Vec<Value> = smtp
            .messages()
            .into_iter()
            .filter(|m| m["subject"] == subject)
            .collect();
        // One message each to the statisticians (the author and the approver) and the DMC.
        if matching.len() >= 3 {
            break matching;
        }
        assert!(
            Instant::now() < deadline,
            "no e-mail {subject:?} arrived; received: {:?}",
            smtp.messages()
                .iter()
                .map(|m| m["subject"].clone())
                .collect::<Vec<_>>()
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    let mut recipients: Vec<String> = received
        .iter()
        .flat_map(|m| m["rcpt_tos"].as_array().cloned().unwrap_or_default())
        .filter_map(|r| r.as_str().map(str::to_owned))
        .collect();
    recipients.sort();
    assert_eq!(
        recipients,
        [
            "approver@example.org",
            "dmc1@example.org",
            "statistician1@example.org"
        ]
    );
    for message in &received {
        assert_eq!(message["mail_from"], "trials@example.org");
        let text = message["data"].as_str().unwrap_or_default();
        assert!(!text.contains("p_better"), "no results in e-mail");
    }
    // Start, approval request and the like went out too; none of them to the wrong people.
    assert!(smtp
        .messages()
        .iter()
        .any(|m| m["subject"] == "[SMTP] trial started"));
}

/// An n-of-1 series: 5 patients, daily measurements, 7-day periods, 3 cycles, early stopping
/// after 2 cycles.
fn nof1_protocol(id: &str) -> String {
    format!(
        r#"[trial]
id = "{id}"
title = "n-of-1 series through the API"
design = "nof1"
max_participants = 5

[outcome]
kind = "continuous"
name = "Pain"
better = "lower"
min = 0
max = 10

[prior]
normal_inverse_gamma = {{ mu0 = 5.0, kappa0 = 0.01, alpha0 = 1.0, beta0 = 1.0 }}

[nof1]
treatments = ["a", "b"]
cycles = 3
period_days = 7
washout_days = 2
run_in_days = 3
measurements_per_period = 7
sequence = "pairs"
mcid = 1.0
stop_benefit = 0.95
min_cycles = 2
"#
    )
}

#[test]
fn an_nof1_series_runs_through_the_api_stops_a_patient_early_and_pools_the_series() {
    let db = Database::sqlite();
    let (url, dir) = (db.url.clone(), db.dir.path().to_owned());
    let server = Server::start(db, &[]);
    users(&server);
    let stat = Api::login(&server, &user_of("statistician"), PASSWORD);
    let created = stat.post(
        "/api/trials",
        json!({ "protocol": nof1_protocol("NOF1-API") }),
    );
    assert_eq!(created.status, 201, "{}", created.body);
    let signed = Api::login(&server, APPROVER, PASSWORD).post(
        "/api/trials/NOF1-API/signatures",
        json!({ "password": PASSWORD, "meaning": "approval" }),
    );
    assert_eq!(signed.status, 201, "{}", signed.body);
    let started = stat.post("/api/trials/NOF1-API/start", json!({}));
    assert_eq!(started.status, 200, "{}", started.body);

    let coord = Api::login(&server, &user_of("coordinator"), PASSWORD);
    let mut early = Vec::new();
    for patient in 0..5_u32 {
        let subject = format!("NP-{patient}");
        let enrolled = coord.post(
            "/api/trials/NOF1-API/participants",
            json!({ "subject_id": subject, "idempotency_key": format!("k-{subject}"),
                    "start_date": "2025-11-03" }),
        );
        assert_eq!(enrolled.status, 201, "{}", enrolled.body);
        let report = coord.get(&format!(
            "/api/trials/NOF1-API/participants/{subject}/report"
        ));
        assert_eq!(report.status, 200, "{}", report.body);
        let report = report.json();
        assert_eq!(report["periods"].as_array().map(Vec::len), Some(6));
        assert_eq!(
            report["periods"][0]["dates"][0], "2025-11-06",
            "after 3 run-in days"
        );
        // A run-in measurement is kept but not analysed.
        let run_in = coord.post(
            &format!("/api/trials/NOF1-API/participants/{subject}/measurements"),
            json!({ "date": "2025-11-04", "value": 9.5 }),
        );
        assert_eq!(run_in.status, 201, "{}", run_in.body);
        // b lowers pain by 3 points for the first four patients; the fifth responds to neither.
        let effect = if patient == 4 { 0.0 } else { 3.0 };
        let mut finished = Value::Null;
        'periods: for period in report["periods"].as_array().expect("periods") {
            let treatment = period["treatment"].as_str().expect("assigned");
            for planned in period["planned"].as_array().expect("planned days") {
                let day = planned["day"].as_u64().expect("day");
                let noise = 0.8 * ((day as f64) * 1.7 + f64::from(patient)).sin();
                let base = if treatment == "b" { 6.0 - effect } else { 6.0 };
                let value = ((base + noise) * 100.0).round() / 100.0;
                let recorded = coord.post(
                    &format!("/api/trials/NOF1-API/participants/{subject}/measurements"),
                    json!({ "day": day, "value": value }),
                );
                assert_eq!(recorded.status, 201, "{}", recorded.body);
                let receipt = recorded.json();
                if !receipt["finished"].is_null() {
                    finished = receipt["finished"].clone();
                    break 'periods;
                }
            }
        }
        assert!(!finished.is_null(), "{subject}'s trial ended");
        let report = coord
            .get(&format!(
                "/api/trials/NOF1-API/participants/{subject}/report"
            ))
            .json();
        let analysed: usize = report["effects"][0]["n"]
            .as_array()
            .expect("n")
            .iter()
            .map(|n| n.as_u64().unwrap_or(0) as usize)
            .sum();
        let in_periods = report["measurements"]
            .as_array()
            .expect("measurements")
            .iter()
            .filter(|m| m["analysed"] == true)
            .count();
        assert_eq!(analysed, in_periods, "run-in days are not analysed");
        assert!(report["sentence"]
            .as_str()
            .is_some_and(|s| s.contains("% probability that")));
        assert!(!report["curve"].as_array().expect("curve").is_empty());
        if finished["cause"] == "benefit" && report["cycles_looked"].as_u64() < Some(3) {
            early.push(subject.clone());
        }
    }
    assert!(!early.is_empty(), "a patient stops early by the rule");
    eprintln!("stopped early for benefit: {early:?}");

    // Pooled results: statisticians and the DMC, not coordinators.
    let series = stat.get("/api/trials/NOF1-API/series");
    assert_eq!(series.status, 200, "{}", series.body);
    let series = series.json();
    assert_eq!(series["patients"], 5);
    assert!(series["mean"].as_f64().expect("mean") < -1.0, "{series}");
    assert_eq!(series["shrunken"].as_array().map(Vec::len), Some(5));
    assert!(series["tau_mean"].as_f64().expect("tau") > 0.0);
    assert_eq!(coord.get("/api/trials/NOF1-API/series").status, 403);
    eprintln!(
        "series: {} patients, population mean {:.3} [{:.3}, {:.3}], tau mean {:.3}, EB tau {:.3}",
        series["patients"],
        series["mean"].as_f64().unwrap_or(f64::NAN),
        series["ci95"][0].as_f64().unwrap_or(f64::NAN),
        series["ci95"][1].as_f64().unwrap_or(f64::NAN),
        series["tau_mean"].as_f64().unwrap_or(f64::NAN),
        series["eb_tau"].as_f64().unwrap_or(f64::NAN)
    );
    let trial = stat.get("/api/trials/NOF1-API").json();
    assert_eq!(trial["status"], "stopped", "{trial}");

    // Everything is on the chain, and the chain verifies and replays.
    let events = stat.get("/api/trials/NOF1-API/events").json();
    let kinds: Vec<&str> = events
        .as_array()
        .expect("events")
        .iter()
        .filter_map(|e| e["kind"].as_str())
        .collect();
    for kind in [
        "participant_enrolled",
        "nof1_cycle_assigned",
        "measurement_recorded",
        "patient_look_performed",
        "patient_finished",
        "series_look_performed",
        "trial_stopped",
    ] {
        assert!(kinds.contains(&kind), "{kind} is on the chain");
    }
    // The server is idle; the CLI reads the same SQLite file (WAL) beside it.
    for args in [&["audit", "verify"][..], &["replay"][..]] {
        let out = Command::new(env!("CARGO_BIN_EXE_bayestrial"))
            .args(args)
            .args(["--database-url", &url])
            .env("BAYESTRIAL_DATA_DIR", &dir)
            .output()
            .expect("runs");
        assert_eq!(
            out.status.code(),
            Some(0),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
}

/// Creates, approves and starts an n-of-1 trial ([`nof1_protocol`]) through the API.
fn started_nof1(server: &Server, id: &str) -> String {
    let stat = Api::login(server, &user_of("statistician"), PASSWORD);
    let created = stat.post("/api/trials", json!({ "protocol": nof1_protocol(id) }));
    assert_eq!(created.status, 201, "{}", created.body);
    let signed = Api::login(server, APPROVER, PASSWORD).post(
        &format!("/api/trials/{id}/signatures"),
        json!({ "password": PASSWORD, "meaning": "approval" }),
    );
    assert_eq!(signed.status, 201, "{}", signed.body);
    let started = stat.post(&format!("/api/trials/{id}/start"), json!({}));
    assert_eq!(started.status, 200, "{}", started.body);
    id.to_owned()
}

#[test]
fn the_measurement_form_without_the_sessions_csrf_token_is_refused_and_records_nothing() {
    let server = Server::start(Database::sqlite(), &[]);
    users(&server);
    started_nof1(&server, "NOF1-CSRF");
    let api = Api::login(&server, &user_of("coordinator"), PASSWORD);
    let enrolled = api.post(
        "/api/trials/NOF1-CSRF/participants",
        json!({ "subject_id": "C-1", "idempotency_key": "key-C-1", "start_date": "2025-11-03" }),
    );
    assert_eq!(enrolled.status, 201, "{}", enrolled.body);
    let mut coord = Browser::login(&server, &user_of("coordinator"), PASSWORD);
    let path = "/trials/NOF1-CSRF/participants/C-1/measurements";
    let missing = coord.post(path, &[("day", "4"), ("value", "5")]);
    assert_eq!(missing.status, 403, "{}", missing.body);
    let wrong = coord.post(
        path,
        &[("day", "4"), ("value", "5"), ("csrf", "0123456789abcdef")],
    );
    assert_eq!(wrong.status, 403, "{}", wrong.body);
    let measurements = |api: &Api<'_>| {
        api.get("/api/trials/NOF1-CSRF/participants/C-1/report")
            .json()["measurements"]
            .as_array()
            .map_or(0, Vec::len)
    };
    assert_eq!(measurements(&api), 0, "nothing was recorded");
    let recorded = coord.submit(path, &[("day", "4"), ("value", "5")]);
    assert_eq!(recorded.status, 303, "{}", recorded.body);
    assert_eq!(measurements(&api), 1);
}

/// Enrols a patient through the API and records their planned measurements until their trial
/// ends.
fn measure_until_the_end(api: &Api<'_>, trial: &str, subject: &str) {
    let enrolled = api.post(
        &format!("/api/trials/{trial}/participants"),
        json!({ "subject_id": subject, "idempotency_key": format!("key-{subject}"),
                "start_date": "2025-11-03" }),
    );
    assert_eq!(enrolled.status, 201, "{}", enrolled.body);
    let plan = api
        .get(&format!(
            "/api/trials/{trial}/participants/{subject}/report"
        ))
        .json();
    for period in plan["periods"].as_array().expect("periods") {
        let treatment = period["treatment"].as_str().expect("assigned");
        for planned in period["planned"].as_array().expect("planned") {
            let day = planned["day"].as_u64().expect("day");
            let recorded = api.post(
                &format!("/api/trials/{trial}/participants/{subject}/measurements"),
                json!({ "day": day, "value": pain(treatment, day).parse::<f64>().expect("number") }),
            );
            assert_eq!(recorded.status, 201, "{}", recorded.body);
            if !recorded.json()["finished"].is_null() {
                return;
            }
        }
    }
    panic!("{subject}'s trial did not end");
}

/// The value of a patient's measurement in the browser test: treatment b lowers pain by 3.
fn pain(treatment: &str, day: u64) -> String {
    let noise = 0.8 * ((day as f64) * 1.7).sin();
    let base = if treatment == "b" { 3.0 } else { 6.0 };
    format!("{:.2}", base + noise)
}

#[test]
fn an_nof1_patient_is_enrolled_measured_and_reported_through_the_pages() {
    let server = Server::start(Database::sqlite(), &[]);
    users(&server);
    started_nof1(&server, "NOF1-WEB");
    let api = Api::login(&server, &user_of("coordinator"), PASSWORD);
    let mut coord = Browser::login(&server, &user_of("coordinator"), PASSWORD);

    // Enrolment takes the date of study day 1 and answers with the patient's calendar.
    let form = coord.get("/trials/NOF1-WEB/enrol");
    assert_eq!(form.status, 200, "{}", form.body);
    assert!(form.body.contains("name=\"start_date\""), "{}", form.body);
    let enrolled = coord.submit(
        "/trials/NOF1-WEB/participants",
        &[
            ("subject_id", "W-1"),
            ("eligible", "yes"),
            ("start_date", "2025-11-03"),
        ],
    );
    assert_eq!(enrolled.status, 303, "{}", enrolled.body);
    let page_path = "/trials/NOF1-WEB/participants/W-1";
    assert_eq!(enrolled.location, page_path);
    let page = coord.get(page_path);
    assert_eq!(page.status, 200, "{}", page.body);
    for part in [
        "id=\"calendar\"",
        "2025-11-06 to 2025-11-12",
        "id=\"today\"",
        "id=\"measurement\"",
        "0 of 7",
        "/trials/NOF1-WEB/participants/W-1/report",
    ] {
        assert!(
            page.body.contains(part),
            "{part} on the page: {}",
            page.body
        );
    }
    assert!(
        !page.body.contains("id=\"correction\""),
        "nothing to correct yet"
    );

    // Before any look the report says so, and draws the measurements only.
    let report_path = "/trials/NOF1-WEB/participants/W-1/report";
    let report = coord.get(report_path);
    assert_eq!(report.status, 200, "{}", report.body);
    assert!(report.body.contains("id=\"no-effect\""), "{}", report.body);
    assert_eq!(report.body.matches("<svg").count(), 1);

    // A run-in measurement, by date: kept, not analysed.
    let measure = "/trials/NOF1-WEB/participants/W-1/measurements";
    let run_in = coord.submit(measure, &[("date", "2025-11-04"), ("value", "9.5")]);
    assert_eq!(run_in.status, 303, "{}", run_in.body);
    assert!(
        run_in.location.starts_with(&format!("{page_path}?saved=")),
        "{}",
        run_in.location
    );
    let page = coord.get(&run_in.location);
    assert!(page.body.contains("id=\"saved\""), "{}", page.body);
    assert!(page.body.contains("no: run-in"), "{}", page.body);

    // Cycle 1 (periods 1 and 2): period 1 by study day, period 2 by date.
    let plan = api
        .get("/api/trials/NOF1-WEB/participants/W-1/report")
        .json();
    let periods = plan["periods"].as_array().expect("periods").clone();
    assert_eq!(periods.len(), 6);
    let mut last = String::new();
    for (i, period) in periods.iter().take(2).enumerate() {
        let treatment = period["treatment"].as_str().expect("assigned");
        for planned in period["planned"].as_array().expect("planned") {
            let day = planned["day"].as_u64().expect("day");
            let value = pain(treatment, day);
            let day_text = day.to_string();
            let date = planned["date"].as_str().expect("date");
            let when = if i == 0 {
                ("day", day_text.as_str())
            } else {
                ("date", date)
            };
            let done = coord.submit(measure, &[when, ("value", &value)]);
            assert_eq!(done.status, 303, "day {day}: {}", done.body);
            last = done.location;
        }
    }
    assert!(last.ends_with("&look=1"), "cycle 1's look ran: {last}");
    let page = coord.get(&last);
    assert!(page.body.contains("Cycle 1 is complete"), "{}", page.body);
    assert!(page.body.contains("7 of 7"), "{}", page.body);
    assert!(page.body.contains("id=\"correction\""), "{}", page.body);

    // The report: two charts and the sentence.
    let report = coord.get(report_path);
    assert_eq!(report.status, 200, "{}", report.body);
    assert_eq!(report.body.matches("<svg").count(), 2, "{}", report.body);
    assert!(report.body.contains("id=\"sentence\""), "{}", report.body);
    assert!(
        report.body.contains("% probability that"),
        "{}",
        report.body
    );
    assert!(report.body.contains("id=\"effects\""), "{}", report.body);

    // A correction needs a reason; with one, the new value replaces the old.
    let first = plan["periods"][0]["planned"][0]["day"]
        .as_u64()
        .expect("day");
    let current = api
        .get("/api/trials/NOF1-WEB/participants/W-1/report")
        .json();
    let seq = current["measurements"]
        .as_array()
        .expect("measurements")
        .iter()
        .find(|m| m["day"].as_u64() == Some(first))
        .and_then(|m| m["seq"].as_u64())
        .expect("the first period's first measurement");
    let seq = seq.to_string();
    let refused = coord.submit(
        measure,
        &[("corrects", &seq), ("value", "5.55"), ("reason", "")],
    );
    assert_eq!(refused.status, 422, "{}", refused.body);
    let corrected = coord.submit(
        measure,
        &[
            ("corrects", &seq),
            ("value", "5.55"),
            ("reason", "transcription error"),
        ],
    );
    assert_eq!(corrected.status, 303, "{}", corrected.body);
    let page = coord.get(&corrected.location);
    assert!(page.body.contains(">5.55<"), "{}", page.body);

    // The clinician's view: the same report; the pooled series is not there yet.
    let mut stat = Browser::login(&server, &user_of("statistician"), PASSWORD);
    let report = stat.get(report_path);
    assert_eq!(report.status, 200, "{}", report.body);
    assert!(report.body.contains("id=\"sentence\""));
    let trial = stat.get("/trials/NOF1-WEB");
    assert!(trial.body.contains("id=\"series-link\""), "{}", trial.body);
    let dashboard = stat.get("/trials/NOF1-WEB/dashboard");
    assert_eq!(dashboard.status, 303, "{}", dashboard.body);
    assert_eq!(dashboard.location, "/trials/NOF1-WEB/series");
    let series = stat.get("/trials/NOF1-WEB/series");
    assert_eq!(series.status, 200, "{}", series.body);
    assert!(series.body.contains("id=\"no-series\""), "{}", series.body);

    // The remaining cycles through the form until the patient's trial ends.
    let mut ended = false;
    'periods: for period in periods.iter().skip(2) {
        let treatment = period["treatment"].as_str().expect("assigned");
        for planned in period["planned"].as_array().expect("planned") {
            let day = planned["day"].as_u64().expect("day").to_string();
            let value = pain(treatment, planned["day"].as_u64().unwrap_or(0));
            let done = coord.submit(measure, &[("day", &day), ("value", &value)]);
            assert_eq!(done.status, 303, "day {day}: {}", done.body);
            if done.location.contains("&look=") {
                let now = api
                    .get("/api/trials/NOF1-WEB/participants/W-1/report")
                    .json();
                if !now["end"].is_null() {
                    ended = true;
                    break 'periods;
                }
            }
        }
    }
    assert!(ended, "the patient's trial ended");
    let page = coord.get(page_path);
    assert!(page.body.contains("id=\"ended\""), "{}", page.body);
    assert!(
        !page.body.contains("id=\"measurement\""),
        "no measurement form once the patient's trial has ended"
    );
    assert!(
        page.body.contains("Nothing more to measure"),
        "{}",
        page.body
    );

    // Two more patients through the API; when the third ends, the series is pooled.
    for subject in ["W-2", "W-3"] {
        measure_until_the_end(&api, "NOF1-WEB", subject);
    }
    // Now the series is pooled: its summary and forest plot for the statistician.
    let series = stat.get("/trials/NOF1-WEB/series");
    assert_eq!(series.status, 200, "{}", series.body);
    assert!(series.body.contains("id=\"series\""), "{}", series.body);
    assert_eq!(series.body.matches("<svg").count(), 1, "{}", series.body);
    assert!(
        series
            .body
            .contains("/trials/NOF1-WEB/participants/W-1/report"),
        "{}",
        series.body
    );
}
