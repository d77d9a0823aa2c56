//! Authentication: password hashing, tokens, and the extractors that turn an
//! `Authorization: Bearer` header into the caller.

pub mod password;
pub mod tokens;

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;

use crate::app::AppState;
use crate::error::ApiError;
use crate::store::User;

/// The authenticated caller, and the token they used (for logout).
#[derive(Clone)]
pub struct CurrentUser {
    pub user: User,
    pub jti: String,
    /// The refresh-token session the token belongs to (API tokens only).
    pub sid: Option<String>,
    pub token_expires_at: u64,
}

impl FromRequestParts<AppState> for CurrentUser {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let header = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| ApiError::Unauthorized("Not authenticated".into()))?;
        let (scheme, token) = header
            .split_once(' ')
            .ok_or_else(|| ApiError::Unauthorized("Not authenticated".into()))?;
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err(ApiError::Unauthorized("Not authenticated".into()));
        }
        user_from_token(state, token.trim()).await
    }
}

/// The user a signed token stands for, unless it expired, was revoked by a
/// logout, or its user was deleted: the API's bearer tokens and the web
/// dashboard's session cookie are checked the same way.
pub async fn user_from_token(state: &AppState, token: &str) -> Result<CurrentUser, ApiError> {
    let claims = state
        .keys
        .verify_access(token)
        .ok_or_else(ApiError::unauthorized)?;
    let user_id: i64 = claims.sub.parse().map_err(|_| ApiError::unauthorized())?;
    match live_session(state, user_id, &claims.jti, claims.sid.as_deref()).await? {
        Some(user) => Ok(CurrentUser {
            user,
            jti: claims.jti,
            sid: claims.sid,
            token_expires_at: claims.exp,
        }),
        None => Err(ApiError::unauthorized()),
    }
}

/// The user of a token's session while it lasts: none once the user is
/// deleted or the token revoked by a logout. Long-lived responses (the alert
/// stream) ask again as they go, so a logout ends them too.
pub async fn live_session(
    state: &AppState,
    user_id: i64,
    jti: &str,
    sid: Option<&str>,
) -> Result<Option<User>, ApiError> {
    let now = state.stamp();
    let session = match state.caches.session(&now, user_id, jti) {
        Some(hit) => Some(hit),
        None => {
            let found = state.store.user_for_token(user_id, jti, sid).await?;
            if let Some((user, revoked)) = &found {
                state.caches.keep_session(now, user, jti, *revoked);
            }
            found
        }
    };
    Ok(match session {
        Some((user, false)) => Some(user),
        _ => None,
    })
}

/// An authenticated administrator.
pub struct AdminUser(pub User);

impl FromRequestParts<AppState> for AdminUser {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let current = CurrentUser::from_request_parts(parts, state).await?;
        if !current.user.admin() {
            return Err(ApiError::Forbidden("Administrator access required".into()));
        }
        Ok(AdminUser(current.user))
    }
}
