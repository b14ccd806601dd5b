//! `recordshop [serve|migrate]`: see `recordshop --help` for every setting
//! and its environment variable.

use std::process::ExitCode;

use clap::Parser;
use recordshop::{Cli, Command, Config};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match Config::from_settings(cli.settings) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("recordshop: refusing to start: {error:#}");
            return ExitCode::from(2);
        }
    };
    recordshop::init_tracing(&config.log_filter);
    let command = cli.command.unwrap_or(Command::Serve);
    match actix_web::rt::System::new().block_on(recordshop::run(command, config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(error = format!("{error:#}"), "recordshop failed");
            ExitCode::FAILURE
        }
    }
}
