//! The `stratus` binary: parse the command line, then hand over to the library.

use std::process::ExitCode;

use stratus::{app::cli, config};

fn main() -> ExitCode {
    cli::run(config::parse_args())
}
