//! The PostgreSQL server the experiment runs on: a fresh database per run,
//! created and dropped through the admin URL.

use anyhow::{Context, bail};
use tokio_postgres::NoTls;

/// A connection to the admin database, used only to create and drop the
/// experiment's own databases.
pub struct Cluster {
    admin_url: String,
    client: tokio_postgres::Client,
}

/// PostgreSQL's identifier limit.
const MAX_IDENTIFIER: usize = 63;

impl Cluster {
    pub async fn connect(admin_url: &str) -> anyhow::Result<Self> {
        let client = connect(admin_url)
            .await
            .context("connecting with --admin-url")?;
        Ok(Self {
            admin_url: admin_url.to_owned(),
            client,
        })
    }

    /// Creates database `name` and returns its URL.
    pub async fn create_database(&self, name: &str) -> anyhow::Result<String> {
        check_name(name)?;
        self.client
            .batch_execute(&format!("CREATE DATABASE \"{name}\""))
            .await
            .with_context(|| format!("creating database {name}"))?;
        database_url(&self.admin_url, name)
    }

    /// Drops database `name`, closing any connection still open to it.
    pub async fn drop_database(&self, name: &str) -> anyhow::Result<()> {
        check_name(name)?;
        self.client
            .batch_execute(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
            .await
            .with_context(|| format!("dropping database {name}"))
    }
}

/// Connects and drives the connection in the background.
pub async fn connect(url: &str) -> anyhow::Result<tokio_postgres::Client> {
    let (client, connection) = tokio_postgres::connect(url, NoTls)
        .await
        .context("connecting to PostgreSQL")?;
    tokio::spawn(async move {
        // The connection ends when the client is dropped; an error here
        // surfaces on the client's next query.
        let _ = connection.await;
    });
    Ok(client)
}

/// `admin_url` with its database replaced by `database`, keeping the user,
/// password, host, port and query parameters.
pub fn database_url(admin_url: &str, database: &str) -> anyhow::Result<String> {
    let Some((scheme, rest)) = admin_url.split_once("://") else {
        bail!("--admin-url must be a postgres:// URL, got {admin_url:?}");
    };
    let (authority, query) = match rest.find(['/', '?']) {
        None => (rest, ""),
        Some(at) => {
            let (authority, tail) = rest.split_at(at);
            (authority, tail.find('?').map_or("", |q| &tail[q..]))
        }
    };
    Ok(format!("{scheme}://{authority}/{database}{query}"))
}

/// A database name for one run: `exp_<scenario>_<label>_<tag>`, lower-case
/// letters, digits and underscores only, within PostgreSQL's limit.
pub fn database_name(scenario: &str, label: &str, tag: &str) -> String {
    let raw = format!("exp_{scenario}_{label}_{tag}");
    let mut name: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    if name.len() > MAX_IDENTIFIER {
        // Keep the unique tag at the end.
        let keep = MAX_IDENTIFIER - tag.len() - 1;
        name = format!("{}_{}", &name[..keep], &name[name.len() - tag.len()..]);
    }
    name
}

fn check_name(name: &str) -> anyhow::Result<()> {
    let valid = name.starts_with("exp_")
        && name.len() <= MAX_IDENTIFIER
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if !valid {
        bail!("refusing to touch database {name:?}: not an experiment database");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_the_database_and_keeps_the_rest() {
        assert_eq!(
            database_url("postgres://postgres@127.0.0.1:55432/postgres", "exp_x").unwrap(),
            "postgres://postgres@127.0.0.1:55432/exp_x"
        );
        assert_eq!(
            database_url("postgresql://u:p@h:1/db?sslmode=disable", "exp_x").unwrap(),
            "postgresql://u:p@h:1/exp_x?sslmode=disable"
        );
        assert_eq!(
            database_url("postgres://u@h", "exp_x").unwrap(),
            "postgres://u@h/exp_x"
        );
        assert_eq!(
            database_url("postgres://u@h?application_name=a", "exp_x").unwrap(),
            "postgres://u@h/exp_x?application_name=a"
        );
        assert!(database_url("host=localhost", "exp_x").is_err());
    }

    #[test]
    fn database_names_are_safe_identifiers() {
        assert_eq!(
            database_name("hot", "pessimistic", "a1b2c3d4"),
            "exp_hot_pessimistic_a1b2c3d4"
        );
        assert_eq!(
            database_name("hot", "My-Strategy.v2", "a1b2c3d4"),
            "exp_hot_my_strategy_v2_a1b2c3d4"
        );
        let long = database_name("spread", &"x".repeat(100), "a1b2c3d4");
        assert_eq!(long.len(), MAX_IDENTIFIER);
        assert!(long.ends_with("_a1b2c3d4"));
        assert!(check_name(&long).is_ok());
        assert!(check_name("postgres").is_err());
        assert!(check_name("exp_x\"; DROP").is_err());
    }
}
