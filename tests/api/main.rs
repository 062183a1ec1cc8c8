//! Black-box tests: the real application on a random port, spoken to over HTTP.

// Helpers are `pub` for the test modules; nothing here is a library API.
#![allow(unreachable_pub)]

mod admin;
mod bad_inputs;

mod blog;
mod board;
mod cli;
mod conventions;
mod files;
mod helpers;
mod observability;
mod operations;
mod process;
mod security;
mod submissions_api;
mod uploads;
mod users;
