//! PostgreSQL connection URLs as values: parsed once into a
//! [`tokio_postgres::Config`], edited through it (another database, say),
//! and written back as a URL only where a program needs one in its
//! environment. Never split as strings.

use std::fmt;
use std::str::FromStr;

use anyhow::{Context, bail};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use tokio_postgres::Config;
use tokio_postgres::config::{Host, SslMode, TargetSessionAttrs};

/// Everything but RFC 3986's unreserved characters is encoded.
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Where a database is and how to log in to it. `Display` hides the
/// password; [`DatabaseUrl::to_url`] is the full URL for a child process.
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseUrl(Config);

impl DatabaseUrl {
    /// `postgres://postgres@127.0.0.1:<port>/<database>`: a cluster of ours.
    #[must_use]
    pub fn local(port: u16, database: &str) -> Self {
        let mut config = Config::new();
        config
            .user("postgres")
            .host("127.0.0.1")
            .port(port)
            .dbname(database);
        Self(config)
    }

    /// The same server, user and options, on `database`.
    #[must_use]
    pub fn with_database(&self, database: &str) -> Self {
        let mut config = self.0.clone();
        config.dbname(database);
        Self(config)
    }

    /// The connection settings, for tokio-postgres.
    #[must_use]
    pub fn config(&self) -> &Config {
        &self.0
    }

    /// The database's name, if the URL names one.
    #[must_use]
    pub fn database(&self) -> Option<&str> {
        self.0.get_dbname()
    }

    /// The whole URL, password included: for a child's environment only.
    #[must_use]
    pub fn to_url(&self) -> String {
        render(&self.0, true)
    }
}

impl From<Config> for DatabaseUrl {
    fn from(config: Config) -> Self {
        Self(config)
    }
}

impl FromStr for DatabaseUrl {
    type Err = anyhow::Error;

    /// A `postgres://` or `postgresql://` URL. Key-value strings
    /// (`host=… dbname=…`) are refused: tools hand URLs on.
    fn from_str(text: &str) -> anyhow::Result<Self> {
        let text = text.trim();
        if !(text.starts_with("postgres://") || text.starts_with("postgresql://")) {
            bail!("expected a postgres:// URL");
        }
        // tokio-postgres' messages name the part, never its value: the URL
        // may hold a password.
        let config: Config = text.parse().context("not a PostgreSQL URL")?;
        Ok(Self(config))
    }
}

/// The URL with its password replaced by `***`.
impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&render(&self.0, false))
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DatabaseUrl({self})")
    }
}

/// `config` as a URL carrying what the tools set: user, password, hosts
/// and ports, database, and the `options`, `application_name`,
/// `connect_timeout`, `target_session_attrs` and `sslmode` parameters.
fn render(config: &Config, with_password: bool) -> String {
    let encode = |text: &str| utf8_percent_encode(text, COMPONENT).to_string();
    let mut url = String::from("postgres://");
    if let Some(user) = config.get_user() {
        url.push_str(&encode(user));
        if let Some(password) = config.get_password() {
            url.push(':');
            if with_password {
                url.push_str(&encode(&String::from_utf8_lossy(password)));
            } else {
                url.push_str("***");
            }
        }
        url.push('@');
    }
    let ports = config.get_ports();
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .enumerate()
        .map(|(index, host)| {
            let name = match host {
                Host::Tcp(name) if name.contains(':') => format!("[{name}]"),
                Host::Tcp(name) => encode(name),
                Host::Unix(path) => encode(&path.to_string_lossy()),
            };
            match ports.get(index).or(ports.first()) {
                Some(port) => format!("{name}:{port}"),
                None => name,
            }
        })
        .collect();
    url.push_str(&hosts.join(","));
    url.push('/');
    if let Some(database) = config.get_dbname() {
        url.push_str(&encode(database));
    }
    let mut parameters = Vec::new();
    if let Some(options) = config.get_options() {
        parameters.push(format!("options={}", encode(options)));
    }
    if let Some(name) = config.get_application_name() {
        parameters.push(format!("application_name={}", encode(name)));
    }
    if let Some(timeout) = config.get_connect_timeout() {
        parameters.push(format!("connect_timeout={}", timeout.as_secs().max(1)));
    }
    match config.get_target_session_attrs() {
        TargetSessionAttrs::ReadWrite => parameters.push("target_session_attrs=read-write".into()),
        TargetSessionAttrs::ReadOnly => parameters.push("target_session_attrs=read-only".into()),
        _ => {}
    }
    match config.get_ssl_mode() {
        SslMode::Disable => parameters.push("sslmode=disable".into()),
        SslMode::Require => parameters.push("sslmode=require".into()),
        _ => {}
    }
    if !parameters.is_empty() {
        url.push('?');
        url.push_str(&parameters.join("&"));
    }
    url
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(text: &str) -> DatabaseUrl {
        let url: DatabaseUrl = text.parse().unwrap();
        let again: DatabaseUrl = url.to_url().parse().unwrap();
        assert_eq!(again, url, "{text} came back as {}", url.to_url());
        url
    }

    #[test]
    fn another_database_keeps_everything_else() {
        let admin = round_trip(
            "postgresql://app:s%3Acret@db.example:6543/postgres?sslmode=disable&application_name=tools",
        );
        let run = admin.with_database("exp_hot_1a2b");
        assert_eq!(run.database(), Some("exp_hot_1a2b"));
        assert_eq!(
            run.to_url(),
            "postgres://app:s%3Acret@db.example:6543/exp_hot_1a2b?application_name=tools&sslmode=disable"
        );
        assert_eq!(run.config().get_password(), Some(&b"s:cret"[..]));
    }

    #[test]
    fn the_password_never_displays() {
        let url: DatabaseUrl = "postgres://app:hunter2@db/shop".parse().unwrap();
        assert_eq!(url.to_string(), "postgres://app:***@db:5432/shop");
        assert!(!format!("{url:?}").contains("hunter2"));
        assert!(url.to_url().contains("hunter2"));
    }

    #[test]
    fn several_hosts_and_session_attributes_survive() {
        let url = round_trip(
            "postgres://postgres@127.0.0.1:55402,127.0.0.1:55403/recordshop?target_session_attrs=read-write&connect_timeout=2",
        );
        assert_eq!(url.config().get_hosts().len(), 2);
        assert_eq!(url.config().get_ports(), &[55402, 55403]);
        round_trip("postgres://u@[::1]:5432/db?options=-c%20search_path%3Dshop");
    }

    #[test]
    fn local_clusters_are_reached_as_postgres_over_tcp() {
        assert_eq!(
            DatabaseUrl::local(54329, "recordshop").to_url(),
            "postgres://postgres@127.0.0.1:54329/recordshop"
        );
        assert!("host=localhost dbname=x".parse::<DatabaseUrl>().is_err());
        assert!("postgres://u@h:notaport/x".parse::<DatabaseUrl>().is_err());
    }
}
