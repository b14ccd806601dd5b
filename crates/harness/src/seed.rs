//! The demo data in `seed/seed.sql`: where it is, how it is loaded, and the
//! fixed ids of the records the tools and examples use.

use std::path::PathBuf;

use anyhow::Context;

use crate::postgres::{DatabaseUrl, connect};

/// John Doe, the original service's customer: active.
pub const CUSTOMER: &str = "0e92cf1e-7bc4-4f9e-8eb6-3c88627efecb";
/// "We are Reactive", the original service's disc: 500 units.
pub const DISC: &str = "bcd8a0e9-dc0a-4ae7-a783-458542e2cc39";

/// `seed/seed.sql` of this workspace.
#[must_use]
pub fn file() -> PathBuf {
    crate::workspace_root().join("seed").join("seed.sql")
}

/// Loads the seed (plain SQL in one transaction; idempotent) into the
/// migrated database at `url`.
///
/// # Errors
/// When the file cannot be read or the database refuses it.
pub async fn load(url: &DatabaseUrl) -> anyhow::Result<()> {
    let file = file();
    let sql =
        std::fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
    connect(url)
        .await?
        .batch_execute(&sql)
        .await
        .with_context(|| format!("loading {}", file.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fixed_ids_are_the_seeds() {
        let seed = std::fs::read_to_string(file()).unwrap();
        assert!(seed.contains(CUSTOMER) && seed.contains("John Doe"));
        assert!(seed.contains(DISC) && seed.contains("We are Reactive"));
    }
}
