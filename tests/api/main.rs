//! Integration tests of the cluster API, through the router (API Gateway events → the Lambda
//! handlers) against the emulator via the real SDK. Each test gets its own table and tenant.

mod asl;
mod auth;
mod calls;
mod create;
mod dispatch;
mod etag;
mod events;
mod faults;
mod lifecycle;
mod list;
mod openapi;
mod patch_delete;
mod races;
mod template;
mod tenancy;
