//! Shared by the integration-test binaries; each uses a part of it.
#![allow(dead_code, unused_imports)]

pub mod moto;
mod dynamo;
mod sql;

pub use dynamo::*;
pub use sql::*;
