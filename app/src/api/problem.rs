//! RFC 9457 problem details (`application/problem+json`), the body of every non-200 answer
//! that has one.

use poem::{IntoResponse, Response, http::StatusCode};
use poem_openapi::{
    Object,
    payload::Payload,
    registry::{MetaSchemaRef, Registry},
    types::{ToJSON, Type},
};

/// What went wrong, for a person or a program reading a non-200 answer.
#[derive(Debug, Clone, Object)]
pub struct Problem {
    /// A URI naming the kind of problem; `about:blank` when the status says it all.
    #[oai(rename = "type")]
    pub kind: String,
    /// A short summary of the kind of problem.
    pub title: String,
    /// The HTTP status code.
    pub status: u16,
    /// What exactly was wrong with this request.
    pub detail: String,
}

/// A [`Problem`] as an `application/problem+json` payload.
#[derive(Debug, Clone)]
pub struct ProblemJson(pub Problem);

impl ProblemJson {
    pub fn new(status: StatusCode, title: &str, detail: impl Into<String>) -> Self {
        Self(Problem {
            kind: "about:blank".into(),
            title: title.into(),
            status: status.as_u16(),
            detail: detail.into(),
        })
    }

    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "Bad Request", detail)
    }

    pub fn too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "Payload Too Large",
            format!("The request body is larger than {limit} bytes."),
        )
    }

    pub fn response(self) -> Response {
        let status =
            StatusCode::from_u16(self.0.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut resp = self.into_response();
        resp.set_status(status);
        resp
    }
}

impl Payload for ProblemJson {
    const CONTENT_TYPE: &'static str = "application/problem+json";

    fn schema_ref() -> MetaSchemaRef {
        Problem::schema_ref()
    }

    fn register(registry: &mut Registry) {
        Problem::register(registry);
    }
}

impl IntoResponse for ProblemJson {
    fn into_response(self) -> Response {
        let body = self.0.to_json().map(|v| v.to_string()).unwrap_or_default();
        Response::builder()
            .content_type(Self::CONTENT_TYPE)
            .body(body)
    }
}
