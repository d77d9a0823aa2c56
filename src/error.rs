//! The HTTP error type. Every handler returns `Result<_, ApiError>`, and every
//! error leaves the server in one of the two shapes FastAPI clients expect:
//! `{"detail": "message"}`, or for 422 a list naming each failing field.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::store::StoreError;

/// One failing field, as pydantic reports it.
#[derive(Debug, Clone, Serialize, ToSchema, PartialEq)]
pub struct FieldError {
    /// Where the value came from (`body`, `query`, `path`) followed by the field name.
    #[schema(value_type = Vec<Value>)]
    pub loc: Vec<Value>,
    pub msg: String,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Value>)]
    pub input: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub ctx: Option<Value>,
}

impl FieldError {
    pub fn new(loc: Vec<Value>, kind: &str, msg: impl Into<String>) -> Self {
        Self {
            loc,
            msg: msg.into(),
            kind: kind.to_owned(),
            input: None,
            ctx: None,
        }
    }

    /// A problem with the request body as a whole.
    pub fn body(kind: &str, msg: impl Into<String>) -> Self {
        Self::new(vec![Value::from("body")], kind, msg)
    }

    /// A problem with one field of the request body.
    pub fn body_field(field: &str, kind: &str, msg: impl Into<String>) -> Self {
        Self::new(vec![Value::from("body"), Value::from(field)], kind, msg)
    }

    pub fn with_input(mut self, input: Value) -> Self {
        self.input = Some(input);
        self
    }

    pub fn with_ctx(mut self, ctx: Value) -> Self {
        self.ctx = Some(ctx);
        self
    }
}

/// `{"detail": "message"}`: the body of every 4xx/5xx other than 422.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub detail: String,
}

/// `{"detail": [...]}`: the body of a 422.
#[derive(Debug, Serialize, ToSchema)]
pub struct ValidationErrorBody {
    pub detail: Vec<FieldError>,
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    /// The request conflicts with the current state (a duplicate name, a scan
    /// already running).
    #[error("{0}")]
    Conflict(String),
    #[error("validation failed")]
    Validation(Vec<FieldError>),
    #[error("request body too large")]
    PayloadTooLarge,
    #[error("rate limit exceeded")]
    RateLimited { detail: String },
    #[error("service unavailable: {0}")]
    Unavailable(String),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl ApiError {
    pub fn not_found(what: &str) -> Self {
        Self::NotFound(format!("{what} not found"))
    }

    pub fn unauthorized() -> Self {
        Self::Unauthorized("Could not validate credentials".into())
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Unavailable(e) => Self::Unavailable(e),
            // "product" -> 404 "Product not found", the brief's wording.
            StoreError::NotFound(what) => {
                let mut name = what.to_owned();
                if let Some(first) = name.get_mut(..1) {
                    first.make_ascii_uppercase();
                }
                Self::not_found(&name)
            }
            StoreError::Conflict(what) => {
                let mut name = what.to_owned();
                if let Some(first) = name.get_mut(..1) {
                    first.make_ascii_uppercase();
                }
                Self::Conflict(format!("{name} already exists"))
            }
            other => Self::Internal(other.into()),
        }
    }
}

pub fn json_detail(status: StatusCode, detail: &str) -> Response {
    let body = serde_json::to_vec(&ErrorBody {
        detail: detail.to_owned(),
    })
    .unwrap_or_default();
    let mut res = (status, body).into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    res
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        match self {
            Self::Validation(errors) => {
                let mut res = axum::Json(ValidationErrorBody { detail: errors }).into_response();
                *res.status_mut() = status;
                res
            }
            Self::Unauthorized(detail) => {
                let mut res = json_detail(status, &detail);
                res.headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
                res
            }
            Self::Internal(err) => {
                // The cause goes to the log (with the request id from the span), never to the client.
                tracing::error!(error = ?err, "internal error");
                json_detail(status, "Internal Server Error")
            }
            Self::Unavailable(cause) => {
                tracing::warn!(%cause, "dependency unavailable");
                json_detail(status, "Service temporarily unavailable, try again shortly")
            }
            Self::PayloadTooLarge => json_detail(status, "Request body too large"),
            Self::RateLimited { detail } => json_detail(status, &detail),
            Self::BadRequest(d) | Self::Forbidden(d) | Self::NotFound(d) | Self::Conflict(d) => {
                json_detail(status, &d)
            }
        }
    }
}
