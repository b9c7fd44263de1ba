//! The `sealgate` binary: parse the command line and run it.

use clap::Parser;

fn main() -> std::process::ExitCode {
    sealgate::cli::Cli::parse().run()
}
