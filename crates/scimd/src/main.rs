//! `scimd`: the SCIM 2.0 provisioning server's command line. Commands live in `cli.rs`, settings in
//! `config.rs`; this file only parses, runs, and turns an error into an exit status.

mod cli;
mod config;
mod credentials;
mod database;
mod domains;
mod events;
mod logs;
mod webhooks;

use std::process::ExitCode;

use clap::Parser as _;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(cli::run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        // The reader of our output went away (`scimd logs | head`): nothing is wrong.
        Err(cli::CliError::Io(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
