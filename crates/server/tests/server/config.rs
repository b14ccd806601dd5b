//! Configuration parsing, from explicit variables: the process environment
//! is neither read nor changed.

use std::ffi::OsStr;

use clap::{CommandFactory, FromArgMatches};
use recordshop::{Cli, Command, Config};
use recordshop_postgres::ConcurrencyStrategy;
use tokio_postgres::config::Host;

/// Parses as if the process ran with exactly `vars` in its environment and
/// `subcommand` (if any) on its command line. Each variable is handed to
/// clap as the flag that reads it, and every flag's environment fallback is
/// switched off.
fn parse(subcommand: Option<&str>, vars: &[(&str, &str)]) -> anyhow::Result<(Command, Config)> {
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
