//! MarketScout: trend intelligence for people who sell online.
//!
//! The map of the code is in `docs/ARCHITECTURE.md`.

pub mod api;
pub mod app;
pub mod auth;
pub mod backtest;
pub mod cache;
pub mod charts;
pub mod cli;
pub mod config;
pub mod connectors;
pub mod demo;
pub mod engine;
pub mod error;
pub mod middleware;
pub mod notify;
pub mod ratelimit;
pub mod refresh;
pub mod scan;
pub mod store;
pub mod telemetry;
pub mod time;
pub mod web;
