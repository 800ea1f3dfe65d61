//! Talk-to-Mementos: the reference third-party integration for Rememberizer and Memoram.
//!
//! Start at `auth::oauth` (the OAuth 2.0 flow, with Rememberizer's five steps named), then a
//! provider's folder (`rememberizer`, `memoram`: its endpoints, typed client and models), then
//! `routes`. `simulator` holds stand-ins for both providers, kept apart as if they were crates
//! of their own; the app reaches them only over HTTP.

pub mod api;
pub mod auth;
pub mod config;
pub mod errors;
pub mod http_client;
pub mod llm;
pub mod memoram;
pub mod redis_client;
pub mod rememberizer;
pub mod routes;
pub mod simulator;
pub mod startup;
pub mod state;
pub mod telemetry;
pub mod templates;
