//! Talk-to-Mementos: the reference third-party integration for Rememberizer.
//!
//! Start at `oauth` (the five steps of the provider's doc), then `routes`. `simulator` is a
//! stand-in for Rememberizer itself, kept apart as if it were its own crate.

pub mod api;
pub mod config;
pub mod errors;
pub mod guards;
pub mod http_client;
pub mod llm;
pub mod memoram;
pub mod oauth;
pub mod pending_flows;
pub mod redis_client;
pub mod rememberizer;
pub mod routes;
pub mod session;
pub mod session_store;
pub mod simulator;
pub mod startup;
pub mod state;
pub mod telemetry;
pub mod templates;
pub mod tokens;
