//! The parts of the JSON API's contract that the extractors decide rather than the handlers:
//! the bounds of the path parameters (checked here, before any service call) and the error
//! answers every operation can give before its handler runs (400 for a path, query or body
//! that does not parse, 401 without a valid token, 413 and 415 for a JSON body too large or
//! not JSON), written into the OpenAPI document from the shape of each operation, so that the
//! document and the extractors cannot disagree.
//!
//! What it must not do: decide what a trial id or a subject id may be beyond what a URL path
//! segment may carry (the service parses those); the bounds here only make a hostile segment a
//! 400 that names the parameter instead of reaching the service.

use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, Schema};

use super::error::{ApiError, WebError};

/// The longest path parameter accepted, in characters (a trial id's bound on its chain).
pub const MAX_PATH_PARAM_CHARS: usize = 128;

/// The pattern documented for path parameters: no control characters (C0, DEL, C1).
const PATH_PARAM_PATTERN: &str = "^[^\\u0000-\\u001F\\u007F-\\u009F]+$";

/// Checks a path parameter of the API (`name` as the document names it): 1 to
/// [`MAX_PATH_PARAM_CHARS`] characters, no control characters, no surrounding white space.
/// Anything else is a 400 naming the parameter and the bound, never a service call.
pub fn path_param(name: &'static str, value: String) -> Result<String, ApiError> {
    let problem = if value.is_empty() {
        Some("is empty".to_owned())
    } else if value.chars().count() > MAX_PATH_PARAM_CHARS {
        Some(format!("is longer than {MAX_PATH_PARAM_CHARS} characters"))
    } else if value.chars().any(char::is_control) {
        Some("contains a control character".to_owned())
    } else if value.trim() != value {
        Some("starts or ends with white space".to_owned())
    } else {
        None
    };
    match problem {
        None => Ok(value),
        Some(problem) => Err(ApiError(WebError::BadRequest(format!(
            "path parameter {name}: {problem}: give 1 to {MAX_PATH_PARAM_CHARS} characters without control characters or surrounding spaces"
        )))),
    }
}

/// The schema of the path parameter `name`, with the bounds [`path_param`] enforces and, as its
/// example, an id the first start creates (the demo trial `PLAT-BIN-4ARM`), so that a client
/// trying the examples reaches a real trial.
fn path_param_schema(name: &str) -> RefOr<Schema> {
    let example = match name {
        "id" => Some("PLAT-BIN-4ARM"),
        "subject_id" => Some("S-1"),
        _ => None,
    };
    ObjectBuilder::new()
        .schema_type(Type::String)
        .examples(example)
        .min_length(Some(1))
        .max_length(Some(MAX_PATH_PARAM_CHARS))
        .pattern(Some(PATH_PARAM_PATTERN))
        .into()
}

/// The schema of an outcome or measurement `value`: a boolean, a number or a string (parsed
/// by the service against the trial's outcome kind; a value of the wrong kind is a 422).
pub fn scalar_value_schema() -> Schema {
    utoipa::openapi::schema::OneOfBuilder::new()
        .item(ObjectBuilder::new().schema_type(Type::Boolean))
        .item(ObjectBuilder::new().schema_type(Type::Number))
        .item(ObjectBuilder::new().schema_type(Type::String))
        .description(Some(
            "Binary: `true`/`false` or `1`/`0`; continuous: a number; count: EVENTS or \"EVENTS/EXPOSURE\".",
        ))
        .into()
}

/// An error answer: `{"error", "detail"}` ([`super::api::ErrorBody`]).
fn error_response(description: &str) -> RefOr<utoipa::openapi::Response> {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("ErrorBody")))
                .build(),
        )
        .build()
        .into()
}

/// Adds to one operation what its extractors can answer, and bounds its path parameters.
fn complete(operation: &mut Operation) {
    let mut has_parameters = false;
    for parameter in operation.parameters.iter_mut().flatten() {
        has_parameters = true;
        if matches!(parameter.parameter_in, ParameterIn::Path) {
            parameter.schema = Some(path_param_schema(&parameter.name));
        }
    }
    let has_body = operation.request_body.is_some();
    let secured = operation
        .security
        .as_ref()
        .is_some_and(|requirements| !requirements.is_empty());
    let responses = &mut operation.responses.responses;
    let mut add = |status: &str, description: &str| {
        responses
            .entry(status.to_owned())
            .or_insert_with(|| error_response(description));
    };
    if has_parameters || has_body {
        add(
            "400",
            "A path parameter, query parameter or the request body does not parse or is out of its bounds (the detail names which).",
        );
    }
    if secured {
        add(
            "401",
            "No `Authorization: Bearer` token, or one that is unknown, revoked or expired.",
        );
    }
    if has_body {
        add("413", "The request body is larger than 1 MiB.");
        add(
            "415",
            "The request body is not sent as `Content-Type: application/json`.",
        );
    }
}

/// Writes the bearer security scheme and, into every operation, the answers of its extractors
/// (see the module documentation).
pub struct ExtractorContract;

impl utoipa::Modify for ExtractorContract {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        for item in openapi.paths.paths.values_mut() {
            for operation in [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.options,
                &mut item.head,
                &mut item.patch,
                &mut item.trace,
            ]
            .into_iter()
            .flatten()
            {
                complete(operation);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{path_param, MAX_PATH_PARAM_CHARS};

    #[test]
    fn path_parameters_are_bounded() {
        assert_eq!(
            path_param("id", "PLAT-1".into()).ok(),
            Some("PLAT-1".into())
        );
        let longest = "é".repeat(MAX_PATH_PARAM_CHARS);
        assert!(path_param("id", longest.clone()).is_ok());
        for bad in [
            String::new(),
            format!("{longest}x"),
            "A\u{1}B".into(),
            "A\u{85}".into(),
            " A".into(),
            "A\t".into(),
        ] {
            let error = path_param("subject_id", bad.clone()).err();
            let detail = error.map(|e| e.to_string()).unwrap_or_default();
            assert!(
                detail.starts_with("path parameter subject_id: "),
                "{bad:?}: {detail}"
            );
        }
    }
}
