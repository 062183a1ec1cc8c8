//! Stratus: the seeds' submission board and visit counter as one production-grade Rust service.
//!
//! `main.rs` only parses the command line and calls in here; tests drive the same code.

pub mod auth;
pub mod blog;
pub mod cli;
pub mod config;
pub mod domain;
pub mod files;
pub mod http;
pub mod instance;
pub mod lifecycle;
pub mod server;
pub mod startup;
pub mod storage;
pub mod telemetry;
pub mod users;
