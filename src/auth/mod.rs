//! The machinery both providers share, written once: the OAuth 2.0 authorization-code flow
//! (`oauth`), the flows between Step 1 and Step 3 (`pending_flows`), the server-side token store
//! with single-flight refresh (`tokens`), and the session and its store (`session`,
//! `session_store`).
//! What is particular to a provider lives in its own folder (`rememberizer`, `memoram`).

pub mod oauth;
pub mod pending_flows;
pub mod session;
pub mod session_store;
pub mod tokens;
