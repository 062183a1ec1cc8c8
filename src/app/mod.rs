//! The process: the command line ([`cli`]), building the service from its settings ([`startup`]), the
//! accept loop ([`server`]), draining and shutdown ([`lifecycle`]) and which instance this is
//! ([`instance`]).

pub mod cli;
pub mod instance;
pub mod lifecycle;
pub mod server;
pub mod startup;
