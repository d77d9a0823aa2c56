use super::{Millis, Store, StoreError, StoreResult};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Product {
    pub id: i64,
    pub name: String,
    pub description: String,
    pub created_at: Millis,
}

pub struct NewProduct<'a> {
    pub name: &'a str,
    pub description: &'a str,
    pub now: Millis,
}

impl Store {
    pub async fn create_product(&self, new: NewProduct<'_>) -> StoreResult<Product> {
        let mut tx = self.begin_write().await?;
        let product = sqlx::query_as(
            "INSERT INTO products (name, description, created_at) VALUES ($1, $2, $3) \
             RETURNING id, name, description, created_at",
        )
        .bind(new.name)
        .bind(new.description)
        .bind(new.now)
        .fetch_one(&mut *tx)
        .await
        .map_err(StoreError::classify)?;
        self.commit(tx).await?;
        Ok(product)
    }

    pub async fn list_products(&self, skip: i64, limit: i64) -> StoreResult<Vec<Product>> {
        sqlx::query_as(
            "SELECT id, name, description, created_at FROM products ORDER BY id LIMIT $1 OFFSET $2",
        )
        .bind(limit)
        .bind(skip)
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::classify)
    }

    pub async fn product(&self, id: i64) -> StoreResult<Product> {
        sqlx::query_as("SELECT id, name, description, created_at FROM products WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(StoreError::classify)?
            .ok_or(StoreError::NotFound("product"))
    }
}
