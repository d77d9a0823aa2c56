//! Integration tests: each module specifies one area of the API's behaviour,
//! over real HTTP against a real database (SQLite, or PostgreSQL when
//! MARKETSCOUT_TEST_DATABASE_URL is set).

mod ads;
mod alerts;
mod auth;
mod cli;
mod contract;
mod email;
mod helpers;
mod ingest;
mod insights;
mod products;
mod ratelimit;
mod receiver;
mod scan_runs;
mod scans;
mod security;
mod smtp_sink;
mod sources;
mod trends;
mod watchlists;
mod web;
