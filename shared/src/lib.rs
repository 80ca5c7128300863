//! Everything the Kupe control-plane Lambdas share, in layers that call only downward:
//!
//! - [`routes`]: the route table and the edge parsers (event → typed request);
//! - [`api`]: the use cases (one read, decisions, at most one conditional write);
//! - [`workers`]: the dispatcher, provisioner and reconciler behind the event sources;
//! - [`store`]: DynamoDB, one module per aggregate, every write conditional;
//! - [`domain`]: names, quantities, versions, plans, phases, ETags, keys — pure rules;
//! - [`http`], [`config`], [`runtime`], [`provider`], [`workflow`]: the edges and contracts.
//!
//! Function crates under `functions/` are one-line `main.rs` files naming their route (or
//! worker); the local stack serves the same routes and plays the same workers.
#![warn(missing_docs)]

pub mod admin;
pub mod api;
pub mod config;
pub mod domain;
pub mod http;
pub mod provider;
pub mod routes;
pub mod runtime;
pub mod store;
#[cfg(any(test, feature = "test-support"))]
pub mod testing;
pub mod workers;
pub mod workflow;

pub use config::ApiContext;
