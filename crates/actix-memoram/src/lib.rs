//! The client side of Memoram on actix-web: the app's developer token, the user authorization
//! whose token response carries the person's `memory_key`, the access request they approve in
//! their Memoram dashboard, memory content sealed with AES-256-GCM under their key, and the typed
//! API client, as Memoram's "Quickstart" numbers the steps.
//!
//! Start at [`Memoram`] (built from the environment, its session middleware and its routes) and
//! [`Connected`] (a handler's approved connection), then [`memoram`] (the steps, where each
//! happens). The flow, the stores and the HTTP client are `actix-oauth-client`'s, re-exported
//! here. Every store keeps its data in this process's memory by default; with the cargo feature
//! `redis`, `Memoram::with_redis` keeps them all in Redis (`redis_store`).
//!
//! The crate's README, with a whole `main.rs` that connects (compiled here as a doctest):
#![doc = include_str!("../README.md")]
#![deny(missing_docs)]

pub use actix_oauth_client::{api, auth, connect, http_client, setup};
pub mod memoram;
#[cfg(feature = "redis")]
pub mod redis_store;
mod service;

pub use service::{
    session_key, Connected, Error, Memoram, Memory, Settings, SetupError, ACCESS_ROUTE,
    CALLBACK_ROUTE, DEFAULT_AFTER_CONNECT, DEFAULT_BASE_URL, DEFAULT_DASHBOARD_URL, DEFAULT_REASON,
    DEFAULT_USER_AGENT, START_ROUTE,
};
