//! The plan catalog, public: `GET /plans` and `GET /plans/{name}` read the one catalog
//! (`domain::plan`), not the table, so they need no key and make no AWS call.

use super::UseCase;
use crate::{
    config::ApiContext,
    domain::plan::{Plan, PLANS},
    http::{ApiError, Reply},
};
use serde_json::json;

/// `GET /plans`.
#[derive(Debug)]
pub struct ListPlans;

/// `GET /plans/{name}`.
#[derive(Debug)]
pub struct GetPlan {
    /// The plan name as sent.
    pub name: String,
}

impl UseCase for ListPlans {
    async fn run(self, _ctx: &ApiContext) -> Result<Reply, ApiError> {
        let items: Vec<_> = PLANS.iter().map(Plan::to_json).collect();
        Ok(Reply::ok(json!({ "items": items })))
    }
}

impl UseCase for GetPlan {
    async fn run(self, _ctx: &ApiContext) -> Result<Reply, ApiError> {
        let plan = Plan::by_name(&self.name)
            .ok_or_else(|| ApiError::not_found(format!("Plan {} not found", self.name)))?;
        Ok(Reply::ok(plan.to_json()))
    }
}
