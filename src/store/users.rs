use super::{Millis, Store, StoreError, StoreResult};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct User {
    pub id: i64,
    pub username: String,
    pub email: String,
    pub hashed_password: String,
    pub is_admin: i64,
    pub created_at: Millis,
}

impl User {
    pub fn admin(&self) -> bool {
        self.is_admin != 0
    }
}

pub struct NewUser<'a> {
    pub username: &'a str,
    pub email: &'a str,
    pub hashed_password: &'a str,
    pub is_admin: bool,
    pub now: Millis,
}

impl Store {
    pub async fn create_user(&self, new: NewUser<'_>) -> StoreResult<User> {
        let mut tx = self.begin_write().await?;
        // Say which of the two unique fields clashed, as the API contract names it.
        let clash: Option<(String, String)> = sqlx::query_as(
            "SELECT lower(username), lower(email) FROM users \
             WHERE lower(username) = lower($1) OR lower(email) = lower($2) LIMIT 1",
        )
        .bind(new.username)
        .bind(new.email)
        .fetch_optional(&mut *tx)
        .await
        .map_err(StoreError::classify)?;
        if let Some((_, email)) = clash {
            return Err(if email == new.email.to_lowercase() {
                StoreError::Conflict("email")
            } else {
                StoreError::Conflict("username")
            });
        }
        let user: User = sqlx::query_as(
            "INSERT INTO users (username, email, hashed_password, is_admin, created_at) \
             VALUES ($1, $2, $3, $4, $5) \
             RETURNING id, username, email, hashed_password, is_admin, created_at",
        )
        .bind(new.username)
        .bind(new.email)
        .bind(new.hashed_password)
        .bind(i64::from(new.is_admin))
        .bind(new.now)
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| StoreError::on_unique(e, "username or email"))?;
        self.commit(tx).await?;
        Ok(user)
    }

    /// Finds a user by username, or by email when the login contains `@`; case-insensitive.
    pub async fn user_by_login(&self, login: &str) -> StoreResult<Option<User>> {
        let sql = if login.contains('@') {
            "SELECT id, username, email, hashed_password, is_admin, created_at FROM users WHERE lower(email) = lower($1)"
        } else {
            "SELECT id, username, email, hashed_password, is_admin, created_at FROM users WHERE lower(username) = lower($1)"
        };
        sqlx::query_as(sql)
            .bind(login)
            .fetch_optional(&self.pool)
            .await
            .map_err(StoreError::classify)
    }

    /// The user behind an access token, with whether that token was revoked:
    /// by a logout, or because its session `sid` ended (a logout, or a spent
    /// refresh token presented again).
    pub async fn user_for_token(
        &self,
        id: i64,
        jti: &str,
        sid: Option<&str>,
    ) -> StoreResult<Option<(User, bool)>> {
        let row: Option<(i64, String, String, String, i64, Millis, i64)> = sqlx::query_as(
            "SELECT id, username, email, hashed_password, is_admin, created_at, \
             (SELECT COUNT(*) FROM revoked_tokens WHERE jti = $2) \
             + CASE WHEN EXISTS (SELECT 1 FROM refresh_tokens WHERE family = $3 AND revoked = 1) \
               THEN 1 ELSE 0 END \
             FROM users WHERE id = $1",
        )
        .bind(id)
        .bind(jti)
        .bind(sid)
        .fetch_optional(&self.pool)
        .await
        .map_err(StoreError::classify)?;
        Ok(row.map(
            |(id, username, email, hashed_password, is_admin, created_at, revoked)| {
                (
                    User {
                        id,
                        username,
                        email,
                        hashed_password,
                        is_admin,
                        created_at,
                    },
                    revoked > 0,
                )
            },
        ))
    }

    pub async fn set_password_hash(&self, user_id: i64, hash: &str) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query("UPDATE users SET hashed_password = $1 WHERE id = $2")
            .bind(hash)
            .bind(user_id)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::classify)?;
        self.commit(tx).await
    }

    pub async fn list_users(&self) -> StoreResult<Vec<User>> {
        sqlx::query_as(
            "SELECT id, username, email, hashed_password, is_admin, created_at FROM users ORDER BY id",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::classify)
    }

    /// Deletes a user and, through the foreign keys, their watchlists and sessions.
    pub async fn delete_user(&self, username: &str) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query("DELETE FROM users WHERE lower(username) = lower($1)")
            .bind(username)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::classify)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound("user"));
        }
        self.commit(tx).await
    }

    pub async fn delete_user_by_id(&self, id: i64) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query("DELETE FROM users WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::classify)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound("user"));
        }
        self.commit(tx).await
    }
}
