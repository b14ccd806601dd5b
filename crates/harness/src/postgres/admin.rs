//! Databases made and dropped through an admin connection (a role that may
//! `CREATE DATABASE`, on the server's maintenance database).

use std::fmt;
use std::time::Duration;

use anyhow::{Context, bail};
use tokio_postgres::error::SqlState;
use tokio_postgres::{Client, NoTls};

use super::DatabaseUrl;

/// PostgreSQL's identifier limit, in bytes.
const MAX_IDENTIFIER: usize = 63;
/// A server that does not answer a connection in this long is down.
const CONNECT_WITHIN: Duration = Duration::from_secs(10);

/// A database name that is safe to put between double quotes: lower-case
/// ASCII letters, digits and `_`, starting with a letter, within 63 bytes.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct DatabaseName(String);

impl DatabaseName {
    /// `<prefix>_<part>_…_<tag>`, each part lower-cased with anything else
    /// than letters and digits turned into `_`; shortened in the middle
    /// when too long, so the unique `tag` at the end stays.
    ///
    /// # Errors
    /// When `prefix` does not start with a letter, or `tag` is too long to
    /// fit.
    pub fn scratch(prefix: &str, parts: &[&str], tag: &str) -> anyhow::Result<Self> {
        let clean = |text: &str| -> String {
            text.chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() {
                        c.to_ascii_lowercase()
                    } else {
                        '_'
                    }
                })
                .collect()
        };
        let tag = clean(tag);
        let mut head = clean(prefix);
        for part in parts {
            head.push('_');
            head.push_str(&clean(part));
        }
        let room = MAX_IDENTIFIER
            .checked_sub(tag.len() + 1)
            .context("the tag leaves no room for a name")?;
        head.truncate(room);
        Self::parse(&format!("{head}_{tag}"))
    }

    /// An existing name, checked.
    ///
    /// # Errors
    /// When it breaks the rule above.
    pub fn parse(name: &str) -> anyhow::Result<Self> {
        let valid = name.len() <= MAX_IDENTIFIER
            && name.starts_with(|c: char| c.is_ascii_lowercase())
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !valid {
            bail!(
                "{name:?} is not a plain database name (a-z, 0-9 and _, starting with a letter, at most 63)"
            );
        }
        Ok(Self(name.to_owned()))
    }

    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for DatabaseName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Connects to `url` and drives the connection in the background; the
/// connection ends when the client is dropped.
///
/// # Errors
/// When the server cannot be reached within 10 s or refuses the login.
pub async fn connect(url: &DatabaseUrl) -> anyhow::Result<Client> {
    let (client, connection) = tokio::time::timeout(CONNECT_WITHIN, url.config().connect(NoTls))
        .await
        .with_context(|| format!("connecting to {url} took over 10 s"))?
        .with_context(|| format!("connecting to {url}"))?;
    tokio::spawn(async move {
        // An error here surfaces on the client's next query.
        let _ = connection.await;
    });
    Ok(client)
}

/// An admin connection, for making and dropping databases on its server.
pub struct Admin {
    url: DatabaseUrl,
    client: Client,
}

impl Admin {
    /// Connects as `url` says (its database is the maintenance one).
    ///
    /// # Errors
    /// As [`connect`].
    pub async fn connect(url: &DatabaseUrl) -> anyhow::Result<Self> {
        Ok(Self {
            url: url.clone(),
            client: connect(url).await?,
        })
    }

    /// The connection, for what else a caller needs (advisory locks).
    #[must_use]
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Database `name` on this server, reached as the admin is.
    #[must_use]
    pub fn url_of(&self, name: &DatabaseName) -> DatabaseUrl {
        self.url.with_database(name.as_str())
    }

    /// Creates an empty database `name`; returns its URL.
    ///
    /// # Errors
    /// When it exists already or the role may not create databases.
    pub async fn create(&self, name: &DatabaseName) -> anyhow::Result<DatabaseUrl> {
        self.client
            .batch_execute(&format!("CREATE DATABASE \"{name}\""))
            .await
            .with_context(|| format!("creating database {name}"))?;
        Ok(self.url_of(name))
    }

    /// Creates `name` as a copy of `template`. The copy fails while any
    /// session is connected to the template, which happens for a moment
    /// after it is built; that one error is retried, a bounded number of
    /// times.
    ///
    /// # Errors
    /// When it still fails.
    pub async fn create_from_template(
        &self,
        name: &DatabaseName,
        template: &DatabaseName,
    ) -> anyhow::Result<DatabaseUrl> {
        let statement = format!("CREATE DATABASE \"{name}\" TEMPLATE \"{template}\"");
        for _ in 0..50 {
            match self.client.batch_execute(&statement).await {
                Ok(()) => return Ok(self.url_of(name)),
                Err(error) if error.code() == Some(&SqlState::OBJECT_IN_USE) => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(error) => {
                    return Err(error).with_context(|| format!("creating {name} from {template}"));
                }
            }
        }
        bail!("template {template} stayed busy; could not create {name}")
    }

    /// Renames database `from` to `to`.
    ///
    /// # Errors
    /// When `from` is missing or in use, or `to` exists.
    pub async fn rename(&self, from: &DatabaseName, to: &DatabaseName) -> anyhow::Result<()> {
        self.client
            .batch_execute(&format!("ALTER DATABASE \"{from}\" RENAME TO \"{to}\""))
            .await
            .with_context(|| format!("renaming database {from} to {to}"))
    }

    /// Drops `name` if it exists, closing any session still open on it.
    ///
    /// # Errors
    /// When the server refuses.
    pub async fn drop_database(&self, name: &DatabaseName) -> anyhow::Result<()> {
        self.client
            .batch_execute(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
            .await
            .with_context(|| format!("dropping database {name}"))
    }

    /// Whether database `name` exists.
    ///
    /// # Errors
    /// When the catalog cannot be read.
    pub async fn exists(&self, name: &DatabaseName) -> anyhow::Result<bool> {
        let row = self
            .client
            .query_opt(
                "SELECT 1 FROM pg_database WHERE datname = $1",
                &[&name.as_str()],
            )
            .await
            .with_context(|| format!("looking for database {name}"))?;
        Ok(row.is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scratch_names_are_safe_identifiers_that_keep_their_tag() {
        let name = DatabaseName::scratch("exp", &["hot", "pessimistic"], "a1b2c3d4").unwrap();
        assert_eq!(name.as_str(), "exp_hot_pessimistic_a1b2c3d4");
        let odd = DatabaseName::scratch("flt", &["Out-age", "My.Strategy"], "T").unwrap();
        assert_eq!(odd.as_str(), "flt_out_age_my_strategy_t");
        let long = DatabaseName::scratch("exp", &[&"x".repeat(100)], "a1b2c3d4").unwrap();
        assert_eq!(long.as_str().len(), MAX_IDENTIFIER);
        assert!(long.as_str().ends_with("_a1b2c3d4"));
    }

    #[test]
    fn only_plain_names_pass() {
        assert!(DatabaseName::parse("recordshop").is_ok());
        assert!(DatabaseName::parse("exp_x\"; DROP").is_err());
        assert!(DatabaseName::parse("Upper").is_err());
        assert!(DatabaseName::parse("1st").is_err());
        assert!(DatabaseName::parse(&"a".repeat(64)).is_err());
        assert!(DatabaseName::scratch("9", &[], "t").is_err());
    }
}
