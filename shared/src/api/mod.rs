//! The use cases behind the routes, one module per resource family. Each route's request type
//! (what the edge parsed, problems kept as deferred errors) implements [`UseCase`]: it opens the
//! session (one read; 401/403), then reports the request's own problems in their turn (400),
//! decides against what it read (404, 409, 412), makes at most one conditional write and
//! answers. A rejected request writes nothing.
//!
//! To add a family: a module here with one request struct per route and its `UseCase`, a
//! sibling parser in `routes`, and an aggregate in `store`.

pub mod alertmanager;
pub mod apikeys;
pub mod clusters;
pub mod members;
pub mod operations;
pub mod plans;
pub mod secrets;
pub mod session;
pub mod tenant_delete;
pub mod tenants;

use crate::{
    config::ApiContext,
    http::{ApiError, Reply},
};
use std::future::Future;

/// What a route does with its parsed request.
pub trait UseCase: Sized + Send {
    /// Serves the request.
    fn run(self, ctx: &ApiContext) -> impl Future<Output = Result<Reply, ApiError>> + Send;
}
