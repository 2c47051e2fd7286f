//! The one request-body extractor of the JSON routes, [`Checked`]: the body (already read into
//! memory by the middleware) is parsed once into a JSON value, its nulls dropped where the schema
//! reads them as absent, checked against its schema in the served OpenAPI document
//! ([`Validators`], so what the spec accepts and what the server accepts are one and the same),
//! then read as the route's type ([`FromChecked`]). A body that fails any step is a 400 whose
//! detail names the first place it departs from the schema, never the value sent.
//!
//! The content type is not checked: Vapi and Sikka always send JSON, and a missing or odd header
//! on an otherwise valid body must not cost a patient their answer.

use std::{collections::HashMap, sync::LazyLock};

use poem::{Request, RequestBody, http::StatusCode};
use poem_openapi::{
    payload::{ParsePayload, Payload},
    registry::{MetaSchemaRef, Registry},
    types::{ParseFromJSON, Type},
};
use serde_json::{Value, json};

/// A request body checked against its documented schema, then read as `T`.
pub struct Checked<T>(pub T);

impl<T> std::ops::Deref for Checked<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

/// How a type is read from a checked body.
pub trait FromChecked: Sized + Send {
    /// The schema that documents the body, and whose validator checks it.
    type Schema: Type;
    /// Words a body that is not JSON at all.
    fn not_json(error: serde_json::Error) -> String;
    /// Drops the nulls the schema reads as absent (OpenAPI 3.0's `nullable` is not JSON Schema;
    /// the validator ignores it), before the check.
    fn drop_nulls(value: &mut Value);
    /// Reads the checked body; `verdict` is the check's (`Err`: where the body departs from the
    /// schema). `Err` is the 400's detail.
    fn read(value: Value, verdict: Result<(), String>) -> Result<Self, String>;
    /// The 400 answer carrying `detail`.
    fn refuse(detail: String) -> poem::Error;
}

/// The Sikka bodies: poem-openapi objects whose null fields are absent, read by poem-openapi.
impl<T: Type + ParseFromJSON + Send> FromChecked for T {
    type Schema = T;

    fn not_json(error: serde_json::Error) -> String {
        format!("The request body is not JSON: {error}")
    }

    fn drop_nulls(value: &mut Value) {
        if let Some(fields) = value.as_object_mut() {
            fields.retain(|_, v| !v.is_null());
        }
    }

    fn read(value: Value, verdict: Result<(), String>) -> Result<Self, String> {
        verdict?;
        T::parse_from_json(Some(value))
            .map_err(|e| format!("The request body is invalid: {}", e.into_message()))
    }

    fn refuse(detail: String) -> poem::Error {
        poem::Error::from_string(detail, StatusCode::BAD_REQUEST)
    }
}

impl<T: FromChecked> Payload for Checked<T> {
    const CONTENT_TYPE: &'static str = "application/json";

    fn schema_ref() -> MetaSchemaRef {
        T::Schema::schema_ref()
    }

    fn register(registry: &mut Registry) {
        T::Schema::register(registry);
    }
}

impl<T: FromChecked> ParsePayload for Checked<T> {
    const IS_REQUIRED: bool = true;

    async fn from_request(_: &Request, body: &mut RequestBody) -> poem::Result<Self> {
        let bytes = body
            .take()?
            .into_bytes()
            .await
            .map_err(|e| T::refuse(format!("The request body could not be read: {e}")))?;
        let mut value: Value =
            serde_json::from_slice(&bytes).map_err(|e| T::refuse(T::not_json(e)))?;
        T::drop_nulls(&mut value);
        let verdict = VALIDATORS.check(&T::Schema::name(), &value);
        T::read(value, verdict).map(Self).map_err(T::refuse)
    }
}

/// Makes a request payload (its `Payload` and `ParsePayload`) a request body extractor whose
/// content type is not checked: `body_extractor!([generics] Type)`.
macro_rules! body_extractor {
    ([$($generics:tt)*] $ty:ty) => {
        impl<'a, $($generics)*> poem_openapi::ApiExtractor<'a> for $ty {
            const TYPES: &'static [poem_openapi::ApiExtractorType] =
                &[poem_openapi::ApiExtractorType::RequestObject];
            type ParamType = ();
            type ParamRawType = ();

            fn register(registry: &mut poem_openapi::registry::Registry) {
                <Self as poem_openapi::payload::Payload>::register(registry);
            }

            fn request_meta() -> Option<poem_openapi::registry::MetaRequest> {
                use poem_openapi::payload::Payload;
                Some(poem_openapi::registry::MetaRequest {
                    description: None,
                    content: vec![poem_openapi::registry::MetaMediaType {
                        content_type: <Self as Payload>::CONTENT_TYPE,
                        schema: <Self as Payload>::schema_ref(),
                    }],
                    required: true,
                })
            }

            async fn from_request(
                request: &'a poem::Request,
                body: &mut poem::RequestBody,
                _: poem_openapi::ExtractParamOptions<()>,
            ) -> poem::Result<Self> {
                <Self as poem_openapi::payload::ParsePayload>::from_request(request, body).await
            }
        }
    };
}
pub(crate) use body_extractor;

// A request body extractor whose content type is not checked (see the module doc).
body_extractor!([T: FromChecked] Checked<T>);

/// The validators of every request body in the served document, compiled once.
pub static VALIDATORS: LazyLock<Validators> =
    LazyLock::new(|| Validators::new(&super::openapi::document_value()));

/// One compiled JSON Schema per request body of the document, by schema name.
pub struct Validators {
    by_schema: HashMap<String, jsonschema::Validator>,
}

impl Validators {
    pub fn new(doc: &Value) -> Self {
        let mut by_schema = HashMap::new();
        let components = json!({"schemas": doc["components"]["schemas"].clone()});
        for item in doc["paths"]
            .as_object()
            .into_iter()
            .flat_map(|p| p.values())
        {
            let Some(reference) =
                item["post"]["requestBody"]["content"]["application/json"]["schema"]["$ref"]
                    .as_str()
            else {
                continue;
            };
            let name = reference.rsplit('/').next().unwrap_or_default().to_owned();
            let schema = json!({"$ref": reference, "components": components});
            let validator =
                jsonschema::validator_for(&schema).expect("the gateway's own schemas compile");
            by_schema.insert(name, validator);
        }
        Self { by_schema }
    }

    /// `Err` names the first place the body departs from the schema and what it expects there,
    /// never the value sent (it may be a patient's name or a secret).
    pub fn check(&self, schema: &str, body: &Value) -> Result<(), String> {
        let Some(validator) = self.by_schema.get(schema) else {
            return Ok(());
        };
        // The common case costs a plain check; errors are gathered only for a refusal.
        if validator.is_valid(body) {
            return Ok(());
        }
        match validator.iter_errors(body).next() {
            None => Ok(()),
            Some(err) => {
                let at = err.instance_path().to_string();
                let at = if at.is_empty() { "/".to_owned() } else { at };
                Err(format!(
                    "The request body does not match the {schema} schema at {at}: {}",
                    err.masked_with("the value")
                ))
            }
        }
    }
}
