//! The client side of Memoram on actix-web: the app's developer token, the user authorization
//! whose token response carries the user's `memory_key`, the access request the user approves in
//! their Memoram dashboard, memory content sealed with AES-256-GCM, and the typed API client,
//! as Memoram's "Quickstart" numbers the steps.
//!
//! Start at [`memoram`] (the steps, where each happens). The flow, the stores and the HTTP
//! client are `actix-oauth-client`'s, re-exported here.

pub use actix_oauth_client::{api, auth, connect, http_client};
pub mod memoram;
