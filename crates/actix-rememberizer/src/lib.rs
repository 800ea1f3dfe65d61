//! The client side of Rememberizer on actix-web: the OAuth 2.0 authorization-code flow with
//! PKCE, as Rememberizer's "Authorizing Rememberizer apps" describes it in five steps, and the
//! typed API client those steps lead to.
//!
//! Start at [`auth::oauth`] (the flow, with the provider's Step 1–5 named where each happens),
//! then [`auth::pending_flows`] (a started flow in an encrypted cookie of its own, each state
//! spent once), [`auth::tokens`] (tokens server-side, refreshed one at a time per connection)
//! and [`rememberizer`] (the endpoints, the typed client and its models). Every store keeps its
//! data in this process's memory by default; one shared by several instances plugs in through a
//! trait ([`auth::tokens::TokenBackend`], [`auth::pending_flows::ClaimStates`]); with the cargo
//! feature `redis`, `Rememberizer::with_redis` keeps them all in Redis.
//!
//! The crate's README, with a whole `main.rs` that connects (compiled here as a doctest):
#![doc = include_str!("../README.md")]
#![deny(missing_docs)]

/// Sessions, tokens and spent states in Redis, shared by the instances of an app (cargo feature
/// `redis`; [`Rememberizer::with_redis`]).
#[cfg(feature = "redis")]
pub use actix_oauth_client::redis_store;
pub use actix_oauth_client::{api, auth, connect, http_client};
pub mod rememberizer;
mod service;

pub use service::{
    session_key, Connected, Error, Rememberizer, Settings, SetupError, CALLBACK_ROUTE,
    DEFAULT_AFTER_CONNECT, DEFAULT_USER_AGENT, START_ROUTE,
};
