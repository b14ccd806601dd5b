use anyhow::Context;

mod embedded {
    refinery::embed_migrations!("../../migrations");
}

/// Serialises concurrent migrators (two servers starting at once, parallel
/// test binaries building the template): an arbitrary constant key.
const MIGRATION_LOCK_KEY: i64 = 0x7265_636f_7264;

/// Applies every pending migration of `migrations/`, in order, holding an
/// advisory lock so concurrent callers apply each migration once.
///
/// # Errors
/// When the database cannot be reached or a migration fails; a failed
/// migration is rolled back.
pub async fn migrate(client: &mut tokio_postgres::Client) -> anyhow::Result<()> {
    client
        .execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK_KEY])
        .await
        .context("taking the migration lock")?;
    let report = embedded::migrations::runner()
        .set_abort_divergent(true)
        .run_async(client)
        .await;
    // Released explicitly rather than by closing the connection, because the
    // caller may keep using it.
    let unlocked = client
        .execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK_KEY])
        .await;
    let report = report.context("applying migrations")?;
    unlocked.context("releasing the migration lock")?;
    for migration in report.applied_migrations() {
        tracing::info!(migration = %migration, "applied migration");
    }
    Ok(())
}

/// A short fingerprint of the embedded migrations (versions, names and
/// checksums), so test templates built from other migrations are not reused.
#[must_use]
pub fn migrations_fingerprint() -> String {
    let runner = embedded::migrations::runner();
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for migration in runner.get_migrations() {
        let line = format!(
            "{}:{}:{};",
            migration.version(),
            migration.name(),
            migration.checksum()
        );
        for byte in line.bytes() {
            hash = (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
        }
    }
    format!("{hash:016x}")
}
