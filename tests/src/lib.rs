//! Test harness: the emulator (moto server behind our serializing wrapper), a fresh table and
//! tenant per test ([`TestApp`]), a whole lifecycle stack per test ([`LifecycleApp`]), and an SDK
//! interceptor that counts AWS calls ([`CallCounter`]).

mod app;
mod calls;
mod emulator;
mod lifecycle;

pub use app::{unique, Req, TestApp, TestResponse};
pub use calls::CallCounter;
pub use emulator::{arm_fault, arm_late_reply, emulator_url, repo_root, sdk_config};
pub use lifecycle::{transitions, LifecycleApp};

/// Shorthand for methods.
pub use lambda_http::http::Method as M;
