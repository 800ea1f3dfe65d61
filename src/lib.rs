//! Talk-to-Mementos: the reference third-party integration for Rememberizer and Memoram.
//!
//! Start at `auth::oauth` (the OAuth 2.0 flow, with Rememberizer's five steps named), then a
//! provider's folder (`rememberizer`, `memoram`: its endpoints, typed client and models), then
//! `routes`. The stand-ins for both providers are a crate of their own (`simulators/`), used
//! only by demo mode (`demo`, the `demo` cargo feature) and the tests, and reached over HTTP.
//!
//! The client side of Rememberizer is the crate `actix-rememberizer`
//! (`crates/actix-rememberizer/`), Memoram's is `actix-memoram` (`crates/actix-memoram/`), both
//! built on the provider-neutral `actix-oauth-client` (the flow, the stores, the HTTP client);
//! their modules are re-exported here under the names the app has always used for them, and so
//! are their Redis stores (`redis_store`, their cargo feature `redis`).

pub use actix_memoram::memoram;
/// Every store again in Redis (the crates' cargo feature `redis`), for several instances.
pub use actix_memoram::redis_store;
pub use actix_oauth_client::{api, auth, connect, http_client};
pub use actix_rememberizer::rememberizer;

pub mod config;
#[cfg(feature = "demo")]
pub mod demo;
pub mod errors;
pub mod llm;
pub mod provider;
pub mod routes;
pub mod startup;
pub mod state;
pub mod telemetry;
pub mod templates;
