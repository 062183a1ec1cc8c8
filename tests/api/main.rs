//! Black-box tests: the real application on a random port, spoken to over HTTP.

// Helpers are `pub` for the test modules; nothing here is a library API.
#![allow(unreachable_pub)]

mod bad_inputs;
mod board;
mod helpers;
mod operations;
mod process;
mod submissions_api;
