//! Refresh-token sessions and revoked access tokens. Only SHA-256 hashes of
//! refresh tokens are stored: a copy of the database cannot be replayed.

use super::{Millis, Store, StoreError, StoreResult, User};

#[derive(Debug)]
pub enum RefreshOutcome {
    /// The token was valid: it is now spent and `user` may have a new pair
    /// in the same session (`family`).
    Rotated { user: User, family: String },
    /// The token had already been spent: someone replayed it, so the whole
    /// session family is revoked.
    Reused,
    /// Unknown, expired or revoked.
    Invalid,
}

impl Store {
    pub async fn store_refresh_token(
        &self,
        user_id: i64,
        token_hash: &str,
        family: &str,
        now: Millis,
        expires_at: Millis,
    ) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO refresh_tokens (user_id, token_hash, family, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(user_id)
        .bind(token_hash)
        .bind(family)
        .bind(now)
        .bind(expires_at)
        .execute(&mut *tx)
        .await
        .map_err(StoreError::classify)?;
        self.commit(tx).await
    }

    /// Spends `old_hash` and stores `new_hash` in the same family, atomically.
    pub async fn rotate_refresh_token(
        &self,
        old_hash: &str,
        new_hash: &str,
        now: Millis,
        expires_at: Millis,
    ) -> StoreResult<RefreshOutcome> {
        let mut tx = self.begin_write().await?;
        let row: Option<(i64, String, Millis, Option<Millis>, i64)> = sqlx::query_as(
            "SELECT user_id, family, expires_at, used_at, revoked FROM refresh_tokens WHERE token_hash = $1",
        )
        .bind(old_hash)
        .fetch_optional(&mut *tx)
        .await
        .map_err(StoreError::classify)?;
        let Some((user_id, family, expires_at_old, used_at, revoked)) = row else {
            return Ok(RefreshOutcome::Invalid);
        };
        if revoked != 0 || expires_at_old <= now {
            return Ok(RefreshOutcome::Invalid);
        }
        if used_at.is_some() {
            sqlx::query("UPDATE refresh_tokens SET revoked = 1 WHERE family = $1")
                .bind(&family)
                .execute(&mut *tx)
                .await
                .map_err(StoreError::classify)?;
            self.commit(tx).await?;
            return Ok(RefreshOutcome::Reused);
        }
        let user: Option<User> = sqlx::query_as(
            "SELECT id, username, email, hashed_password, is_admin, created_at FROM users WHERE id = $1",
        )
        .bind(user_id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(StoreError::classify)?;
        let Some(user) = user else {
            return Ok(RefreshOutcome::Invalid);
        };
        sqlx::query("UPDATE refresh_tokens SET used_at = $1 WHERE token_hash = $2")
            .bind(now)
            .bind(old_hash)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::classify)?;
        sqlx::query(
            "INSERT INTO refresh_tokens (user_id, token_hash, family, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(user_id)
        .bind(new_hash)
        .bind(&family)
        .bind(now)
        .bind(expires_at)
        .execute(&mut *tx)
        .await
        .map_err(StoreError::classify)?;
        self.commit(tx).await?;
        Ok(RefreshOutcome::Rotated { user, family })
    }

    /// Logout: revokes the access token's id until it would have expired anyway,
    /// and the refresh session it names (or all of the user's sessions).
    pub async fn revoke_session(
        &self,
        user_id: i64,
        jti: &str,
        access_expires_at: Millis,
        refresh_hash: Option<&str>,
        now: Millis,
    ) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query("DELETE FROM revoked_tokens WHERE expires_at < $1")
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::classify)?;
        sqlx::query(
            "INSERT INTO revoked_tokens (jti, expires_at) VALUES ($1, $2) ON CONFLICT (jti) DO NOTHING",
        )
        .bind(jti)
        .bind(access_expires_at)
        .execute(&mut *tx)
        .await
        .map_err(StoreError::classify)?;
        match refresh_hash {
            Some(hash) => {
                sqlx::query(
                    "UPDATE refresh_tokens SET revoked = 1 WHERE user_id = $1 AND family IN \
                     (SELECT family FROM refresh_tokens WHERE token_hash = $2)",
                )
                .bind(user_id)
                .bind(hash)
                .execute(&mut *tx)
                .await
                .map_err(StoreError::classify)?;
            }
            None => {
                sqlx::query("UPDATE refresh_tokens SET revoked = 1 WHERE user_id = $1")
                    .bind(user_id)
                    .execute(&mut *tx)
                    .await
                    .map_err(StoreError::classify)?;
            }
        }
        sqlx::query("DELETE FROM refresh_tokens WHERE expires_at < $1")
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::classify)?;
        self.commit(tx).await
    }
}
