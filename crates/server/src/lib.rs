//! The record shop server: configuration, the wiring of the PostgreSQL
//! adapter, the domain services and the HTTP app, signals, and the
//! `serve`, `migrate` and `token` commands. The HTTP server itself, its
//! middleware and limits are the http crate's.
//!
//! - `cli.rs`: the command line and every setting as read;
//! - `config.rs`: the validated [`Config`], checks across settings;
//! - `database.rs`: the database connection from `DATABASE_URL` or
//!   `POSTGRES_*`; `secrets.rs`: the signing key and the rules of
//!   authentication; `values.rs`: the settings' value parsers;
//! - `startup.rs`: wiring, serving, and the graceful shutdown on signals;
//!   `listener.rs`: the API's socket, with a backlog sized for a launch;
//! - `token.rs`: `recordshop token`.
//!
//! Tests start the real application on port 0:
//!
//! ```no_run
//! # async fn example(config: recordshop::Config) -> anyhow::Result<()> {
//! let app = recordshop::Application::build(&config).await?;
//! let port = app.port();
//! let handle = app.handle();
//! actix_web::rt::spawn(app.run_until_stopped());
//! // … talk to 127.0.0.1:{port} …
//! handle.stop(true).await;
//! # Ok(()) }
//! ```

pub mod cli;
pub mod config;
mod database;
mod listener;
mod metrics;
pub mod secrets;
mod startup;
pub mod telemetry;
pub mod token;
mod values;

pub use cli::{Cli, Command, Settings};
pub use config::Config;
pub use recordshop_http::Drain;
pub use startup::{Application, ShutdownTrigger, app_state, migrate};

/// Runs `command`: both apply pending migrations; `serve` then serves until
/// SIGINT or SIGTERM.
///
/// # Errors
/// When migrations fail, the address cannot be bound, or the server fails.
pub async fn run(command: Command, config: Config) -> anyhow::Result<()> {
    if let Command::Token(_) = command {
        // `main` answers it without configuring a server; see `token::mint`.
        anyhow::bail!("`recordshop token` mints a token and serves nothing");
    }
    tracing::info!(?command, ?config, "starting");
    migrate(&config).await?;
    if command == Command::Migrate {
        tracing::info!("migrations applied");
        return Ok(());
    }
    let application = Application::build(&config).await?;
    tracing::info!(host = %config.host, port = application.port(), "listening");
    application.run_until_stopped().await?;
    tracing::info!("stopped");
    Ok(())
}
