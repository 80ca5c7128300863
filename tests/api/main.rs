//! Integration tests of the cluster API, through the router (API Gateway events → the Lambda
//! handlers) against the emulator via the real SDK. Each test gets its own table and tenant.

mod alertmanager;
mod asl;
mod auth;
mod calls;
mod create;
mod dispatch;
mod etag;
mod events;
mod failures;
mod faults;
mod ha;
mod lifecycle;
mod list;
mod members;
mod openapi;
mod operations;
mod patch_delete;
mod races;
mod retry_after;
mod secret_sync;
mod secrets;
mod spec_fields;
mod strict;
mod template;
mod tenancy;
mod tenant;
mod tenant_delete;
