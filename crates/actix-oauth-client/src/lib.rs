//! The client side of an OAuth 2.0 authorization-code grant with PKCE on actix-web, for any
//! provider, written once: what `actix-rememberizer` and `actix-memoram` are built on.
//!
//! Start at [`auth::oauth`] (the flow: Steps 1–5 as Rememberizer's "Authorizing Rememberizer
//! apps" names them, for any provider's [`auth::oauth::Endpoints`]), then [`connect`] (Steps 1
//! and 3–4 as a handler calls them), [`auth::pending_flows`] (a started flow in an encrypted
//! cookie of its own, each state spent once), [`auth::tokens`] (tokens server-side, refreshed one
//! at a time per connection) and [`api`] (the bearer call, one refresh and one retry after a
//! 401). Every store keeps its data in this process's memory by default; one shared by several
//! instances plugs in through a trait ([`auth::tokens::TokenBackend`],
//! [`auth::pending_flows::ClaimStates`], actix-session's `SessionStore`); the cargo feature
//! `redis` brings the Redis ones (`redis_store`).
//!
//! The crate's README, with a flow built for a made-up provider (compiled here as a doctest):
#![doc = include_str!("../README.md")]
#![deny(missing_docs)]

pub mod api;
pub mod auth;
pub mod connect;
pub mod http_client;
#[cfg(feature = "redis")]
pub mod redis_store;
pub mod setup;
