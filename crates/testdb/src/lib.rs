//! A fresh, migrated database for each test.
//!
//! `cargo xtask test` starts a throwaway cluster and sets
//! [`TEST_DATABASE_URL_VAR`] to its maintenance database. The first test
//! that needs a database builds a template from the migrations (once per set
//! of migrations, under an advisory lock so parallel test binaries agree);
//! every test then gets its own copy, cheap to create, and drops it when done.
//! Databases are made and dropped through the harness's admin connection.

use anyhow::Context;
use recordshop_harness::postgres::{Admin, DatabaseName, DatabaseUrl, connect};
use tokio_postgres::{Client, Config};

/// The variable that points the tests at a PostgreSQL server.
pub const TEST_DATABASE_URL_VAR: &str = "RECORDSHOP_TEST_DATABASE_URL";

/// Held while a template is built; an arbitrary constant.
const TEMPLATE_LOCK_KEY: i64 = 0x7465_6d70_6c61;

/// A database that exists for one test and is dropped with this value.
pub struct TestDatabase {
    admin: DatabaseUrl,
    name: DatabaseName,
    url: DatabaseUrl,
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
        let admin_url: DatabaseUrl = url
            .parse()
            .with_context(|| format!("{TEST_DATABASE_URL_VAR} is not a PostgreSQL URL"))?;
        let admin = Admin::connect(&admin_url).await?;
        let template = ensure_template(&admin).await?;
        let name = DatabaseName::parse(&format!("test_{}", uuid::Uuid::new_v4().simple()))?;
        let url = admin.create_from_template(&name, &template).await?;
        Ok(Self {
            admin: admin_url,
            name,
            url,
        })
    }

    /// Connection settings of this database.
    #[must_use]
    pub fn config(&self) -> &Config {
        self.url.config()
    }

    /// Where this database is.
    #[must_use]
    pub fn url(&self) -> &DatabaseUrl {
        &self.url
    }

    /// The database's name.
    #[must_use]
    pub fn name(&self) -> &str {
        self.name.as_str()
    }

    /// A plain client, for arranging and inspecting state in tests.
    ///
    /// # Errors
    /// When the server cannot be reached.
    pub async fn client(&self) -> anyhow::Result<Client> {
        connect(&self.url).await
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        // Drop cannot await, and may run inside the test's runtime, so the
        // clean-up gets a thread and a runtime of its own.
        let admin = self.admin.clone();
        let name = self.name.clone();
        let dropped = std::thread::spawn(move || {
            recordshop_harness::blocking(async {
                Admin::connect(&admin).await?.drop_database(&name).await
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("warning: test database {} was not dropped", self.name);
        }
    }
}

/// The name of a template migrated with the current migrations, built when
/// missing.
async fn ensure_template(admin: &Admin) -> anyhow::Result<DatabaseName> {
    let template = DatabaseName::parse(&format!(
        "recordshop_template_{}",
        recordshop_postgres::migrations_fingerprint()
    ))?;
    if admin.exists(&template).await? {
        return Ok(template);
    }
    let client = admin.client();
    client
        .execute("SELECT pg_advisory_lock($1)", &[&TEMPLATE_LOCK_KEY])
        .await?;
    let built = build_template(admin, &template).await;
    client
        .execute("SELECT pg_advisory_unlock($1)", &[&TEMPLATE_LOCK_KEY])
        .await?;
    built.map(|()| template)
}

async fn build_template(admin: &Admin, template: &DatabaseName) -> anyhow::Result<()> {
    if admin.exists(template).await? {
        return Ok(());
    }
    // Built under a scratch name and renamed when complete, so a template
    // half-built by an interrupted run is never cloned.
    let scratch = DatabaseName::parse(&format!("{template}_building"))?;
    admin.drop_database(&scratch).await?;
    let url = admin.create(&scratch).await?;
    {
        let mut migrator = connect(&url).await?;
        recordshop_postgres::migrate(&mut migrator).await?;
    }
    admin
        .rename(&scratch, template)
        .await
        .context("renaming the migrated template")
}
