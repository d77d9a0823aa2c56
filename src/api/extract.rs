//! Request parsing with FastAPI's error contract: every failing field of a
//! body, query string or path is collected and reported at once in a 422,
//! with pydantic's `type`, `loc` and `msg`, instead of stopping at the first.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use serde_json::{Map, Value, json};

use crate::error::{ApiError, FieldError};

/// Largest id a 64-bit database column can hold; anything above cannot exist.
pub const MAX_ID: i64 = i64::MAX;

/// Where the values being checked come from, for the `loc` of each error.
#[derive(Clone, Copy)]
pub enum Source {
    Body,
    Query,
    Path,
}

impl Source {
    fn name(self) -> &'static str {
        match self {
            Source::Body => "body",
            Source::Query => "query",
            Source::Path => "path",
        }
    }
}

/// A set of named input values being validated, collecting errors as it goes.
pub struct Fields<'a> {
    source: Source,
    values: &'a Map<String, Value>,
    errors: Vec<FieldError>,
}

fn loc(source: Source, name: &str) -> Vec<Value> {
    vec![json!(source.name()), json!(name)]
}

impl<'a> Fields<'a> {
    pub fn new(source: Source, values: &'a Map<String, Value>) -> Self {
        Self {
            source,
            values,
            errors: Vec::new(),
        }
    }

    pub fn push(&mut self, error: FieldError) {
        self.errors.push(error);
    }

    fn missing(&mut self, name: &str) {
        self.errors.push(
            FieldError::new(loc(self.source, name), "missing", "Field required")
                .with_input(Value::Null),
        );
    }

    /// Whether a value was given for `name`.
    pub fn has(&self, name: &str) -> bool {
        self.values.contains_key(name)
    }

    fn present(&self, name: &str) -> Option<&'a Value> {
        // Query strings cannot carry null; for JSON, an explicit null is "missing" only for
        // optional fields, which callers handle through the `opt_` helpers.
        self.values.get(name)
    }

    /// A required string whose length (in characters, as pydantic counts) lies in `min..=max`.
    pub fn string(&mut self, name: &str, min: usize, max: usize) -> Option<String> {
        match self.present(name) {
            None => {
                self.missing(name);
                None
            }
            Some(v) => self.check_string(name, v, min, max),
        }
    }

    /// An optional string: absent or null gives `Some(None)`.
    pub fn opt_string(&mut self, name: &str, min: usize, max: usize) -> Option<Option<String>> {
        match self.present(name) {
            None | Some(Value::Null) => Some(None),
            Some(v) => self.check_string(name, v, min, max).map(Some),
        }
    }

    /// [`Self::string`] for a secret (a password, a refresh token): its
    /// errors never echo what was sent, since a 422 body ends up in logs,
    /// proxies and bug reports.
    pub fn secret(&mut self, name: &str, min: usize, max: usize) -> Option<String> {
        let before = self.errors.len();
        let value = self.string(name, min, max);
        self.forget_inputs(before);
        value
    }

    /// [`Self::opt_string`] for a secret (see [`Self::secret`]).
    pub fn opt_secret(&mut self, name: &str, min: usize, max: usize) -> Option<Option<String>> {
        let before = self.errors.len();
        let value = self.opt_string(name, min, max);
        self.forget_inputs(before);
        value
    }

    fn forget_inputs(&mut self, from: usize) {
        for e in &mut self.errors[from..] {
            e.input = None;
        }
    }

    fn check_string(&mut self, name: &str, v: &Value, min: usize, max: usize) -> Option<String> {
        let Value::String(s) = v else {
            self.errors.push(
                FieldError::new(
                    loc(self.source, name),
                    "string_type",
                    "Input should be a valid string",
                )
                .with_input(v.clone()),
            );
            return None;
        };
        if s.contains('\0') {
            self.errors.push(nul_error(loc(self.source, name), v));
            return None;
        }
        let len = s.chars().count();
        if len < min {
            let unit = if min == 1 { "character" } else { "characters" };
            self.errors.push(
                FieldError::new(
                    loc(self.source, name),
                    "string_too_short",
                    format!("String should have at least {min} {unit}"),
                )
                .with_input(v.clone())
                .with_ctx(json!({ "min_length": min })),
            );
            return None;
        }
        if len > max {
            self.errors.push(
                FieldError::new(
                    loc(self.source, name),
                    "string_too_long",
                    format!("String should have at most {max} characters"),
                )
                .with_input(truncated(s))
                .with_ctx(json!({ "max_length": max })),
            );
            return None;
        }
        Some(s.clone())
    }

    /// A required integer in `min..=max`. Like pydantic's lax mode, integral floats
    /// (`5.0`) and numeric strings (`"5"`) are accepted.
    pub fn int(&mut self, name: &str, min: i64, max: i64) -> Option<i64> {
        match self.present(name) {
            None => {
                self.missing(name);
                None
            }
            Some(v) => self.check_int(name, v, min, max),
        }
    }

    /// An integer with a default when absent.
    pub fn int_or(&mut self, name: &str, default: i64, min: i64, max: i64) -> Option<i64> {
        match self.present(name) {
            None => Some(default),
            Some(v) => self.check_int(name, v, min, max),
        }
    }

    fn check_int(&mut self, name: &str, v: &Value, min: i64, max: i64) -> Option<i64> {
        let parsed: Result<i128, (&str, &str)> = match v {
            Value::Number(n) => {
                if let Some(i) = n.as_i64() {
                    Ok(i as i128)
                } else if let Some(u) = n.as_u64() {
                    Ok(u as i128)
                } else {
                    match n.as_f64() {
                        Some(f) if f.fract() == 0.0 && f.abs() < 1e30 => Ok(f as i128),
                        _ => Err((
                            "int_from_float",
                            "Input should be a valid integer, got a number with a fractional part",
                        )),
                    }
                }
            }
            Value::String(s) => parse_int_str(s.trim()).ok_or((
                "int_parsing",
                "Input should be a valid integer, unable to parse string as an integer",
            )),
            _ => Err(("int_type", "Input should be a valid integer")),
        };
        match parsed {
            Err((kind, msg)) => {
                self.errors.push(
                    FieldError::new(loc(self.source, name), kind, msg)
                        .with_input(truncated_value(v)),
                );
                None
            }
            Ok(i) if i < min as i128 => {
                self.errors.push(
                    FieldError::new(
                        loc(self.source, name),
                        "greater_than_equal",
                        format!("Input should be greater than or equal to {min}"),
                    )
                    .with_input(truncated_value(v))
                    .with_ctx(json!({ "ge": min })),
                );
                None
            }
            Ok(i) if i > max as i128 => {
                self.errors.push(
                    FieldError::new(
                        loc(self.source, name),
                        "less_than_equal",
                        format!("Input should be less than or equal to {max}"),
                    )
                    .with_input(truncated_value(v))
                    .with_ctx(json!({ "le": max })),
                );
                None
            }
            Ok(i) => Some(i as i64),
        }
    }

    /// An optional integer in `min..=max`: absent or null gives `Some(None)`.
    pub fn opt_int(&mut self, name: &str, min: i64, max: i64) -> Option<Option<i64>> {
        match self.present(name) {
            None | Some(Value::Null) => Some(None),
            Some(v) => self.check_int(name, v, min, max).map(Some),
        }
    }

    /// An optional boolean: absent or null gives `Some(None)`. Like pydantic's
    /// lax mode, `"true"`/`"false"` and `1`/`0` are accepted (query strings).
    pub fn opt_bool(&mut self, name: &str) -> Option<Option<bool>> {
        let v = match self.present(name) {
            None | Some(Value::Null) => return Some(None),
            Some(v) => v,
        };
        let parsed = match v {
            Value::Bool(b) => Some(*b),
            Value::Number(n) => match n.as_i64() {
                Some(0) => Some(false),
                Some(1) => Some(true),
                _ => None,
            },
            Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" | "on" => Some(true),
                "false" | "0" | "no" | "off" => Some(false),
                _ => None,
            },
            _ => None,
        };
        if parsed.is_none() {
            self.errors.push(
                FieldError::new(
                    loc(self.source, name),
                    "bool_parsing",
                    "Input should be a valid boolean",
                )
                .with_input(truncated_value(v)),
            );
            return None;
        }
        Some(parsed)
    }

    /// Whether `name` was given as an explicit JSON null (a request to clear it).
    pub fn is_null(&self, name: &str) -> bool {
        matches!(self.present(name), Some(Value::Null))
    }

    /// An optional absolute `http://` or `https://` URL with a host, at most
    /// 2,000 characters: absent or null gives `Some(None)`.
    pub fn opt_url(&mut self, name: &str) -> Option<Option<String>> {
        let Some(s) = self.opt_string(name, 1, 2000)? else {
            return Some(None);
        };
        let ok = url::Url::parse(s.trim())
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some());
        match ok {
            Some(_) => Some(Some(s.trim().to_owned())),
            None => {
                self.errors.push(
                    FieldError::new(
                        loc(self.source, name),
                        "url_parsing",
                        "Input should be a valid URL starting with http:// or https://",
                    )
                    .with_input(truncated(&s)),
                );
                None
            }
        }
    }

    /// Reports a required list that is absent, null or empty.
    pub fn required_list(&mut self, name: &str) {
        match self.present(name) {
            None | Some(Value::Null) => self.missing(name),
            Some(v) => self.errors.push(
                FieldError::new(
                    loc(self.source, name),
                    "too_short",
                    "List should have at least 1 item after validation, not 0",
                )
                .with_input(v.clone())
                .with_ctx(json!({ "field_type": "List", "min_length": 1, "actual_length": 0 })),
            ),
        }
    }

    /// Reports item `index` of list `name` as invalid, with why.
    pub fn bad_item(&mut self, name: &str, index: usize, input: &str, msg: &str) {
        let mut at = loc(self.source, name);
        at.push(json!(index));
        self.errors
            .push(FieldError::new(at, "value_error", msg.to_owned()).with_input(truncated(input)));
    }

    /// An optional list of strings (absent or null gives `Some(None)`), at most
    /// `max_items` long, each trimmed and `1..=max_len` characters. Errors name
    /// the item's index, as pydantic does.
    pub fn opt_string_list(
        &mut self,
        name: &str,
        max_items: usize,
        max_len: usize,
    ) -> Option<Option<Vec<String>>> {
        let v = match self.present(name) {
            None | Some(Value::Null) => return Some(None),
            Some(v) => v,
        };
        let Value::Array(items) = v else {
            self.errors.push(
                FieldError::new(
                    loc(self.source, name),
                    "list_type",
                    "Input should be a valid list",
                )
                .with_input(truncated_value(v)),
            );
            return None;
        };
        if items.len() > max_items {
            self.errors.push(
                FieldError::new(
                    loc(self.source, name),
                    "too_long",
                    format!(
                        "List should have at most {max_items} items after validation, not {}",
                        items.len()
                    ),
                )
                .with_ctx(json!({ "field_type": "List", "max_length": max_items, "actual_length": items.len() })),
            );
            return None;
        }
        let mut out = Vec::with_capacity(items.len());
        let mut ok = true;
        for (i, item) in items.iter().enumerate() {
            let at = {
                let mut l = loc(self.source, name);
                l.push(json!(i));
                l
            };
            match item {
                Value::String(s) if s.contains('\0') => {
                    ok = false;
                    self.errors.push(nul_error(at, item));
                }
                Value::String(s) if (1..=max_len).contains(&s.trim().chars().count()) => {
                    out.push(s.trim().to_owned());
                }
                Value::String(s) if s.trim().is_empty() => {
                    ok = false;
                    self.errors.push(
                        FieldError::new(
                            at,
                            "string_too_short",
                            "String should have at least 1 character",
                        )
                        .with_input(item.clone())
                        .with_ctx(json!({ "min_length": 1 })),
                    );
                }
                Value::String(s) => {
                    ok = false;
                    self.errors.push(
                        FieldError::new(
                            at,
                            "string_too_long",
                            format!("String should have at most {max_len} characters"),
                        )
                        .with_input(truncated(s))
                        .with_ctx(json!({ "max_length": max_len })),
                    );
                }
                other => {
                    ok = false;
                    self.errors.push(
                        FieldError::new(at, "string_type", "Input should be a valid string")
                            .with_input(truncated_value(other)),
                    );
                }
            }
        }
        ok.then_some(Some(out))
    }

    /// An optional value out of a fixed set of strings (absent gives `Some(None)`).
    pub fn opt_choice(
        &mut self,
        name: &str,
        allowed: &[&'static str],
    ) -> Option<Option<&'static str>> {
        match self.present(name) {
            None | Some(Value::Null) => Some(None),
            Some(v) => self.check_choice(name, v, allowed).map(Some),
        }
    }

    /// A required value out of a fixed set of strings.
    pub fn choice(&mut self, name: &str, allowed: &[&'static str]) -> Option<&'static str> {
        match self.present(name) {
            None => {
                self.missing(name);
                None
            }
            Some(v) => self.check_choice(name, v, allowed),
        }
    }

    fn check_choice(
        &mut self,
        name: &str,
        v: &Value,
        allowed: &[&'static str],
    ) -> Option<&'static str> {
        if let Value::String(s) = v
            && let Some(hit) = allowed.iter().find(|a| **a == s)
        {
            return Some(hit);
        }
        let listed = pydantic_choices(allowed);
        self.errors.push(
            FieldError::new(
                loc(self.source, name),
                "enum",
                format!("Input should be {listed}"),
            )
            .with_input(truncated_value(v))
            .with_ctx(json!({ "expected": listed })),
        );
        None
    }

    /// Finish validation: the built value when every field passed, or all the errors.
    pub fn finish<T>(self, value: Option<T>) -> Result<T, ApiError> {
        match value {
            Some(v) if self.errors.is_empty() => Ok(v),
            _ => {
                let mut errors = self.errors;
                if errors.is_empty() {
                    // A builder returned None without recording why: still a client error.
                    errors.push(FieldError::new(
                        vec![json!(self.source.name())],
                        "value_error",
                        "Invalid input",
                    ));
                }
                Err(ApiError::Validation(errors))
            }
        }
    }
}

/// `'a', 'b' or 'c'`, as pydantic lists enum members.
pub fn pydantic_choices(allowed: &[&str]) -> String {
    let quoted: Vec<String> = allowed.iter().map(|a| format!("'{a}'")).collect();
    match quoted.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
        Some((last, _)) => last.clone(),
        None => String::new(),
    }
}

fn parse_int_str(s: &str) -> Option<i128> {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit() || b == b'_') {
        return None;
    }
    match s.replace('_', "").parse::<i128>() {
        Ok(v) => Some(v),
        // Longer than i128 but all digits: clamp so the range check reports it.
        Err(_) if s.starts_with('-') => Some(i128::MIN),
        Err(_) => Some(i128::MAX),
    }
}

/// Text with a NUL character: PostgreSQL cannot store one in text, and no
/// name, term or message needs one, so both backends refuse it alike.
fn nul_error(at: Vec<Value>, input: &Value) -> FieldError {
    FieldError::new(
        at,
        "value_error",
        "Value error, the text contains a NUL character (\\u0000)",
    )
    .with_input(truncated_value(input))
}

/// Echoed inputs are capped so a 1 MB string is not reflected back in full.
fn truncated(s: &str) -> Value {
    const CAP: usize = 200;
    if s.chars().count() <= CAP {
        Value::String(s.to_owned())
    } else {
        Value::String(s.chars().take(CAP).chain("…".chars()).collect())
    }
}

fn truncated_value(v: &Value) -> Value {
    match v {
        Value::String(s) => truncated(s),
        Value::Array(_) | Value::Object(_) => {
            let text = v.to_string();
            if text.len() > 200 {
                truncated(&text)
            } else {
                v.clone()
            }
        }
        other => other.clone(),
    }
}

/// A request body type validated field by field from its JSON object.
pub trait FromBody: Sized {
    fn from_fields(fields: &mut Fields<'_>) -> Option<Self>;
}

/// A query string type validated field by field.
pub trait FromQuery: Sized {
    fn from_fields(fields: &mut Fields<'_>) -> Option<Self>;
}

/// Parses a JSON body; on any problem answers with FastAPI's 422 list.
pub struct ValidJson<T>(pub T);

/// `application/json`, or any `application/*+json`, whatever its parameters.
fn is_json(content_type: &str) -> bool {
    let essence = content_type.split(';').next().unwrap_or("").trim();
    let essence = essence.to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

pub(crate) async fn read_body<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, ApiError> {
    Bytes::from_request(req, state).await.map_err(|rejection| {
        if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::PayloadTooLarge
        } else {
            ApiError::BadRequest("Could not read the request body".into())
        }
    })
}

/// Parses bytes as a JSON object, with pydantic's errors for the ways that can fail.
pub fn json_object(bytes: &[u8]) -> Result<Map<String, Value>, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::Validation(vec![
            FieldError::body("missing", "Field required").with_input(Value::Null),
        ]));
    }
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(other) => Err(ApiError::Validation(vec![
            FieldError::body(
                "model_attributes_type",
                "Input should be a valid dictionary or object to extract fields from",
            )
            .with_input(truncated_value(&other)),
        ])),
        Err(err) => {
            let offset = byte_offset(bytes, err.line(), err.column());
            Err(ApiError::Validation(vec![
                FieldError::new(
                    vec![json!("body"), json!(offset)],
                    "json_invalid",
                    "JSON decode error",
                )
                .with_input(json!({}))
                .with_ctx(json!({ "error": err.to_string() })),
            ]))
        }
    }
}

fn byte_offset(bytes: &[u8], line: usize, column: usize) -> usize {
    let mut current = 1;
    let mut start = 0;
    for (i, b) in bytes.iter().enumerate() {
        if current == line {
            break;
        }
        if *b == b'\n' {
            current += 1;
            start = i + 1;
        }
    }
    (start + column.saturating_sub(1)).min(bytes.len())
}

impl<S, T> FromRequest<S> for ValidJson<T>
where
    S: Send + Sync,
    T: FromBody,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let declared = req
            .headers()
            .get(axum::http::header::CONTENT_TYPE)
            .map(|v| v.to_str().unwrap_or("?").to_owned());
        let bytes = read_body(req, state).await?;
        // As FastAPI: a body declared as anything but JSON is not read as JSON
        // (a form posted cross-site as text/plain cannot pass for a request);
        // a body without a content type still is.
        if let Some(declared) = declared
            && !is_json(&declared)
        {
            return Err(ApiError::Validation(vec![
                FieldError::body(
                    "model_attributes_type",
                    "Input should be a valid dictionary or object to extract fields from",
                )
                .with_input(Value::String(format!("a {declared} body"))),
            ]));
        }
        let map = json_object(&bytes)?;
        let mut fields = Fields::new(Source::Body, &map);
        let value = T::from_fields(&mut fields);
        fields.finish(value).map(ValidJson)
    }
}

/// Parses the query string; on any problem answers with FastAPI's 422 list.
pub struct ValidQuery<T>(pub T);

impl<S, T> FromRequestParts<S> for ValidQuery<T>
where
    S: Send + Sync,
    T: FromQuery,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let map = query_map(parts.uri.query().unwrap_or(""));
        let mut fields = Fields::new(Source::Query, &map);
        let value = T::from_fields(&mut fields);
        fields.finish(value).map(ValidQuery)
    }
}

/// Query pairs as a JSON map of strings; a repeated key keeps its last value, as Starlette does.
pub fn query_map(query: &str) -> Map<String, Value> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query).unwrap_or_default();
    pairs
        .into_iter()
        .map(|(k, v)| (k, Value::String(v)))
        .collect()
}

/// A validated `{product_id}`-style path id (1..=2^63-1).
pub struct PathId(pub i64);

impl<S: Send + Sync> FromRequestParts<S> for PathId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let params = axum::extract::RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::NotFound("Not Found".into()))?;
        let (name, raw) = params
            .iter()
            .next()
            .ok_or_else(|| ApiError::NotFound("Not Found".into()))?;
        let mut map = Map::new();
        map.insert(name.to_owned(), Value::String(raw.to_owned()));
        let mut fields = Fields::new(Source::Path, &map);
        let id = fields.int(name, 1, MAX_ID);
        fields.finish(id).map(PathId)
    }
}

/// Query string of the paginated list endpoints: `skip >= 0`, `0 <= limit <= 1000`
/// (`limit=0` answers an empty page, as the brief's implementation does).
#[derive(Debug, Clone, Copy, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Pagination {
    /// Number of records to skip.
    #[param(
        required = false,
        minimum = 0,
        maximum = 9_223_372_036_854_775_807_i64,
        default = 0
    )]
    pub skip: i64,
    /// Maximum records to return.
    #[param(required = false, minimum = 0, maximum = 1000, default = 100)]
    pub limit: i64,
}

impl FromQuery for Pagination {
    fn from_fields(f: &mut Fields<'_>) -> Option<Self> {
        let skip = f.int_or("skip", 0, 0, MAX_ID);
        let limit = f.int_or("limit", 100, 0, 1000);
        Some(Self {
            skip: skip?,
            limit: limit?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn choices_are_listed_like_pydantic() {
        assert_eq!(pydantic_choices(&["a"]), "'a'");
        assert_eq!(pydantic_choices(&["a", "b", "c"]), "'a', 'b' or 'c'");
    }

    #[test]
    fn huge_integers_are_range_errors_not_crashes() {
        let map = query_map("skip=99999999999999999999999999999999999999999999&limit=-1");
        let mut f = Fields::new(Source::Query, &map);
        let p = Pagination::from_fields(&mut f);
        let err = f.finish(p).unwrap_err();
        let ApiError::Validation(errors) = err else {
            panic!("expected validation error")
        };
        let kinds: Vec<_> = errors.iter().map(|e| e.kind.as_str()).collect();
        assert_eq!(kinds, ["less_than_equal", "greater_than_equal"]);
    }

    #[test]
    fn malformed_json_reports_the_offset() {
        let ApiError::Validation(errors) = json_object(b"{\"a\": }").unwrap_err() else {
            panic!()
        };
        assert_eq!(errors[0].kind, "json_invalid");
        assert_eq!(errors[0].loc, vec![json!("body"), json!(6)]);
    }
}
