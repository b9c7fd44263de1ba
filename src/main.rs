//! The `sealgate` binary: parse the command line and run it.

use clap::Parser;

fn main() -> std::process::ExitCode {
    // josekit reports failed decryptions as anyhow errors, which capture a
    // backtrace whenever RUST_BACKTRACE is set: that would make every forged
    // cookie cost a stack walk. Error backtraces are off unless asked for
    // explicitly; panic backtraces still follow RUST_BACKTRACE. This runs
    // before any thread exists.
    if std::env::var_os("RUST_LIB_BACKTRACE").is_none() {
        std::env::set_var("RUST_LIB_BACKTRACE", "0");
    }
    sealgate::cli::Cli::parse().run()
}
