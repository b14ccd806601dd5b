//! Configuration parsing, from explicit variables: the process environment
//! is neither read nor changed.

use std::ffi::OsStr;

use std::time::Duration;

use clap::{CommandFactory, FromArgMatches};
use recordshop::{Cli, Command, Config};
use recordshop_auth::{Principal, TokenKeys};
use recordshop_http::Authenticator;
use recordshop_postgres::ConcurrencyStrategy;
use tokio_postgres::config::Host;

/// A signing secret for the tests that are not about authentication.
const SECRET: &str = "a signing secret of comfortably more than 32 bytes";

/// The variables that configure authentication.
const AUTH_VARS: [&str; 3] = ["JWT_SECRET", "JWT_SECRET_FILE", "AUTH_DISABLED"];

/// Parses as if the process ran with `vars` in its environment and
/// `subcommand` (if any) on its command line; `JWT_SECRET` is added unless
/// `vars` configure authentication themselves.
fn parse(subcommand: Option<&str>, vars: &[(&str, &str)]) -> anyhow::Result<(Command, Config)> {
    let mut vars = vars.to_vec();
    if !vars.iter().any(|(var, _)| AUTH_VARS.contains(var)) {
        vars.push(("JWT_SECRET", SECRET));
    }
    parse_exactly(subcommand, &vars)
}

/// Parses as if the process ran with exactly `vars` in its environment and
/// `subcommand` (if any) on its command line. Each variable is handed to
/// clap as the flag that reads it, and every flag's environment fallback is
/// switched off.
fn parse_exactly(
    subcommand: Option<&str>,
    vars: &[(&str, &str)],
) -> anyhow::Result<(Command, Config)> {
    let command = Cli::command();
    let mut args = vec!["recordshop".to_owned()];
    args.extend(subcommand.map(str::to_owned));
    for (var, value) in vars {
        let arg = command
            .get_arguments()
            .find(|arg| arg.get_env() == Some(OsStr::new(var)))
            .unwrap_or_else(|| panic!("no setting reads {var}"));
        args.push(format!(
            "--{}={value}",
            arg.get_long().expect("settings have long flags")
        ));
    }
    let matches = command
        .mut_args(|arg| arg.env(None::<&str>))
        .try_get_matches_from(args)?;
    let cli = Cli::from_arg_matches(&matches)?;
    let config = Config::from_settings(cli.settings)?;
    Ok((cli.command.unwrap_or(Command::Serve), config))
}

fn config(vars: &[(&str, &str)]) -> Config {
    parse(None, vars)
        .map(|(_, config)| config)
        .expect("valid configuration")
}

fn refusal(vars: &[(&str, &str)]) -> String {
    match parse(None, vars) {
        Ok(_) => panic!("{vars:?} should be refused"),
        Err(error) => format!("{error:#}"),
    }
}

/// A file in the temporary folder holding `contents`, removed on drop.
struct SecretFile(std::path::PathBuf);

impl SecretFile {
    fn new(name: &str, contents: &str) -> Self {
        let path = std::env::temp_dir().join(format!(
            "recordshop-config-test-{}-{name}",
            std::process::id()
        ));
        std::fs::write(&path, contents).unwrap();
        Self(path)
    }

    fn path(&self) -> &str {
        self.0.to_str().unwrap()
    }
}

impl Drop for SecretFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn keys_of(config: &Config) -> &TokenKeys {
    match &config.auth {
        Authenticator::Enabled(keys) => keys,
        Authenticator::Disabled => panic!("authentication should be enabled"),
    }
}

#[test]
fn the_harness_clears_exactly_the_variables_the_server_reads() {
    let mut read: Vec<String> = Cli::command()
        .get_arguments()
        .filter_map(|arg| arg.get_env())
        .map(|env| env.to_string_lossy().into_owned())
        .collect();
    read.sort();
    let mut cleared: Vec<String> = recordshop_harness::server::SERVER_SETTINGS
        .iter()
        .map(ToString::to_string)
        .collect();
    cleared.sort();
    assert_eq!(read, cleared);
}

#[test]
fn without_a_signing_key_the_server_refuses_to_start_naming_the_three_variables() {
    for vars in [
        &[][..],
        &[("JWT_SECRET", "")][..],
        &[("AUTH_DISABLED", "false")][..],
    ] {
        let message = match parse_exactly(None, vars) {
            Ok(_) => panic!("{vars:?} should be refused"),
            Err(error) => format!("{error:#}"),
        };
        for var in AUTH_VARS {
            assert!(message.contains(var), "{var}: {message}");
        }
    }
}

#[test]
fn auth_disabled_must_be_explicit_and_shows_in_the_debug_output() {
    let config = config(&[("AUTH_DISABLED", "true")]);
    assert!(!config.auth.is_enabled());
    let shown = format!("{config:?}");
    assert!(shown.contains("DISABLED"), "{shown}");

    let message = refusal(&[("AUTH_DISABLED", "maybe")]);
    assert!(
        message.contains("AUTH_DISABLED") && message.contains("true or false"),
        "{message}"
    );
}

#[test]
fn contradicting_authentication_settings_are_refused() {
    let file = SecretFile::new("both", SECRET);
    let message = refusal(&[("JWT_SECRET", SECRET), ("JWT_SECRET_FILE", file.path())]);
    assert!(
        message.contains("JWT_SECRET and JWT_SECRET_FILE"),
        "{message}"
    );
    for key in [("JWT_SECRET", SECRET), ("JWT_SECRET_FILE", file.path())] {
        let message = refusal(&[key, ("AUTH_DISABLED", "true")]);
        assert!(
            message.contains("AUTH_DISABLED") && message.contains("contradicts"),
            "{message}"
        );
    }
}

#[test]
fn a_short_or_unreadable_secret_is_refused_naming_its_variable() {
    let message = refusal(&[("JWT_SECRET", "too short")]);
    assert!(
        message.contains("JWT_SECRET") && message.contains("at least 32"),
        "{message}"
    );
    // 31 characters and the newline an editor adds: still too short.
    let file = SecretFile::new("short", &format!("{}\n", "x".repeat(31)));
    let message = refusal(&[("JWT_SECRET_FILE", file.path())]);
    assert!(
        message.contains("JWT_SECRET_FILE") && message.contains("31 bytes"),
        "{message}"
    );
    let message = refusal(&[("JWT_SECRET_FILE", "/nonexistent/recordshop-secret")]);
    assert!(
        message.contains("JWT_SECRET_FILE") && message.contains("/nonexistent"),
        "{message}"
    );
}

#[test]
fn the_secret_file_is_the_same_key_as_the_variable_without_its_trailing_newline() {
    let file = SecretFile::new("newline", &format!("{SECRET}\r\n"));
    let from_file = config(&[("JWT_SECRET_FILE", file.path())]);
    let from_var = config(&[("JWT_SECRET", SECRET)]);
    let token = keys_of(&from_file)
        .mint(&Principal::staff(), Duration::from_secs(60))
        .unwrap();
    assert_eq!(keys_of(&from_var).verify(&token), Ok(Principal::staff()));
}

#[test]
fn debug_output_never_shows_the_signing_secret() {
    let shown = format!("{:?}", config(&[("JWT_SECRET", SECRET)]));
    assert!(!shown.contains(SECRET), "{shown}");
    assert!(shown.contains("auth: \"enabled"), "{shown}");
}

#[test]
fn defaults_follow_the_contract() {
    let config = config(&[]);
    assert_eq!(config.strategy, ConcurrencyStrategy::Pessimistic);
    assert_eq!((config.host.as_str(), config.port), ("127.0.0.1", 8080));
    assert_eq!(
        config.database.get_hosts(),
        [Host::Tcp("localhost".to_owned())]
    );
    assert_eq!(config.database.get_ports(), [5432]);
    assert_eq!(config.database.get_user(), Some("postgres"));
    assert_eq!(config.database.get_dbname(), Some("postgres"));
    assert_eq!(config.database.get_options(), None);
    assert_eq!(config.log_filter, "info");
    assert!(config.http_workers >= 1);
    assert!(config.pool.max_size >= 1);
}

#[test]
fn the_subcommand_defaults_to_serve() {
    assert_eq!(
        parse(None, &[]).map(|(command, _)| command).ok(),
        Some(Command::Serve)
    );
    assert_eq!(
        parse(Some("migrate"), &[]).map(|(command, _)| command).ok(),
        Some(Command::Migrate)
    );
    assert!(parse(Some("explode"), &[]).is_err());
}

#[test]
fn an_unknown_strategy_is_refused_naming_the_variable_and_the_accepted_values() {
    let message = refusal(&[("CONCURRENCY_STRATEGY", "yolo")]);
    assert!(message.contains("CONCURRENCY_STRATEGY"), "{message}");
    assert!(message.contains("pessimistic, optimistic"), "{message}");
}

#[test]
fn use_optimistic_cc_true_means_optimistic() {
    for yes in ["true", "TRUE", "1"] {
        assert_eq!(
            config(&[("USE_OPTIMISTIC_CC", yes)]).strategy,
            ConcurrencyStrategy::Optimistic
        );
    }
    assert_eq!(
        config(&[("USE_OPTIMISTIC_CC", "false")]).strategy,
        ConcurrencyStrategy::Pessimistic
    );
    let both = config(&[
        ("USE_OPTIMISTIC_CC", "true"),
        ("CONCURRENCY_STRATEGY", "optimistic"),
    ]);
    assert_eq!(both.strategy, ConcurrencyStrategy::Optimistic);
    assert_eq!(
        config(&[("CONCURRENCY_STRATEGY", "optimistic")]).strategy,
        ConcurrencyStrategy::Optimistic
    );
}

#[test]
fn contradicting_strategy_variables_are_refused() {
    let message = refusal(&[
        ("USE_OPTIMISTIC_CC", "true"),
        ("CONCURRENCY_STRATEGY", "pessimistic"),
    ]);
    assert!(
        message.contains("CONCURRENCY_STRATEGY") && message.contains("USE_OPTIMISTIC_CC"),
        "{message}"
    );
    let message = refusal(&[
        ("USE_OPTIMISTIC_CC", "false"),
        ("CONCURRENCY_STRATEGY", "optimistic"),
    ]);
    assert!(message.contains("contradicts"), "{message}");
    let message = refusal(&[("USE_OPTIMISTIC_CC", "maybe")]);
    assert!(
        message.contains("USE_OPTIMISTIC_CC") && message.contains("true or false"),
        "{message}"
    );
}

#[test]
fn malformed_values_are_refused_naming_the_variable() {
    for (var, value, accepted) in [
        ("PORT", "http", "0 to 65535"),
        ("POSTGRES_PORT", "99999", "0 to 65535"),
        ("DB_POOL_SIZE", "0", "at least 1"),
        ("HTTP_WORKERS", "many", "at least 1"),
        ("DB_POOL_TIMEOUT_MS", "-1", "at least 1"),
        ("OPTIMISTIC_MAX_ATTEMPTS", "0", "at least 1"),
        ("OPTIMISTIC_RETRY_BUDGET_MS", "2s", "at least 1"),
        ("POSTGRES_SCHEMA", "public; drop", "identifier"),
        (
            "DATABASE_URL",
            "postgres://u:pw@h:notaport/db",
            "postgres://",
        ),
        ("RUST_LOG", "info,[", "filter"),
    ] {
        let message = refusal(&[(var, value)]);
        assert!(message.contains(var), "{var}: {message}");
        assert!(message.contains(accepted), "{var}: {message}");
    }
}

#[test]
fn database_url_wins_and_the_schema_goes_on_the_search_path() {
    let config = config(&[
        (
            "DATABASE_URL",
            "postgres://shop:s3cret@db.internal:6543/records",
        ),
        ("POSTGRES_HOST", "ignored"),
        ("POSTGRES_SCHEMA", "inventory"),
    ]);
    assert_eq!(
        config.database.get_hosts(),
        [Host::Tcp("db.internal".to_owned())]
    );
    assert_eq!(config.database.get_ports(), [6543]);
    assert_eq!(config.database.get_user(), Some("shop"));
    assert_eq!(config.database.get_dbname(), Some("records"));
    assert_eq!(
        config.database.get_options(),
        Some("-c search_path=inventory")
    );

    let composed = self::config(&[
        ("POSTGRES_HOST", "pg"),
        ("POSTGRES_PORT", "5433"),
        ("POSTGRES_USER", "app"),
        ("POSTGRES_PASSWORD", "hunter2"),
        ("POSTGRES_DB", "shop"),
        ("POSTGRES_SCHEMA", "legacy"),
        ("DATABASE_URL", ""),
    ]);
    assert_eq!(composed.database.get_hosts(), [Host::Tcp("pg".to_owned())]);
    assert_eq!(composed.database.get_ports(), [5433]);
    assert_eq!(
        composed.database.get_password(),
        Some(b"hunter2".as_slice())
    );
    assert_eq!(
        composed.database.get_options(),
        Some("-c search_path=legacy")
    );
}

#[test]
fn debug_output_never_shows_the_password() {
    for vars in [
        &[("POSTGRES_PASSWORD", "hunter2")][..],
        &[("DATABASE_URL", "postgres://shop:hunter2@db:5432/records")][..],
    ] {
        let shown = format!("{:?}", config(vars));
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("<redacted>"), "{shown}");
    }
}

#[test]
fn tuning_settings_reach_the_config() {
    let config = config(&[
        ("HOST", "0.0.0.0"),
        ("PORT", "0"),
        ("DB_POOL_SIZE", "4"),
        ("DB_POOL_TIMEOUT_MS", "250"),
        ("HTTP_WORKERS", "3"),
        ("OPTIMISTIC_MAX_ATTEMPTS", "5"),
        ("OPTIMISTIC_RETRY_BUDGET_MS", "750"),
        ("RUST_LOG", "recordshop_http=debug,warn"),
    ]);
    assert_eq!((config.host.as_str(), config.port), ("0.0.0.0", 0));
    assert_eq!(config.pool.max_size, 4);
    assert_eq!(config.pool.wait_timeout.as_millis(), 250);
    assert_eq!(config.http_workers, 3);
    assert_eq!(config.retry.max_attempts, 5);
    assert_eq!(config.retry.budget.as_millis(), 750);
    assert_eq!(config.log_filter, "recordshop_http=debug,warn");
}
