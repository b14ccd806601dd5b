//! `rest-docs generate` rewrites `rest-docs/` (OpenAPI, Insomnia export,
//! HAR recorded from the real service); `rest-docs check` says whether the
//! committed files are up to date.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use recordshop_harness::postgres::DatabaseUrl;
use recordshop_rest_docs::files;

#[derive(Parser)]
#[command(name = "rest-docs", about = "Generate or check the API's rest-docs/")]
struct Cli {
    /// The folder to write or check; the repository's rest-docs/ by default.
    #[arg(long, global = true)]
    dir: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Rewrite openapi.json, insomnia.json and recordshop.har; the HAR is
    /// recorded from the service started in-process on a scratch database
    /// seeded with seed/seed.sql.
    Generate {
        /// A PostgreSQL URL on which databases may be created and dropped,
        /// e.g. postgres://postgres@127.0.0.1:5432/postgres. A scratch
        /// database is created there, migrated, seeded, and dropped.
        #[arg(long, env = "RECORDSHOP_TEST_DATABASE_URL", hide_env_values = true)]
        database_url: String,
    },
    /// Fail when the committed files differ from what the code and the
    /// catalog make.
    Check,
    /// Print the OpenAPI document.
    Openapi,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let dir = cli.dir.unwrap_or_else(files::default_dir);
    let result = match cli.command {
        Command::Generate { database_url } => actix_web::rt::System::new().block_on(async {
            let admin: DatabaseUrl = database_url.parse().context("--database-url")?;
            files::generate(&dir, &admin).await?;
            println!("wrote {}", dir.display());
            Ok(())
        }),
        Command::Check => files::check(&dir).map(|()| println!("{} is up to date", dir.display())),
        Command::Openapi => files::openapi_text().map(|text| print!("{text}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("rest-docs: {error:#}");
            ExitCode::FAILURE
        }
    }
}
