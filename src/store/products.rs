use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};

use super::{Millis, Store, StoreError, StoreResult};
use crate::engine::matching::ProductTerms;

/// The words a product is recognised by, besides its name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Terms {
    pub keywords: Vec<String>,
    pub aliases: Vec<String>,
    pub hashtags: Vec<String>,
    pub negative_keywords: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct Product {
    pub id: i64,
    pub name: String,
    pub description: String,
    pub created_at: Millis,
    pub terms: Terms,
    pub is_demo: bool,
}

impl Product {
    /// What the matcher looks for: the name and every keyword, alias and hashtag.
    pub fn matcher_terms(&self) -> ProductTerms {
        let t = &self.terms;
        ProductTerms {
            product_id: self.id,
            terms: std::iter::once(&self.name)
                .chain(&t.keywords)
                .chain(&t.aliases)
                .chain(&t.hashtags)
                .cloned()
                .collect(),
            negative: t.negative_keywords.clone(),
        }
    }
}

pub struct NewProduct<'a> {
    pub name: &'a str,
    pub description: &'a str,
    pub terms: &'a Terms,
    pub is_demo: bool,
    pub now: Millis,
}

/// A change to a product: `None` leaves a field as it is.
#[derive(Debug, Default)]
pub struct ProductPatch {
    pub name: Option<String>,
    pub description: Option<String>,
    pub keywords: Option<Vec<String>>,
    pub aliases: Option<Vec<String>>,
    pub hashtags: Option<Vec<String>>,
    pub negative_keywords: Option<Vec<String>>,
}

impl ProductPatch {
    /// Whether the change alters what content the product matches.
    pub fn changes_matching(&self) -> bool {
        self.name.is_some()
            || self.keywords.is_some()
            || self.aliases.is_some()
            || self.hashtags.is_some()
            || self.negative_keywords.is_some()
    }
}

pub(super) const PRODUCT_COLUMNS: &str =
    "id, name, description, created_at, keywords, aliases, hashtags, negative_keywords, is_demo";

fn list(json: &str) -> Vec<String> {
    serde_json::from_str(json).unwrap_or_default()
}

fn to_json(list: &[String]) -> String {
    serde_json::to_string(list).expect("a list of strings always serialises")
}

pub(super) fn product_from_row(row: &AnyRow) -> Result<Product, sqlx::Error> {
    Ok(Product {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        description: row.try_get("description")?,
        created_at: row.try_get("created_at")?,
        terms: Terms {
            keywords: list(row.try_get("keywords")?),
            aliases: list(row.try_get("aliases")?),
            hashtags: list(row.try_get("hashtags")?),
            negative_keywords: list(row.try_get("negative_keywords")?),
        },
        is_demo: row.try_get::<i64, _>("is_demo")? != 0,
    })
}

impl Store {
    /// Creates a product; its history is matched against its terms afterwards
    /// (see `rematch_pending`), so creating it stays fast.
    pub async fn create_product(&self, new: NewProduct<'_>) -> StoreResult<Product> {
        let mut tx = self.begin_write().await?;
        let product = create_product_in(&mut tx, &new).await?;
        self.commit(tx).await?;
        Ok(product)
    }

    pub async fn list_products(&self, skip: i64, limit: i64) -> StoreResult<Vec<Product>> {
        let sql = format!("SELECT {PRODUCT_COLUMNS} FROM products ORDER BY id LIMIT $1 OFFSET $2");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(limit)
            .bind(skip)
            .fetch_all(&self.pool)
            .await
            .map_err(StoreError::classify)?;
        rows.iter()
            .map(product_from_row)
            .collect::<Result<_, _>>()
            .map_err(StoreError::classify)
    }

    pub async fn product(&self, id: i64) -> StoreResult<Product> {
        let sql = format!("SELECT {PRODUCT_COLUMNS} FROM products WHERE id = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(StoreError::classify)?
            .ok_or(StoreError::NotFound("product"))?;
        product_from_row(&row).map_err(StoreError::classify)
    }

    /// Every product's terms, for the matcher, with a fingerprint that changes
    /// whenever any product's terms do (or a product comes or goes).
    pub async fn all_product_terms(&self) -> StoreResult<(TermsVersion, Vec<ProductTerms>)> {
        let sql = format!("SELECT {PRODUCT_COLUMNS} FROM products ORDER BY id");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_all(&self.pool)
            .await
            .map_err(StoreError::classify)?;
        let products: Vec<Product> = rows
            .iter()
            .map(product_from_row)
            .collect::<Result<_, _>>()
            .map_err(StoreError::classify)?;
        let version = self.terms_version().await?;
        Ok((
            version,
            products.iter().map(Product::matcher_terms).collect(),
        ))
    }

    /// A fingerprint of every product's terms: cheap enough to check before each ingest.
    pub async fn terms_version(&self) -> StoreResult<TermsVersion> {
        let (count, max_id, sum): (i64, Option<i64>, Option<i64>) = sqlx::query_as(
            "SELECT COUNT(*), MAX(id), CAST(SUM(terms_version) AS BIGINT) FROM products",
        )
        .fetch_one(&self.pool)
        .await
        .map_err(StoreError::classify)?;
        Ok(TermsVersion(count, max_id.unwrap_or(0), sum.unwrap_or(0)))
    }

    /// Applies a change; a change of terms marks the product for re-matching.
    pub async fn update_product(&self, id: i64, patch: &ProductPatch) -> StoreResult<Product> {
        let mut tx = self.begin_write().await?;
        let sql = format!("SELECT {PRODUCT_COLUMNS} FROM products WHERE id = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(StoreError::classify)?
            .ok_or(StoreError::NotFound("product"))?;
        let mut product = product_from_row(&row).map_err(StoreError::classify)?;
        let p = patch;
        if let Some(v) = &p.name {
            product.name = v.clone();
        }
        if let Some(v) = &p.description {
            product.description = v.clone();
        }
        let t = &mut product.terms;
        for (from, into) in [
            (&p.keywords, &mut t.keywords),
            (&p.aliases, &mut t.aliases),
            (&p.hashtags, &mut t.hashtags),
            (&p.negative_keywords, &mut t.negative_keywords),
        ] {
            if let Some(v) = from {
                *into = v.clone();
            }
        }
        let rematch = i64::from(patch.changes_matching());
        sqlx::query(
            "UPDATE products SET name = $1, description = $2, keywords = $3, aliases = $4, \
             hashtags = $5, negative_keywords = $6, \
             rematch_pending = CASE WHEN $7 = 1 THEN 1 ELSE rematch_pending END, \
             terms_version = terms_version + $7 WHERE id = $8",
        )
        .bind(&product.name)
        .bind(&product.description)
        .bind(to_json(&product.terms.keywords))
        .bind(to_json(&product.terms.aliases))
        .bind(to_json(&product.terms.hashtags))
        .bind(to_json(&product.terms.negative_keywords))
        .bind(rematch)
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(StoreError::classify)?;
        self.commit(tx).await?;
        Ok(product)
    }
}

pub(super) async fn create_product_in(
    tx: &mut Transaction<'static, Any>,
    new: &NewProduct<'_>,
) -> StoreResult<Product> {
    let sql = format!(
        "INSERT INTO products (name, description, created_at, keywords, aliases, hashtags, \
         negative_keywords, is_demo, rematch_pending) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 1) \
         RETURNING {PRODUCT_COLUMNS}"
    );
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(new.name)
        .bind(new.description)
        .bind(new.now)
        .bind(to_json(&new.terms.keywords))
        .bind(to_json(&new.terms.aliases))
        .bind(to_json(&new.terms.hashtags))
        .bind(to_json(&new.terms.negative_keywords))
        .bind(i64::from(new.is_demo))
        .fetch_one(&mut **tx)
        .await
        .map_err(StoreError::classify)?;
    product_from_row(&row).map_err(StoreError::classify)
}

/// Changes whenever the set of products or any product's terms change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TermsVersion(i64, i64, i64);
