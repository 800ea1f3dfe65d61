//! Integration tests: the real app on a random port against the Rememberizer simulator.

mod accessibility;
mod anonymous;
mod answers;
mod architecture;
mod auth_flow;
mod browser;
mod config;
mod connect_first;
mod dashboard;
mod error_pages;
mod fidelity;
mod hardening;
mod helpers;
mod hostile;
mod memoram;
mod memoram_fidelity;
mod minimal;
mod observability;
mod pages;
mod process;
mod redis_store;
mod security;
mod talk;
mod tokens;
mod upstream;
mod words;
