//! Connectors against local fake servers that answer in each platform's exact
//! format (fixtures under `tests/fixtures/<source>/`, written from the
//! platforms' references): paging, errors, limits and the traps real payloads
//! set. One binary, one module per source.

mod common;
mod files;
mod files_fingerprints;
mod google_trends;
mod meta_ads;
mod reddit;
mod tiktok;
mod x;
mod youtube;
