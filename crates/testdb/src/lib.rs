//! A fresh, migrated database for each test.
//!
//! `cargo xtask test` starts a throwaway cluster and sets
//! [`TEST_DATABASE_URL_VAR`] to its maintenance database. The first test
//! that needs a database builds a template from the migrations (once per set
//! of migrations, under an advisory lock so parallel test binaries agree);
//! every test then gets its own copy, cheap to create, and drops it when done.

use std::time::Duration;

use anyhow::{Context, bail};
use tokio_postgres::error::SqlState;
use tokio_postgres::{Client, Config, NoTls};

/// The variable that points the tests at a PostgreSQL server.
pub const TEST_DATABASE_URL_VAR: &str = "RECORDSHOP_TEST_DATABASE_URL";

/// Held while a template is built; an arbitrary constant.
const TEMPLATE_LOCK_KEY: i64 = 0x7465_6d70_6c61;

/// A database that exists for one test and is dropped with this value.
pub struct TestDatabase {
    admin: Config,
    name: String,
    config: Config,
}

impl TestDatabase {
    /// Creates a fresh database, migrated to the current schema.
    ///
    /// # Errors
    /// When [`TEST_DATABASE_URL_VAR`] is unset (with a message naming the
    /// README's test command) or the server refuses.
    pub async fn create() -> anyhow::Result<Self> {
        let url = std::env::var(TEST_DATABASE_URL_VAR).map_err(|_| {
            anyhow::anyhow!(
                "database tests need PostgreSQL: run them with `cargo xtask test`, \
                 which starts a throwaway cluster, or set {TEST_DATABASE_URL_VAR} \
                 to a server where you may create databases"
            )
        })?;
        let admin: Config = url
            .parse()
            .with_context(|| format!("{TEST_DATABASE_URL_VAR} is not a PostgreSQL URL"))?;
        let client = connect(&admin).await?;
        let template = ensure_template(&admin, &client).await?;
        let name = format!("test_{}", uuid::Uuid::new_v4().simple());
        create_from_template(&client, &name, &template).await?;
        let mut config = admin.clone();
        config.dbname(&name);
        Ok(Self {
            admin,
            name,
            config,
        })
    }

    /// Connection settings of this database.
    #[must_use]
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The database's name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A plain client, for arranging and inspecting state in tests.
    ///
    /// # Errors
    /// When the server cannot be reached.
    pub async fn client(&self) -> anyhow::Result<Client> {
        connect(&self.config).await
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        // Drop cannot await, and may run inside the test's runtime, so the
        // clean-up gets a thread and a runtime of its own.
        let admin = self.admin.clone();
        let name = self.name.clone();
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(async {
                let client = connect(&admin).await?;
                client
                    .batch_execute(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                    .await?;
                anyhow::Ok(())
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("warning: test database {} was not dropped", self.name);
        }
    }
}

async fn connect(config: &Config) -> anyhow::Result<Client> {
    let (client, connection) = config
        .connect(NoTls)
        .await
        .context("connecting to the test PostgreSQL")?;
    tokio::spawn(connection);
    Ok(client)
}

/// Returns the name of a template migrated with the current migrations,
/// building it when missing.
async fn ensure_template(admin: &Config, client: &Client) -> anyhow::Result<String> {
    let template = format!(
        "recordshop_template_{}",
        recordshop_postgres::migrations_fingerprint()
    );
    if database_exists(client, &template).await? {
        return Ok(template);
    }
    client
        .execute("SELECT pg_advisory_lock($1)", &[&TEMPLATE_LOCK_KEY])
        .await?;
    let built = build_template(admin, client, &template).await;
    client
        .execute("SELECT pg_advisory_unlock($1)", &[&TEMPLATE_LOCK_KEY])
        .await?;
    built.map(|()| template)
}

async fn build_template(admin: &Config, client: &Client, template: &str) -> anyhow::Result<()> {
    if database_exists(client, template).await? {
        return Ok(());
    }
    // Built under a scratch name and renamed when complete, so a template
    // half-built by an interrupted run is never cloned.
    let scratch = format!("{template}_building");
    // Two calls: a multi-statement string runs as one transaction, which
    // DROP/CREATE DATABASE refuse.
    client
        .batch_execute(&format!(
            "DROP DATABASE IF EXISTS \"{scratch}\" WITH (FORCE)"
        ))
        .await?;
    client
        .batch_execute(&format!("CREATE DATABASE \"{scratch}\""))
        .await?;
    let mut config = admin.clone();
    config.dbname(&scratch);
    {
        let mut migrator = connect(&config).await?;
        recordshop_postgres::migrate(&mut migrator).await?;
    }
    client
        .batch_execute(&format!(
            "ALTER DATABASE \"{scratch}\" RENAME TO \"{template}\""
        ))
        .await
        .context("renaming the migrated template")?;
    Ok(())
}

async fn database_exists(client: &Client, name: &str) -> anyhow::Result<bool> {
    let row = client
        .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&name])
        .await?;
    Ok(row.is_some())
}

/// `CREATE DATABASE … TEMPLATE` fails while any session is connected to the
/// template, which can happen for a moment after it is built; that one error
/// is retried, a bounded number of times.
async fn create_from_template(client: &Client, name: &str, template: &str) -> anyhow::Result<()> {
    let statement = format!("CREATE DATABASE \"{name}\" TEMPLATE \"{template}\"");
    for _ in 0..50 {
        match client.batch_execute(&statement).await {
            Ok(()) => return Ok(()),
            Err(error) if error.code() == Some(&SqlState::OBJECT_IN_USE) => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(error) => return Err(error).context("creating the test database"),
        }
    }
    bail!("template {template} stayed busy; could not create {name}")
}
