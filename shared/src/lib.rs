//! Everything the Kupe control-plane Lambdas share: the domain (names, quantities, versions,
//! plans, phases, ETags, API keys), the DynamoDB store with its conditional writes, the use cases
//! behind each route, and the one mapping from errors to HTTP responses.
//!
//! Function crates under `functions/` are thin: their `main.rs` wires configuration and clients,
//! their `lib.rs` hands the request to a use case here. The local stack calls the same handlers.
#![warn(missing_docs)]

pub mod admin;
pub mod api;
pub mod config;
pub mod domain;
pub mod http;
pub mod lifecycle;
pub mod provider;
pub mod runtime;
pub mod store;
pub mod workflow;

pub use config::{Ctx, WorkflowCtx};
