//! The database connection the settings describe, and how it is shown in
//! logs.

use std::fmt;

use anyhow::bail;
use secrecy::ExposeSecret;
use tokio_postgres::config::Host;

use crate::cli::Settings;

/// The database the settings name: `DATABASE_URL` when set, else the
/// `POSTGRES_*` variables; `POSTGRES_SCHEMA` first on the search path, and
/// `recordshop` as the application name unless the URL names one.
///
/// # Errors
/// When `DATABASE_URL` is not a PostgreSQL URL or `POSTGRES_SCHEMA` is not a
/// plain identifier.
pub(crate) fn from_settings(settings: &Settings) -> anyhow::Result<tokio_postgres::Config> {
    // An empty variable (common in compose files) counts as unset.
    let url = settings
        .database_url
        .as_ref()
        .map(ExposeSecret::expose_secret)
        .filter(|url| !url.trim().is_empty());
    let config = if let Some(url) = url {
        // The parser's messages name options, never values: the URL holds
        // the password.
        url.trim().parse::<tokio_postgres::Config>().map_err(|error| {
            anyhow::anyhow!(
                "DATABASE_URL is not a PostgreSQL URL like postgres://user:password@host:5432/database ({error})"
            )
        })?
    } else {
        let mut config = tokio_postgres::Config::new();
        config
            .host(&settings.postgres_host)
            .port(settings.postgres_port)
            .user(&settings.postgres_user)
            .password(settings.postgres_password.expose_secret())
            .dbname(&settings.postgres_db);
        config
    };
    on_schema(config, settings, "recordshop")
}

/// The standby `DATABASE_READ_URL` names, with the same schema as the
/// primary and `recordshop-reads` as its application name (unless the URL
/// names one); `None` when unset or empty.
///
/// # Errors
/// When it is not a PostgreSQL URL, or `POSTGRES_SCHEMA` is not a plain
/// identifier.
pub(crate) fn read_replica_from_settings(
    settings: &Settings,
) -> anyhow::Result<Option<tokio_postgres::Config>> {
    let url = settings
        .database_read_url
        .as_ref()
        .map(ExposeSecret::expose_secret)
        .map(|url| url.trim())
        .filter(|url| !url.is_empty());
    let Some(url) = url else {
        return Ok(None);
    };
    let config = url.parse::<tokio_postgres::Config>().map_err(|error| {
        anyhow::anyhow!(
            "DATABASE_READ_URL is not a PostgreSQL URL like postgres://user:password@host:5432/database ({error})"
        )
    })?;
    on_schema(config, settings, "recordshop-reads").map(Some)
}

/// `config` with `POSTGRES_SCHEMA` first on its search path and
/// `application_name` unless the URL names one.
fn on_schema(
    mut config: tokio_postgres::Config,
    settings: &Settings,
    application_name: &str,
) -> anyhow::Result<tokio_postgres::Config> {
    let schema = settings
        .postgres_schema
        .as_deref()
        .map(str::trim)
        .filter(|schema| !schema.is_empty());
    if let Some(schema) = schema {
        if !is_identifier(schema) {
            bail!(
                "POSTGRES_SCHEMA {schema:?} is not a plain identifier \
                 (letters, digits and _, not starting with a digit, at most 63)"
            );
        }
        let search_path = format!("-c search_path={schema}");
        let options = match config.get_options() {
            Some(existing) if !existing.is_empty() => format!("{existing} {search_path}"),
            _ => search_path,
        };
        config.options(options);
    }
    if config.get_application_name().is_none() {
        config.application_name(application_name);
    }
    Ok(config)
}

/// Only plain identifiers reach the connection's options string, where a
/// space would start another option.
fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    name.len() <= 63
        && chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Where the database is, for the start-up log: the password never shows.
pub(crate) struct DatabaseSummary<'a>(pub(crate) &'a tokio_postgres::Config);

impl fmt::Debug for DatabaseSummary<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let config = self.0;
        let user = config.get_user().unwrap_or("");
        let password = if config.get_password().is_some() {
            ":<redacted>"
        } else {
            ""
        };
        // host:port pairs, as a multi-host URL writes them; one port given
        // applies to every host.
        let ports = config.get_ports();
        let addresses: Vec<String> = config
            .get_hosts()
            .iter()
            .enumerate()
            .map(|(index, host)| {
                let host = match host {
                    Host::Tcp(name) => name.clone(),
                    Host::Unix(path) => path.display().to_string(),
                };
                match ports.get(index).or(ports.first()) {
                    Some(port) => format!("{host}:{port}"),
                    None => host,
                }
            })
            .collect();
        write!(
            f,
            "\"postgres://{user}{password}@{}/{}\"",
            addresses.join(","),
            config.get_dbname().unwrap_or("")
        )?;
        if let Some(options) = config.get_options() {
            write!(f, " options={options:?}")?;
        }
        Ok(())
    }
}
