//! Accounts and sessions: `/signup`, `/token` (OAuth2 password form),
//! `/token/refresh` (rotation), `/logout`, `/users/me`, and user management
//! for administrators.

use axum::Json;
use axum::extract::{FromRequest, Multipart, Request, State};
use axum::http::header::CONTENT_TYPE;
use serde::Serialize;
use serde_json::{Map, Value, json};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::{Fields, FromBody, PathId, Source, ValidJson, json_object, read_body};
use crate::app::AppState;
use crate::auth::password::{self, Verified};
use crate::auth::tokens::{random_token, refresh_hash};
use crate::auth::{AdminUser, CurrentUser};
use crate::error::{ApiError, ErrorBody, FieldError, ValidationErrorBody};
use crate::store::{NewUser, RefreshOutcome, StoreError, User};
use crate::time::{iso, now_ms};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(signup))
        .routes(routes!(login))
        .routes(routes!(refresh))
        .routes(routes!(logout))
        .routes(routes!(me))
        .routes(routes!(list_users))
        .routes(routes!(delete_user))
}

pub const USERNAME_PATTERN: &str = "^[A-Za-z0-9_]+$";

#[derive(Debug, ToSchema)]
pub struct UserCreate {
    #[schema(min_length = 3, max_length = 50, pattern = "^[A-Za-z0-9_]+$")]
    pub username: String,
    #[schema(format = Email)]
    pub email: String,
    #[schema(min_length = 6, max_length = 100)]
    pub password: String,
}

impl FromBody for UserCreate {
    fn from_fields(f: &mut Fields<'_>) -> Option<Self> {
        let username = f.string("username", 3, 50).and_then(|u| {
            if u.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                Some(u)
            } else {
                f.push(
                    FieldError::body_field(
                        "username",
                        "string_pattern_mismatch",
                        format!("String should match pattern '{USERNAME_PATTERN}'"),
                    )
                    .with_input(json!(u))
                    .with_ctx(json!({ "pattern": USERNAME_PATTERN })),
                );
                None
            }
        });
        let email = f
            .string("email", 0, 320)
            .and_then(|e| match check_email(&e) {
                Ok(()) => Some(e),
                Err(reason) => {
                    f.push(
                        FieldError::body_field(
                            "email",
                            "value_error",
                            format!("value is not a valid email address: {reason}"),
                        )
                        .with_input(json!(e))
                        .with_ctx(json!({ "reason": reason })),
                    );
                    None
                }
            });
        let password = f.secret("password", 6, 100);
        Some(Self {
            username: username?,
            email: email?,
            password: password?,
        })
    }
}

/// The checks of an address a user can actually receive mail at (ASCII form).
pub fn check_email(email: &str) -> Result<(), &'static str> {
    let Some((local, domain)) = email.rsplit_once('@') else {
        return Err("An email address must have an @-sign.");
    };
    if local.contains('@') {
        return Err("An email address must have exactly one @-sign.");
    }
    if local.is_empty() {
        return Err("There must be something before the @-sign.");
    }
    if domain.is_empty() {
        return Err("There must be something after the @-sign.");
    }
    if local.len() > 64 || email.len() > 254 {
        return Err("The email address is too long.");
    }
    const LOCAL_SPECIALS: &str = "!#$%&'*+/=?^_`{|}~.-";
    if !local
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || LOCAL_SPECIALS.contains(c))
    {
        return Err("The email address contains invalid characters before the @-sign.");
    }
    if local.starts_with('.') || local.ends_with('.') || local.contains("..") {
        return Err("The email address has a misplaced period before the @-sign.");
    }
    let labels: Vec<&str> = domain.split('.').collect();
    if labels.len() < 2 {
        return Err("The part after the @-sign is not valid. It should have a period.");
    }
    for label in &labels {
        if label.is_empty()
            || label.len() > 63
            || label.starts_with('-')
            || label.ends_with('-')
            || !label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        {
            return Err("The part after the @-sign is not valid.");
        }
    }
    let tld = labels.last().copied().unwrap_or_default();
    if tld.len() < 2 || !tld.chars().all(|c| c.is_ascii_alphabetic()) {
        return Err(
            "The part after the @-sign is not valid. It is not within a valid top-level domain.",
        );
    }
    Ok(())
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserOut {
    pub id: i64,
    pub username: String,
    pub email: String,
    pub created_at: String,
    pub is_admin: bool,
}

impl From<User> for UserOut {
    fn from(u: User) -> Self {
        Self {
            is_admin: u.admin(),
            id: u.id,
            username: u.username,
            email: u.email,
            created_at: iso(u.created_at),
        }
    }
}

async fn hash_password(password: String) -> Result<String, ApiError> {
    tokio::task::spawn_blocking(move || password::hash(&password))
        .await
        .map_err(anyhow::Error::from)?
        .map_err(ApiError::Internal)
}

/// Create an account.
#[utoipa::path(post, path = "/signup", tag = "auth",
    request_body = UserCreate,
    responses(
        (status = 200, body = UserOut),
        (status = 400, description = "Email or username already exists", body = ErrorBody),
        (status = 413, body = ErrorBody),
        (status = 422, body = ValidationErrorBody),
        (status = 429, body = ErrorBody),
    ))]
async fn signup(
    State(state): State<AppState>,
    ValidJson(input): ValidJson<UserCreate>,
) -> Result<Json<UserOut>, ApiError> {
    match create_account(&state, input).await? {
        Ok(user) => Ok(Json(user.into())),
        Err(Taken::Email) => Err(ApiError::BadRequest("Email already registered".into())),
        Err(Taken::Username) => Err(ApiError::BadRequest("Username already taken".into())),
    }
}

/// What made a new account impossible.
pub(crate) enum Taken {
    Email,
    Username,
}

/// Hashes the password and stores a new, non-administrator account: the
/// API's sign-up and the dashboard's. The caller says "taken" its own way.
pub(crate) async fn create_account(
    state: &AppState,
    input: UserCreate,
) -> Result<Result<User, Taken>, ApiError> {
    let hashed = hash_password(input.password).await?;
    let created = state
        .store
        .create_user(NewUser {
            username: &input.username,
            email: &input.email,
            hashed_password: &hashed,
            is_admin: false,
            now: now_ms(),
        })
        .await;
    match created {
        Ok(user) => {
            tracing::info!(user_id = user.id, "account created");
            Ok(Ok(user))
        }
        Err(StoreError::Conflict("email")) => Ok(Err(Taken::Email)),
        Err(StoreError::Conflict(_)) => Ok(Err(Taken::Username)),
        Err(e) => Err(e.into()),
    }
}

/// The OAuth2 password form, as `application/x-www-form-urlencoded` or `multipart/form-data`.
#[derive(Debug, ToSchema)]
pub struct PasswordForm {
    /// Username (or email address).
    #[schema(max_length = 320)]
    pub username: String,
    #[schema(max_length = 1024)]
    pub password: String,
    #[schema(pattern = "^password$", nullable = false)]
    pub grant_type: Option<String>,
}

impl<S: Send + Sync> FromRequest<S> for PasswordForm {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let content_type = req
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_ascii_lowercase();
        let mut map = Map::new();
        if content_type.starts_with("multipart/form-data") {
            let mut multipart = Multipart::from_request(req, state)
                .await
                .map_err(|_| ApiError::BadRequest("There was an error parsing the body".into()))?;
            loop {
                match multipart.next_field().await {
                    Ok(Some(field)) => {
                        let name = field.name().unwrap_or_default().to_owned();
                        let text = field.text().await.map_err(|e| multipart_error(&e))?;
                        map.insert(name, Value::String(text));
                    }
                    Ok(None) => break,
                    Err(e) => return Err(multipart_error(&e)),
                }
            }
        } else {
            let bytes = read_body(req, state).await?;
            let pairs: Vec<(String, String)> =
                serde_urlencoded::from_bytes(&bytes).unwrap_or_default();
            for (k, v) in pairs {
                map.insert(k, Value::String(v));
            }
        }
        let mut fields = Fields::new(Source::Body, &map);
        let username = fields.string("username", 0, 320);
        let password = fields.secret("password", 0, 1024);
        let grant_type = fields
            .opt_string("grant_type", 0, 64)
            .and_then(|g| match g {
                Some(g) if g != "password" => {
                    fields.push(
                        FieldError::body_field(
                            "grant_type",
                            "string_pattern_mismatch",
                            "String should match pattern '^password$'",
                        )
                        .with_input(json!(g)),
                    );
                    None
                }
                other => Some(other),
            });
        let value = match (username, password, grant_type) {
            (Some(username), Some(password), Some(grant_type)) => Some(PasswordForm {
                username,
                password,
                grant_type,
            }),
            _ => None,
        };
        fields.finish(value)
    }
}

fn multipart_error(e: &axum::extract::multipart::MultipartError) -> ApiError {
    if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::PayloadTooLarge
    } else {
        ApiError::BadRequest("There was an error parsing the body".into())
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Token {
    pub access_token: String,
    /// Always `bearer`.
    pub token_type: String,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    /// Single use: exchange it at `/token/refresh` for a new pair.
    pub refresh_token: String,
}

/// A fresh session: an access token and the first refresh token of a new family.
async fn issue_pair(state: &AppState, user: &User) -> Result<Token, ApiError> {
    let now = now_ms();
    let family = random_token(12);
    let (access_token, _) = state
        .keys
        .issue_access(user.id, &user.username, (now / 1000) as u64, &family)
        .map_err(ApiError::Internal)?;
    let refresh_token = random_token(32);
    state
        .store
        .store_refresh_token(
            user.id,
            &refresh_hash(&refresh_token),
            &family,
            now,
            now + state.keys.refresh_ttl.as_millis() as i64,
        )
        .await?;
    Ok(Token {
        access_token,
        token_type: "bearer".into(),
        expires_in: state.keys.access_ttl.as_secs(),
        refresh_token,
    })
}

/// Log in with the OAuth2 password form; answers a bearer token.
#[utoipa::path(post, path = "/token", tag = "auth",
    request_body(content(
        (PasswordForm = "application/x-www-form-urlencoded"),
        (PasswordForm = "multipart/form-data"),
    )),
    responses(
        (status = 200, body = Token),
        (status = 400, description = "Unreadable form body", body = ErrorBody),
        (status = 401, description = "Invalid credentials", body = ErrorBody,
            headers(("WWW-Authenticate" = String))),
        (status = 413, body = ErrorBody),
        (status = 422, body = ValidationErrorBody),
        (status = 429, body = ErrorBody),
    ))]
async fn login(State(state): State<AppState>, form: PasswordForm) -> Result<Json<Token>, ApiError> {
    let user = state.store.user_by_login(&form.username).await?;
    let stored = user.as_ref().map_or_else(
        || password::dummy_hash().to_owned(),
        |u| u.hashed_password.clone(),
    );
    let candidate = form.password.clone();
    let verified = tokio::task::spawn_blocking(move || password::verify(&candidate, &stored))
        .await
        .map_err(anyhow::Error::from)?;
    let user = match (user, verified) {
        (Some(user), Verified::Yes | Verified::YesRehash) => {
            if verified == Verified::YesRehash {
                let upgraded = hash_password(form.password).await?;
                state.store.set_password_hash(user.id, &upgraded).await?;
                tracing::info!(
                    user_id = user.id,
                    "upgraded a legacy password hash to Argon2id"
                );
            }
            user
        }
        _ => {
            return Err(ApiError::Unauthorized(
                "Incorrect username or password".into(),
            ));
        }
    };
    Ok(Json(issue_pair(&state, &user).await?))
}

#[derive(Debug, ToSchema)]
pub struct RefreshRequest {
    #[schema(min_length = 1, max_length = 512)]
    pub refresh_token: String,
}

impl FromBody for RefreshRequest {
    fn from_fields(f: &mut Fields<'_>) -> Option<Self> {
        Some(Self {
            refresh_token: f.secret("refresh_token", 1, 512)?,
        })
    }
}

/// Exchange a refresh token for a new access token and a new refresh token.
/// Each refresh token works once; presenting a spent one ends that session.
#[utoipa::path(post, path = "/token/refresh", tag = "auth",
    request_body = RefreshRequest,
    responses(
        (status = 200, body = Token),
        (status = 401, body = ErrorBody, headers(("WWW-Authenticate" = String))),
        (status = 413, body = ErrorBody),
        (status = 422, body = ValidationErrorBody),
        (status = 429, body = ErrorBody),
    ))]
async fn refresh(
    State(state): State<AppState>,
    ValidJson(input): ValidJson<RefreshRequest>,
) -> Result<Json<Token>, ApiError> {
    let now = now_ms();
    let next = random_token(32);
    let outcome = state
        .store
        .rotate_refresh_token(
            &refresh_hash(&input.refresh_token),
            &refresh_hash(&next),
            now,
            now + state.keys.refresh_ttl.as_millis() as i64,
        )
        .await?;
    match outcome {
        RefreshOutcome::Rotated { user, family } => {
            let (access_token, _) = state
                .keys
                .issue_access(user.id, &user.username, (now / 1000) as u64, &family)
                .map_err(ApiError::Internal)?;
            Ok(Json(Token {
                access_token,
                token_type: "bearer".into(),
                expires_in: state.keys.access_ttl.as_secs(),
                refresh_token: next,
            }))
        }
        RefreshOutcome::Reused => {
            tracing::warn!("a spent refresh token was presented again: its session is revoked");
            Err(ApiError::Unauthorized("Refresh token already used".into()))
        }
        RefreshOutcome::Invalid => Err(ApiError::Unauthorized(
            "Invalid or expired refresh token".into(),
        )),
    }
}

/// The optional body of `/logout`.
#[derive(Debug, ToSchema)]
pub struct LogoutRequest {
    /// The session to end; without it, every session of the user ends.
    #[schema(min_length = 1, max_length = 512, nullable = true)]
    pub refresh_token: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LogoutOut {
    pub detail: String,
}

/// Log out: the access token stops working at once, and so does the session's
/// refresh token (the one given in the body, or every session of the user).
#[utoipa::path(post, path = "/logout", tag = "auth",
    request_body(content = Option<LogoutRequest>, description = "Optional: the session's refresh token"),
    security(("bearer" = [])),
    responses(
        (status = 200, body = LogoutOut),
        (status = 401, body = ErrorBody, headers(("WWW-Authenticate" = String))),
        (status = 413, body = ErrorBody),
        (status = 422, body = ValidationErrorBody),
        (status = 429, body = ErrorBody),
    ))]
async fn logout(
    State(state): State<AppState>,
    current: CurrentUser,
    body: axum::body::Bytes,
) -> Result<Json<LogoutOut>, ApiError> {
    let blank = body.iter().all(u8::is_ascii_whitespace);
    let refresh_token = if blank || body.trim_ascii() == b"null" {
        None
    } else {
        let map = json_object(&body)?;
        let mut fields = Fields::new(Source::Body, &map);
        let token = fields.opt_secret("refresh_token", 1, 512);
        fields.finish(token)?
    };
    state
        .store
        .revoke_session(
            current.user.id,
            &current.jti,
            (current.token_expires_at as i64) * 1000,
            refresh_token.as_deref().map(refresh_hash).as_deref(),
            now_ms(),
        )
        .await?;
    Ok(Json(LogoutOut {
        detail: "Logged out".into(),
    }))
}

/// The authenticated user.
#[utoipa::path(get, path = "/users/me", tag = "auth",
    security(("bearer" = [])),
    responses(
        (status = 200, body = UserOut),
        (status = 401, body = ErrorBody, headers(("WWW-Authenticate" = String))),
        (status = 429, body = ErrorBody),
    ))]
async fn me(current: CurrentUser) -> Json<UserOut> {
    Json(current.user.into())
}

/// All users (administrators only).
#[utoipa::path(get, path = "/users", tag = "admin",
    security(("bearer" = [])),
    responses(
        (status = 200, body = Vec<UserOut>),
        (status = 401, body = ErrorBody, headers(("WWW-Authenticate" = String))),
        (status = 403, body = ErrorBody),
        (status = 429, body = ErrorBody),
    ))]
async fn list_users(
    State(state): State<AppState>,
    _admin: AdminUser,
) -> Result<Json<Vec<UserOut>>, ApiError> {
    let users = state.store.list_users().await?;
    Ok(Json(users.into_iter().map(UserOut::from).collect()))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeletedOut {
    pub detail: String,
}

/// Delete a user with their watchlists and sessions (administrators only).
#[utoipa::path(delete, path = "/users/{user_id}", tag = "admin",
    params(("user_id" = i64, Path, minimum = 1)),
    security(("bearer" = [])),
    responses(
        (status = 200, body = DeletedOut),
        (status = 400, description = "Administrators cannot delete themselves", body = ErrorBody),
        (status = 401, body = ErrorBody, headers(("WWW-Authenticate" = String))),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 422, body = ValidationErrorBody),
        (status = 429, body = ErrorBody),
    ))]
async fn delete_user(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    PathId(user_id): PathId,
) -> Result<Json<DeletedOut>, ApiError> {
    if user_id == admin.id {
        return Err(ApiError::BadRequest(
            "You cannot delete your own account here".into(),
        ));
    }
    match state.store.delete_user_by_id(user_id).await {
        Ok(()) => Ok(Json(DeletedOut {
            detail: "User deleted".into(),
        })),
        Err(StoreError::NotFound(_)) => Err(ApiError::not_found("User")),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::check_email;

    #[test]
    fn emails_people_can_receive_mail_at() {
        for ok in [
            "a@b.co",
            "first.last+tag@sub.example.com",
            "x_y@ex-ample.org",
        ] {
            assert!(check_email(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "plain",
            "@ex.com",
            "a@",
            "a@b",
            "a@@b.com",
            "a@b.c",
            ".a@b.com",
            "a..b@c.com",
            "a@-b.com",
            "a b@c.com",
            "a@b.123",
        ] {
            assert!(check_email(bad).is_err(), "{bad}");
        }
    }
}
