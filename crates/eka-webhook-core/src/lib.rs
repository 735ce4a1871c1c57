//! Plain-Rust core of the Eka Care webhook SDK.
//!
//! Nothing here knows about Node: the napi binding in the repository root wraps it. Every
//! module has one job; `cargo test -p eka-webhook-core` exercises all of them without Node.

pub mod api_client;
pub mod canonical_json;
pub mod config;
pub mod config_parse;
pub mod enrichment;
pub mod envelope;
pub mod error;
pub mod events;
pub mod faults;
pub mod logger;
pub mod persistence;
pub mod pipeline;
pub mod reminders;

pub mod sdk;
pub mod secret;
pub mod server;
pub mod signature;
pub mod supervisor;
pub mod telemetry;
