//! The workers behind the event sources, one module each: the [`dispatcher`] (table stream →
//! one execution per generation), the [`provisioner`] (task-token messages → one provider step →
//! `SendTask*`), the [`reconciler`] (executions that died where their own `Catch` could not see
//! → `Degraded`), and [`secret_sync`] (one sync of a managed secret, a provisioner task). Each is a struct holding what it needs, built once per container from its own
//! configuration, with a `handle(event)` method the Lambda and the local stack both call.

pub mod dispatcher;
pub mod provisioner;
pub mod reconciler;
pub mod secret_sync;

pub use dispatcher::Dispatcher;
pub use provisioner::Provisioner;
pub use reconciler::Reconciler;
