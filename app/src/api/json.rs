//! [`JsonBody`]: a JSON response payload documented by poem-openapi (`T: Type`) but written
//! straight from `T`'s serde `Serialize`, without poem-openapi's intermediate `Value` tree.
//! Tool results are the hottest response; the two must describe the same shape, which the
//! conformance run (schemathesis, response-schema checks) verifies.

use poem::{IntoResponse, Response};
use poem_openapi::{
    payload::Payload,
    registry::{MetaSchemaRef, Registry},
    types::Type,
};

pub struct JsonBody<T>(pub T);

impl<T: Type + serde::Serialize> Payload for JsonBody<T> {
    const CONTENT_TYPE: &'static str = "application/json; charset=utf-8";

    fn schema_ref() -> MetaSchemaRef {
        T::schema_ref()
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }
}

impl<T: serde::Serialize + Send> IntoResponse for JsonBody<T> {
    fn into_response(self) -> Response {
        let mut body = Vec::with_capacity(1024);
        match serde_json::to_writer(&mut body, &self.0) {
            Ok(()) => Response::builder()
                .content_type(<Self as PayloadType>::CONTENT_TYPE)
                .body(body),
            Err(e) => {
                tracing::error!(error = %e, "response serialisation failed");
                poem::http::StatusCode::INTERNAL_SERVER_ERROR.into_response()
            }
        }
    }
}

/// The content type without needing `T: Type` in `IntoResponse`.
trait PayloadType {
    const CONTENT_TYPE: &'static str;
}

impl<T> PayloadType for JsonBody<T> {
    const CONTENT_TYPE: &'static str = "application/json; charset=utf-8";
}
