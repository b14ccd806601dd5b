//! `recordshop [serve|migrate|token]`: see `recordshop --help` for every
//! setting and its environment variable.

use std::process::ExitCode;

use clap::Parser;
use recordshop::{Cli, Command, Config};

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Minting needs the secret only: no database, no server settings, no
    // logs (stdout carries the token alone).
    if let Some(Command::Token(args)) = &cli.command {
        return match recordshop::token::mint(args, &cli.settings.signing) {
            Ok(token) => {
                println!("{token}");
                ExitCode::SUCCESS
            }
            Err(error) => {
                eprintln!("recordshop token: {error:#}");
                ExitCode::from(2)
            }
        };
    }
    let config = match Config::from_settings(cli.settings) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("recordshop: refusing to start: {error:#}");
            return ExitCode::from(2);
        }
    };
    let telemetry = recordshop::telemetry::init(&config.log_filter);
    let command = cli.command.unwrap_or(Command::Serve);
    let code = match actix_web::rt::System::new().block_on(recordshop::run(command, config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(error = format!("{error:#}"), "recordshop failed");
            ExitCode::FAILURE
        }
    };
    // Flushes the spans still queued, once the server has stopped.
    drop(telemetry);
    code
}
