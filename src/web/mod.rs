//! The web app (actix-web): server-rendered pages for coordinators, statisticians, the DMC,
//! regulators and admins, and the JSON API with its OpenAPI document.
//!
//! What it must not do: compute statistics or write SQL. Handlers extract and check the
//! request (session or token, role, CSRF), make one service call on the blocking pool
//! (`web::block`), and render. Blinding is decided by the service, not here.

pub mod api;
pub mod auth;
pub mod charts;
pub mod contract;
pub mod error;
pub mod jobs;
pub mod notice;
pub mod pages;

use std::sync::Arc;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::error::InternalError;
use actix_web::http::header::{HeaderValue, CACHE_CONTROL};
use actix_web::http::Method;
use actix_web::middleware::{from_fn, DefaultHeaders, Next};
use actix_web::{get, web, App, HttpResponse, HttpServer};

use crate::service::Service;
use error::{ApiError, WebError};
pub use jobs::SimulationJobs;

/// What every handler shares: explicit state, no globals.
pub struct AppState {
    /// The live-trial service.
    pub service: Arc<Service>,
    /// Simulation jobs started from the browser.
    pub jobs: Arc<SimulationJobs>,
}

/// Percent-encodes a value for a URL path segment or query value.
pub fn path_segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(byte as char)
            }
            other => out.push_str(&format!("%{other:02X}")),
        }
    }
    out
}

const CSS: &str = include_str!("../../static/app.css");
const JS: &str = include_str!("../../static/app.js");
const FAVICON: &str = include_str!("../../static/favicon.svg");

#[get("/app.css")]
async fn css() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .insert_header(("Cache-Control", "max-age=3600"))
        .body(CSS)
}

#[get("/app.js")]
async fn js() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/javascript; charset=utf-8")
        .insert_header(("Cache-Control", "max-age=3600"))
        .body(JS)
}

#[get("/favicon.svg")]
async fn favicon() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("image/svg+xml")
        .insert_header(("Cache-Control", "max-age=86400"))
        .body(FAVICON)
}

/// Browsers ask for `/favicon.ico` by themselves (and tools that ignore `<link rel="icon">`):
/// a permanent redirect to the SVG icon rather than a 404.
#[get("/favicon.ico")]
async fn favicon_ico() -> HttpResponse {
    HttpResponse::PermanentRedirect()
        .insert_header(("Location", "/static/favicon.svg"))
        .finish()
}

/// Answers `HEAD` as `GET` (RFC 9110 §9.3.2): routes are declared for `GET` only, so the request
/// is routed as a `GET`; the HTTP layer remembers that the request was a `HEAD` and sends the
/// headers of the answer (its `Content-Length` included) without the body.
async fn head_as_get(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    if req.method() == Method::HEAD {
        req.head_mut().method = Method::GET;
    }
    next.call(req).await
}

async fn not_found(req: actix_web::HttpRequest) -> actix_web::Result<HttpResponse> {
    let what = format!("no page {}", req.path());
    if req.path().starts_with("/api/") {
        Err(ApiError(WebError::NotFound(what)).into())
    } else {
        Err(WebError::NotFound(what).into())
    }
}

/// Marks every answer it wraps `Cache-Control: no-store`, so no browser or proxy keeps a copy of
/// a page or API answer that needed a login: trial data, audit records and exports, and their
/// error answers too. An error that reaches it as an `Err` (rather than as an error answer)
/// goes on as an error whose answer is marked as well.
async fn no_store(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let no_store = HeaderValue::from_static("no-store");
    match next.call(req).await {
        Ok(mut response) => {
            response.headers_mut().insert(CACHE_CONTROL, no_store);
            Ok(response.map_into_boxed_body())
        }
        Err(error) => {
            let mut answer = error.error_response();
            answer.headers_mut().insert(CACHE_CONTROL, no_store);
            Err(InternalError::from_response(error, answer).into())
        }
    }
}

/// Registers pages, the API, static files and the request-body error handlers.
///
/// Everything but the static files (`/static/…`, cached, and `/favicon.ico`) is served from one
/// scope wrapped in `Cache-Control: no-store`, including unknown paths, so every app built with
/// `App::new().configure(configure)` (the server's and any test's) marks them the same way.
/// Both answer `HEAD` like `GET` ([`head_as_get`]).
pub fn configure(config: &mut web::ServiceConfig) {
    config
        .app_data(
            web::JsonConfig::default()
                .limit(1 << 20)
                .error_handler(|e, _| ApiError(WebError::from_json_body(&e)).into()),
        )
        .app_data(
            web::FormConfig::default()
                .limit(1 << 20)
                .error_handler(|e, _| WebError::BadRequest(format!("form: {e}")).into()),
        )
        .app_data(web::QueryConfig::default().error_handler(|e, req| {
            if req.path().starts_with("/api/") {
                ApiError(WebError::BadRequest(format!("query: {e}"))).into()
            } else {
                WebError::BadRequest(format!("query: {e}")).into()
            }
        }))
        .app_data(web::PathConfig::default().error_handler(|e, req| {
            if req.path().starts_with("/api/") {
                ApiError(WebError::BadRequest(format!("path: {e}"))).into()
            } else {
                WebError::BadRequest(format!("path: {e}")).into()
            }
        }))
        .service(
            web::scope("/static")
                .wrap(from_fn(head_as_get))
                .service(css)
                .service(js)
                .service(favicon)
                .default_service(web::to(not_found)),
        )
        .service(
            web::scope("")
                .wrap(from_fn(head_as_get))
                .wrap(from_fn(notice::clear_shown_notice))
                .wrap(from_fn(no_store))
                .service(favicon_ico)
                .configure(api::routes)
                .configure(pages::routes)
                .default_service(web::to(not_found)),
        );
}

/// Headers on every response: no sniffing, no framing, nothing loaded from elsewhere.
pub fn security_headers() -> DefaultHeaders {
    DefaultHeaders::new()
        .add(("X-Content-Type-Options", "nosniff"))
        .add(("X-Frame-Options", "DENY"))
        .add(("Referrer-Policy", "same-origin"))
        .add((
            "Content-Security-Policy",
            "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'",
        ))
}

/// Serves the app on `bind` until the process is stopped; prints the address it listens on
/// (`bind` may end in `:0`).
pub fn serve(state: AppState, bind: &str, workers: usize) -> std::io::Result<()> {
    let state = web::Data::new(state);
    actix_web::rt::System::new().block_on(async move {
        let server = HttpServer::new(move || {
            App::new()
                .wrap(security_headers())
                .app_data(state.clone())
                .configure(configure)
        })
        .workers(workers.max(1))
        .bind(bind)?;
        for address in server.addrs() {
            println!("bayestrial: listening on http://{address}");
        }
        server.run().await
    })
}

#[cfg(test)]
mod tests {
    use super::{configure, path_segment};
    use actix_web::http::header::CACHE_CONTROL;
    use actix_web::{test as actix_test, App};

    /// An app built the way tests build one in process gets the cache policy too.
    #[actix_web::test]
    async fn answers_are_not_cached_but_static_files_are() {
        let app = actix_test::init_service(App::new().configure(configure)).await;
        for path in [
            "/no/such/page",
            "/api/no/such/route",
            "/trials",
            "/api/trials",
        ] {
            let answer = actix_test::call_service(
                &app,
                actix_test::TestRequest::get().uri(path).to_request(),
            )
            .await;
            assert_eq!(
                answer.headers().get(CACHE_CONTROL).map(|v| v.as_bytes()),
                Some(&b"no-store"[..]),
                "{path}: {}",
                answer.status()
            );
        }
        let css = actix_test::call_service(
            &app,
            actix_test::TestRequest::get()
                .uri("/static/app.css")
                .to_request(),
        )
        .await;
        assert_eq!(
            css.headers().get(CACHE_CONTROL).map(|v| v.as_bytes()),
            Some(&b"max-age=3600"[..])
        );
    }

    #[test]
    fn path_segments_are_encoded() {
        assert_eq!(path_segment("S-001_a.b~"), "S-001_a.b~");
        assert_eq!(path_segment("a b/c"), "a%20b%2Fc");
    }
}
