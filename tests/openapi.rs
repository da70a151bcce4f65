//! The API contract in `cargo test`: the OpenAPI document served by the app describes every
//! body with a typed schema and lists the answers the extractors can give (400, 401, 413, 415),
//! and hostile path parameters and bodies get those documented 4xx answers with the error body,
//! never a 500. `tests/api/fuzz.sh` checks the same contract from outside with a fuzzer.

#![expect(clippy::expect_used, reason = "tests fail loudly")]

mod common;

use actix_web::http::StatusCode;
use actix_web::test;
use bayestrial::service::Role;
use common::{api_get, api_post, TestApp, World};
use serde_json::{json, Value};

const METHODS: [&str; 5] = ["get", "put", "post", "delete", "patch"];

async fn document() -> Value {
    let world = World::new(1);
    let app = world.app().await;
    let reply = api_get(&app, "", "/api/openapi.json").await;
    assert_eq!(reply.status, StatusCode::OK);
    reply.json()
}

/// Every operation as (method, path, operation).
fn operations(doc: &Value) -> Vec<(String, String, Value)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in METHODS {
            if let Some(operation) = item.get(method) {
                out.push((method.to_owned(), path.clone(), operation.clone()));
            }
        }
    }
    out
}

/// Where in `schema` (named `at`) an object is described without any of its fields.
fn untyped_objects(schema: &Value, at: &str, found: &mut Vec<String>) {
    match schema {
        Value::Object(map) => {
            let is_object = map.get("type").is_some_and(|t| {
                t == "object" || t.as_array().is_some_and(|a| a.contains(&json!("object")))
            });
            let described = [
                "properties",
                "additionalProperties",
                "$ref",
                "oneOf",
                "allOf",
                "anyOf",
            ]
            .iter()
            .any(|key| map.contains_key(*key));
            if is_object && !described {
                found.push(at.to_owned());
            }
            for (key, value) in map {
                untyped_objects(value, &format!("{at}.{key}"), found);
            }
        }
        Value::Array(items) => {
            for (i, value) in items.iter().enumerate() {
                untyped_objects(value, &format!("{at}[{i}]"), found);
            }
        }
        _ => {}
    }
}

#[actix_web::test]
async fn every_body_has_a_typed_schema() {
    let doc = document().await;
    let mut found = Vec::new();
    untyped_objects(&doc["paths"], "paths", &mut found);
    untyped_objects(&doc["components"], "components", &mut found);
    assert!(found.is_empty(), "untyped objects: {found:#?}");
    for (method, path, operation) in operations(&doc) {
        for (status, response) in operation["responses"].as_object().expect("responses") {
            if status == "204" {
                continue;
            }
            let schema = &response["content"]["application/json"]["schema"];
            assert!(
                schema.is_object(),
                "{method} {path} {status}: no JSON schema: {response}"
            );
            if !status.starts_with('2') {
                assert_eq!(
                    schema["$ref"], "#/components/schemas/ErrorBody",
                    "{method} {path} {status}"
                );
            }
        }
    }
    // Every schema named is defined.
    let text = doc.to_string();
    for piece in text.split("\"#/components/schemas/").skip(1) {
        let name = piece.split('"').next().expect("name");
        assert!(
            doc["components"]["schemas"].get(name).is_some(),
            "{name} is referred to but not defined"
        );
    }
}

#[actix_web::test]
async fn every_operation_documents_what_its_extractors_answer() {
    let doc = document().await;
    let all = operations(&doc);
    assert_eq!(
        all.len(),
        15,
        "operations: {:?}",
        all.iter().map(|o| &o.1).collect::<Vec<_>>()
    );
    for (method, path, operation) in all {
        let responses = operation["responses"].as_object().expect("responses");
        let has = |status: &str| responses.contains_key(status);
        let secured = operation["security"]
            .as_array()
            .is_some_and(|s| !s.is_empty());
        let takes_input =
            operation.get("parameters").is_some() || operation.get("requestBody").is_some();
        if secured {
            assert!(has("401"), "{method} {path}: 401");
        }
        if takes_input {
            assert!(has("400"), "{method} {path}: 400");
        }
        if operation.get("requestBody").is_some() {
            assert!(has("413") && has("415"), "{method} {path}: 413, 415");
        }
        for parameter in operation["parameters"].as_array().into_iter().flatten() {
            if parameter["in"] == "path" {
                assert_eq!(parameter["schema"]["maxLength"], 128, "{method} {path}");
                assert_eq!(parameter["schema"]["minLength"], 1, "{method} {path}");
            }
        }
    }
    let day = &doc["components"]["schemas"]["MeasurementRequest"]["properties"]["day"];
    assert!(
        day["type"] == "integer" || day["type"] == json!(["integer", "null"]),
        "day: {day}"
    );
    assert_eq!(day["minimum"], 0, "day: {day}");
}

/// Sends `request` and checks the answer is `status` with the API's error body of `kind`.
async fn refused<B: actix_web::body::MessageBody>(
    app: &impl TestApp<B>,
    request: test::TestRequest,
    status: StatusCode,
    kind: &str,
) -> String {
    let answer = app.call(request.to_request()).await.expect("answer");
    assert_eq!(answer.status(), status);
    let bytes = actix_web::body::to_bytes(answer.into_body())
        .await
        .unwrap_or_default();
    let body: Value = serde_json::from_slice(&bytes).expect("a JSON error body");
    assert_eq!(body["error"], kind, "{body}");
    body["detail"].as_str().expect("detail").to_owned()
}

#[actix_web::test]
async fn hostile_path_parameters_are_a_400_naming_the_parameter() {
    let world = World::new(2);
    let app = world.app().await;
    let coord = world.token("coord", Role::Coordinator);
    for (method, path) in [
        ("get", "/api/trials/A%01B/events"),
        ("get", "/api/trials/A%01B/participants"),
        ("post", "/api/trials/A%01B/start"),
        ("post", "/api/trials/%1F/participants"),
        ("get", "/api/trials/%20PLAT"),
        ("post", "/api/trials/T/participants/S%00/outcomes"),
    ] {
        let request = match method {
            "get" => test::TestRequest::get(),
            _ => test::TestRequest::post().set_json(json!({
                "subject_id": "S-1", "idempotency_key": "k", "value": 1
            })),
        }
        .uri(path)
        .insert_header(("Authorization", format!("Bearer {coord}")));
        let detail = refused(&app, request, StatusCode::BAD_REQUEST, "bad_request").await;
        assert!(detail.starts_with("path parameter "), "{path}: {detail}");
        assert!(detail.contains("128"), "{path}: {detail}");
    }
    let long = "T".repeat(129);
    let reply = api_get(&app, &coord, &format!("/api/trials/{long}")).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.body);
    assert!(reply.body.contains("path parameter id"), "{}", reply.body);
}

#[actix_web::test]
async fn bodies_too_large_or_not_json_are_413_and_415() {
    let world = World::new(3);
    let app = world.app().await;
    let stat = world.token("stat", Role::Statistician);
    let big = json!({ "protocol": "x".repeat(1 << 20) });
    let request = test::TestRequest::post()
        .uri("/api/trials")
        .insert_header(("Authorization", format!("Bearer {stat}")))
        .set_json(big);
    let detail = refused(&app, request, StatusCode::PAYLOAD_TOO_LARGE, "too_large").await;
    assert!(detail.contains("1048576"), "{detail}");
    let request = test::TestRequest::post()
        .uri("/api/trials")
        .insert_header(("Authorization", format!("Bearer {stat}")))
        .insert_header(("Content-Type", "text/plain"))
        .set_payload("protocol");
    refused(
        &app,
        request,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    )
    .await;
    let reply = api_post(&app, &stat, "/api/trials", json!({ "protocol": 7 })).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.body);
    assert!(reply.body.contains("request body: "), "{}", reply.body);
}
