//! Access tokens (JWT, HMAC-signed, short-lived) and refresh tokens (opaque,
//! random, stored only as hashes, rotated on every use).

use std::time::Duration;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

#[derive(Debug, Serialize, Deserialize)]
pub struct Claims {
    /// The user id, as a string (RFC 7519).
    pub sub: String,
    /// The username, for clients that display it without another request.
    pub username: String,
    pub exp: u64,
    pub iat: u64,
    /// Token id, so a logout can revoke this token alone.
    pub jti: String,
    /// The refresh-token session the token was issued in, if any: when that
    /// session ends (a logout, or a spent refresh token presented again),
    /// its access tokens stop working with it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
}

pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    algorithm: Algorithm,
    validation: Validation,
    pub access_ttl: Duration,
    pub refresh_ttl: Duration,
}

impl TokenKeys {
    pub fn new(
        secret: &[u8],
        algorithm: Algorithm,
        access_ttl: Duration,
        refresh_ttl: Duration,
    ) -> Self {
        // `Validation::new` pins the one algorithm: `alg: none` and algorithm swaps fail.
        let mut validation = Validation::new(algorithm);
        validation.leeway = 0;
        validation.set_required_spec_claims(&["exp", "sub"]);
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            algorithm,
            validation,
            access_ttl,
            refresh_ttl,
        }
    }

    /// An access token of the refresh-token session `sid`.
    pub fn issue_access(
        &self,
        user_id: i64,
        username: &str,
        now_secs: u64,
        sid: &str,
    ) -> anyhow::Result<(String, Claims)> {
        self.sign(Claims {
            sid: Some(sid.to_owned()),
            ..self.claims(user_id, username, now_secs, self.access_ttl)
        })
    }

    /// A token that lasts `ttl`: the web dashboard's session cookie lives as
    /// long as a refresh token, so a session survives a browser restart.
    pub fn issue(
        &self,
        user_id: i64,
        username: &str,
        now_secs: u64,
        ttl: Duration,
    ) -> anyhow::Result<(String, Claims)> {
        self.sign(self.claims(user_id, username, now_secs, ttl))
    }

    fn claims(&self, user_id: i64, username: &str, now_secs: u64, ttl: Duration) -> Claims {
        Claims {
            sub: user_id.to_string(),
            username: username.to_owned(),
            iat: now_secs,
            exp: now_secs + ttl.as_secs(),
            jti: random_token(16),
            sid: None,
        }
    }

    fn sign(&self, claims: Claims) -> anyhow::Result<(String, Claims)> {
        let token = jsonwebtoken::encode(&Header::new(self.algorithm), &claims, &self.encoding)?;
        Ok((token, claims))
    }

    /// Claims of a well-signed, unexpired token; `None` for anything else.
    pub fn verify_access(&self, token: &str) -> Option<Claims> {
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .ok()
            .map(|data| data.claims)
    }
}

/// `bytes` random bytes, URL-safe base64 without padding.
pub fn random_token(bytes: usize) -> String {
    use base64::Engine;
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf).expect("the operating system has no randomness source");
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buf)
}

/// What is stored of a refresh token.
pub fn refresh_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(secret: &[u8]) -> TokenKeys {
        TokenKeys::new(
            secret,
            Algorithm::HS256,
            Duration::from_secs(60),
            Duration::from_secs(600),
        )
    }

    fn now() -> u64 {
        jsonwebtoken::get_current_timestamp()
    }

    #[test]
    fn a_token_verifies_with_its_own_key_only() {
        let k = keys(&[7; 32]);
        let (token, _) = k.issue_access(5, "ann", now(), "s1").unwrap();
        let claims = k.verify_access(&token).unwrap();
        assert_eq!(
            (claims.sub.as_str(), claims.sid.as_deref()),
            ("5", Some("s1"))
        );
        assert!(keys(&[8; 32]).verify_access(&token).is_none());
    }

    #[test]
    fn expired_and_unsigned_tokens_are_refused() {
        let k = keys(&[7; 32]);
        let (old, _) = k.issue_access(5, "ann", now() - 3600, "s1").unwrap();
        assert!(k.verify_access(&old).is_none());
        use base64::Engine;
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let none = format!(
            "{}.{}.",
            b64.encode(br#"{"alg":"none","typ":"JWT"}"#),
            b64.encode(format!(
                r#"{{"sub":"5","username":"ann","exp":{},"iat":0,"jti":"x"}}"#,
                now() + 600
            ))
        );
        assert!(k.verify_access(&none).is_none());
    }
}
