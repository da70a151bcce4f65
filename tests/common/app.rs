//! Shared helpers of the in-process tests: a seeded service on a fresh SQLite file (the same
//! seed and clock give the same answers, byte for byte) and the real web app
//! (`bayestrial::web::configure`) driven through actix's test server, as a browser with a
//! session cookie or as an API client with a bearer token.

#![allow(dead_code, reason = "each test binary uses part of the helpers")]
#![expect(clippy::expect_used, reason = "tests fail loudly")]

use std::sync::Arc;

use actix_web::body::MessageBody;
use actix_web::dev::ServiceResponse;
use actix_web::http::StatusCode;
use actix_web::{test, web, App};
use bayestrial::service::{
    Actor, Meaning, Randomness, Role, Service, ServiceConfig, SteppingClock,
};
use bayestrial::store::DatabaseUrl;
use bayestrial::web::auth::SESSION_COOKIE;
use bayestrial::web::jobs::JobLimits;
use bayestrial::web::{AppState, SimulationJobs};

pub use super::PASSWORD;

/// A seeded service on a fresh SQLite file, with one user per role (`stat`, `coord`, `pharm`,
/// `dmc`, `reg`, `admin`).
pub struct World {
    pub service: Arc<Service>,
    pub jobs: Arc<SimulationJobs>,
    pub dir: tempfile::TempDir,
}

impl World {
    /// A new world; the same `seed` gives the same trial seeds, tokens and times.
    pub fn new(seed: u64) -> Self {
        let dir = tempfile::tempdir().expect("temporary directory");
        let url = format!("sqlite://{}", dir.path().join("world.db").display());
        let mut config = ServiceConfig::new(DatabaseUrl::parse(&url).expect("database URL"));
        config.data_dir = dir.path().to_path_buf();
        config.clock = Arc::new(SteppingClock::starting_at(1_780_000_000));
        config.randomness = Randomness::seeded(seed);
        let service = Service::open(config).expect("service opens");
        for (name, role) in [
            ("admin", Role::Admin),
            ("stat", Role::Statistician),
            ("stat2", Role::Statistician),
            ("coord", Role::Coordinator),
            ("pharm", Role::Pharmacist),
            ("dmc", Role::Dmc),
            ("reg", Role::Regulator),
        ] {
            super::trials::user(&service, name, role);
        }
        let jobs = SimulationJobs::open(dir.path(), JobLimits::default(), 1).expect("jobs");
        Self {
            service: Arc::new(service),
            jobs: Arc::new(jobs),
            dir,
        }
    }

    /// The same world after a restart: a new service (seeded with `seed`, so that its tokens
    /// differ from the first one's) and new jobs on the same database and data directory.
    pub fn restarted(self, seed: u64) -> Self {
        let Self { service, jobs, dir } = self;
        drop(jobs);
        drop(service);
        let url = format!("sqlite://{}", dir.path().join("world.db").display());
        let mut config = ServiceConfig::new(DatabaseUrl::parse(&url).expect("database URL"));
        config.data_dir = dir.path().to_path_buf();
        config.clock = Arc::new(SteppingClock::starting_at(1_790_000_000));
        config.randomness = Randomness::seeded(seed);
        let service = Service::open(config).expect("service opens again");
        let jobs = SimulationJobs::open(dir.path(), JobLimits::default(), 1).expect("jobs");
        Self {
            service: Arc::new(service),
            jobs: Arc::new(jobs),
            dir,
        }
    }

    /// The actor `name` in `role`.
    pub fn actor(name: &str, role: Role) -> Actor {
        Actor {
            username: name.to_owned(),
            role,
        }
    }

    /// Creates, approves and starts a trial from protocol text; returns its id.
    pub fn started(&self, protocol: &str) -> String {
        let stat = Self::actor("stat", Role::Statistician);
        let summary = self
            .service
            .create_trial(&stat, protocol, "test protocol")
            .expect("trial created");
        // Four eyes: the approval comes from another statistician than the author.
        self.service
            .sign(
                &Self::actor("stat2", Role::Statistician),
                &summary.id,
                Meaning::Approval,
                PASSWORD,
            )
            .expect("approved");
        self.service.start(&stat, &summary.id).expect("started");
        summary.id
    }

    /// Delivers the outbox to a memory mailer and returns the recipients of every mail whose
    /// subject contains `subject`, asserting the notice's audience: the statisticians and the
    /// DMC are told, the coordinators are not.
    pub fn told_statisticians_and_dmc_only(&self, subject: &str) -> Vec<String> {
        let (mailer, sent) = bayestrial::notify::Mailer::memory();
        self.service
            .deliver_outbox(&mailer)
            .expect("outbox delivered");
        let told: Vec<String> = sent
            .lock()
            .expect("mails")
            .iter()
            .filter(|m| m.subject.contains(subject))
            .map(|m| m.to.clone())
            .collect();
        assert!(
            told.iter().any(|t| t.contains("stat@")) && told.iter().any(|t| t.contains("dmc@")),
            "{subject}: {told:?}"
        );
        assert!(
            !told.iter().any(|t| t.contains("coord@")),
            "{subject}: {told:?}"
        );
        told
    }

    /// A browser session of `name` in `role`: the cookie's token and the CSRF token.
    pub fn session(&self, name: &str, role: Role) -> (String, String) {
        let session = self
            .service
            .start_session(name, PASSWORD, Some(role))
            .expect("session");
        (session.token, session.csrf)
    }

    /// An API token of `name` in `role`.
    pub fn token(&self, name: &str, role: Role) -> String {
        self.service
            .issue_api_token(name, PASSWORD, Some(role), "test")
            .expect("token")
            .token
    }

    /// The web app on this world's service.
    pub async fn app(
        &self,
    ) -> impl actix_web::dev::Service<
        actix_http::Request,
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
    > {
        let state = web::Data::new(AppState {
            service: Arc::clone(&self.service),
            jobs: Arc::clone(&self.jobs),
        });
        test::init_service(
            App::new()
                .app_data(state)
                .configure(bayestrial::web::configure),
        )
        .await
    }
}

/// An answer: status, headers of interest and body text.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub status: StatusCode,
    pub cache_control: Option<String>,
    pub body: String,
}

impl Reply {
    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }
}

async fn reply<B: MessageBody>(response: ServiceResponse<B>) -> Reply {
    let status = response.status();
    let cache_control = response
        .headers()
        .get("cache-control")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let bytes = actix_web::body::to_bytes(response.into_body())
        .await
        .unwrap_or_default();
    Reply {
        status,
        cache_control,
        body: String::from_utf8_lossy(&bytes).into_owned(),
    }
}

/// The web app under test, as actix's test server gives it.
pub trait TestApp<B: MessageBody>:
    actix_web::dev::Service<
    actix_http::Request,
    Response = ServiceResponse<B>,
    Error = actix_web::Error,
>
{
}

impl<S, B: MessageBody> TestApp<B> for S where
    S: actix_web::dev::Service<
        actix_http::Request,
        Response = ServiceResponse<B>,
        Error = actix_web::Error,
    >
{
}

/// Sends one request and reads the answer.
async fn send<B: MessageBody>(app: &impl TestApp<B>, request: test::TestRequest) -> Reply {
    reply(app.call(request.to_request()).await.expect("answer")).await
}

fn browser(request: test::TestRequest, session: &str) -> test::TestRequest {
    request.cookie(actix_web::cookie::Cookie::new(
        SESSION_COOKIE,
        session.to_owned(),
    ))
}

fn bearer(request: test::TestRequest, token: &str) -> test::TestRequest {
    request.insert_header(("Authorization", format!("Bearer {token}")))
}

/// GET as a browser with a session.
pub async fn page<B: MessageBody>(app: &impl TestApp<B>, session: &str, path: &str) -> Reply {
    send(app, browser(test::TestRequest::get().uri(path), session)).await
}

/// POST a form as a browser with a session.
pub async fn form<B: MessageBody>(
    app: &impl TestApp<B>,
    session: &str,
    path: &str,
    fields: &[(&str, &str)],
) -> Reply {
    let request = browser(test::TestRequest::post().uri(path), session).set_form(fields.to_vec());
    send(app, request).await
}

/// GET as an API client.
pub async fn api_get<B: MessageBody>(app: &impl TestApp<B>, token: &str, path: &str) -> Reply {
    send(app, bearer(test::TestRequest::get().uri(path), token)).await
}

/// POST JSON as an API client.
pub async fn api_post<B: MessageBody>(
    app: &impl TestApp<B>,
    token: &str,
    path: &str,
    body: serde_json::Value,
) -> Reply {
    send(
        app,
        bearer(test::TestRequest::post().uri(path), token).set_json(body),
    )
    .await
}
