//! The `stratus` binary: parse the command line, then hand over to the library.

use std::process::ExitCode;

use clap::Parser as _;
use stratus::{app::cli, config::Cli};

fn main() -> ExitCode {
    cli::run(Cli::parse())
}
