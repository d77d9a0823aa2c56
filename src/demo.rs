//! Demo data: a simulated world loaded into the database, so a new user sees
//! a working product at once. Its products are marked as demo data and its
//! contents carry an id prefix, so `marketscout demo --remove` (or the
//! dashboard) takes it all away again.

use anyhow::Context;

use crate::engine::attention::day_of;
use crate::engine::simulate::{Params, Simulation, VIRAL_SHARE};
use crate::store::{NewProduct, Store, Terms};
use crate::time::now_ms;

/// Observations stored per transaction.
const CHUNK: usize = 5_000;

/// What [`load`] stored.
#[derive(Debug, Clone, Copy)]
pub struct Loaded {
    pub products: usize,
    pub viral: usize,
    pub observations: usize,
    pub scored: usize,
    pub millis: u128,
}

/// Simulates `products` products over the `days` up to today and stores what
/// has happened by now, then scores every product. `progress` is told the
/// observations stored so far and their total.
pub async fn load(
    store: &Store,
    products: usize,
    days: usize,
    seed: u64,
    mut progress: impl FnMut(u64, u64),
) -> anyhow::Result<Loaded> {
    if store.has_demo().await? {
        anyhow::bail!(
            "the demo data is already loaded (remove it with `marketscout demo --remove`)"
        );
    }
    let now = now_ms();
    let params = Params {
        products,
        days,
        seed,
        first_day: day_of(now) - days as i64 + 1,
        viral_share: VIRAL_SHARE,
    };
    params.check().map_err(|e| anyhow::anyhow!(e))?;
    let sim = Simulation::generate(&params).map_err(|e| anyhow::anyhow!(e))?;
    for p in &sim.products {
        store
            .create_product(NewProduct {
                name: &p.name,
                description: &p.description,
                terms: &Terms {
                    keywords: p.keywords.clone(),
                    aliases: Vec::new(),
                    hashtags: p.hashtags.clone(),
                    negative_keywords: p.negative_keywords.clone(),
                },
                is_demo: true,
                now,
            })
            .await
            .context("creating the demo products")?;
    }
    let matcher = crate::refresh::MatcherCache::default().get(store).await?;
    // Only what has happened by now: the simulation's last day runs to midnight.
    let seen: Vec<usize> = (0..sim.len())
        .filter(|&n| sim.observation(n).observed_at <= now)
        .collect();
    let total = seen.len() as u64;
    let mut done = 0;
    progress(done, total);
    let mut chunk = Vec::with_capacity(CHUNK);
    for n in seen {
        let mut o = sim.observation(n);
        o.platform_id = format!("{}{}", crate::store::DEMO_ID_PREFIX, o.platform_id);
        chunk.push(o);
        if chunk.len() == CHUNK {
            store.ingest(&chunk, &matcher).await?;
            done += chunk.len() as u64;
            progress(done, total);
            chunk.clear();
        }
    }
    store.ingest(&chunk, &matcher).await?;
    progress(total, total);
    let ids = crate::refresh::rematch_pending(store, now).await?;
    let summary = crate::refresh::refresh_all(store, now).await?;
    Ok(Loaded {
        products: ids.len(),
        viral: sim.summary().viral,
        observations: sim.len(),
        scored: summary.products,
        millis: summary.millis,
    })
}
