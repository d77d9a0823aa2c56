//! Who is looking at a page, and proof that a form came from our own page.
//!
//! A session is a signed token in an `HttpOnly`, `SameSite=Lax` cookie (and
//! `Secure` behind HTTPS), checked exactly as the API checks bearer tokens,
//! so a logout revokes it the same way. It lasts as long as a refresh token,
//! so it survives a browser restart until it expires.
//!
//! Every form carries a CSRF token equal to a random value in a cookie of its
//! own (`SameSite=Strict`): another site can make a browser send the cookie,
//! but cannot read it to put the same value in the form.

use axum::extract::FromRequestParts;
use axum::http::HeaderMap;
use axum::http::header::{COOKIE, SET_COOKIE};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};

use crate::app::AppState;
use crate::auth::tokens::random_token;
use crate::auth::{CurrentUser, user_from_token};
use crate::store::User;

pub const SESSION_COOKIE: &str = "ms_session";
pub const CSRF_COOKIE: &str = "ms_csrf";

/// The request's view of the browser: its user, if logged in, and its CSRF token.
pub struct Visit {
    pub user: Option<CurrentUser>,
    pub csrf: String,
    /// The CSRF cookie must be (re)set with the response.
    new_csrf: bool,
    /// Served over HTTPS (directly or behind a proxy that says so).
    pub secure: bool,
}

impl Visit {
    pub fn username(&self) -> Option<&str> {
        self.user.as_ref().map(|u| u.user.username.as_str())
    }

    pub fn account(&self) -> Option<&User> {
        self.user.as_ref().map(|u| &u.user)
    }

    /// Adds the cookies this visit owes the browser to `response`.
    pub fn finish(&self, response: impl IntoResponse) -> Response {
        let mut response = response.into_response();
        if self.new_csrf {
            let cookie = format!(
                "{CSRF_COOKIE}={}; Path=/; HttpOnly; SameSite=Strict{}",
                self.csrf,
                if self.secure { "; Secure" } else { "" }
            );
            if let Ok(value) = cookie.parse() {
                response.headers_mut().append(SET_COOKIE, value);
            }
        }
        response
    }

    /// Whether a submitted form's token is this browser's.
    pub fn csrf_ok(&self, submitted: Option<&str>) -> bool {
        !self.new_csrf
            && submitted.is_some_and(|s| constant_time_eq(s.as_bytes(), self.csrf.as_bytes()))
    }

    /// The cookie that starts a session.
    pub fn session_cookie(&self, token: &str, max_age_secs: u64) -> String {
        format!(
            "{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age_secs}{}",
            if self.secure { "; Secure" } else { "" }
        )
    }

    /// The cookie that ends one.
    pub fn cleared_session_cookie(&self) -> String {
        format!(
            "{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0{}",
            if self.secure { "; Secure" } else { "" }
        )
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A cookie's value from the request's `Cookie` headers.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
}

impl FromRequestParts<AppState> for Visit {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let secure = parts
            .headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|p| p.eq_ignore_ascii_case("https"))
            || parts.uri.scheme_str() == Some("https");
        let user = match cookie(&parts.headers, SESSION_COOKIE).filter(|t| !t.is_empty()) {
            // An expired or revoked session is simply no session.
            Some(token) => user_from_token(state, token).await.ok(),
            None => None,
        };
        let existing = cookie(&parts.headers, CSRF_COOKIE).filter(|v| {
            v.len() >= 16
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        });
        let (csrf, new_csrf) = match existing {
            Some(v) => (v.to_owned(), false),
            None => (random_token(24), true),
        };
        Ok(Visit {
            user,
            csrf,
            new_csrf,
            secure,
        })
    }
}

/// A logged-in visit. Anyone else is sent to the login page, and back to
/// the page they asked for (for a form, to the overview).
pub struct Member {
    pub visit: Visit,
    pub user: CurrentUser,
}

impl FromRequestParts<AppState> for Member {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let Ok(visit) = Visit::from_request_parts(parts, state).await;
        match visit.user.clone() {
            Some(user) => Ok(Member { visit, user }),
            None => {
                let next = if parts.method == axum::http::Method::GET {
                    // The URI as the browser sent it: under `/app`, the
                    // nested router sees it without that prefix.
                    let uri = parts
                        .extensions
                        .get::<axum::extract::OriginalUri>()
                        .map_or(&parts.uri, |o| &o.0);
                    uri.path_and_query()
                        .map_or("/app", |p| p.as_str())
                        .to_owned()
                } else {
                    "/app".to_owned()
                };
                let next: String = url::form_urlencoded::byte_serialize(next.as_bytes()).collect();
                let mut response = axum::http::StatusCode::SEE_OTHER.into_response();
                if let Ok(to) = format!("/app/login?next={next}").parse() {
                    response
                        .headers_mut()
                        .insert(axum::http::header::LOCATION, to);
                }
                Err(visit.finish(response))
            }
        }
    }
}

/// A visit by an administrator: others get the "not allowed" page.
pub struct Admin {
    pub visit: Visit,
    pub user: CurrentUser,
}

impl FromRequestParts<AppState> for Admin {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let Member { visit, user } = Member::from_request_parts(parts, state).await?;
        if user.user.admin() {
            Ok(Admin { visit, user })
        } else {
            Err(super::PageError::Forbidden.into_response())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_found_by_exact_name_among_several_headers() {
        let mut headers = HeaderMap::new();
        headers.append(COOKIE, "a=1; ms_session_old=x".parse().unwrap());
        headers.append(COOKIE, "ms_session=tok; b=2".parse().unwrap());
        assert_eq!(cookie(&headers, SESSION_COOKIE), Some("tok"));
        assert_eq!(cookie(&headers, "b"), Some("2"));
        assert_eq!(cookie(&headers, "missing"), None);
    }

    #[test]
    fn tokens_compare_equal_only_when_identical() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
    }
}
