//! The files of `rest-docs/`: made from the code and the catalog, and
//! checked against what is committed.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use recordshop_harness::postgres::{Admin, DatabaseName, DatabaseUrl};
use recordshop_harness::seed;
use serde_json::Value;

use crate::catalog;
use crate::har;
use crate::insomnia;
use crate::runner;
use crate::service::Service;
use crate::step::Step;
use crate::template::Context;

/// The OpenAPI document, as `GET /openapi.json` serves it.
pub const OPENAPI_FILE: &str = "openapi.json";
/// The Insomnia v4 export.
pub const INSOMNIA_FILE: &str = "insomnia.json";
/// The HAR 1.2 recording.
pub const HAR_FILE: &str = "recordshop.har";

/// What to run to bring `rest-docs/` up to date, for error messages.
pub const REGENERATE: &str = "cargo xtask rest-docs";

/// The repository's `rest-docs/`.
#[must_use]
pub fn default_dir() -> PathBuf {
    recordshop_harness::workspace_root().join("rest-docs")
}

fn pretty(value: &impl serde::Serialize) -> anyhow::Result<String> {
    let mut text = serde_json::to_string_pretty(value)?;
    text.push('\n');
    Ok(text)
}

/// `rest-docs/openapi.json` as the code generates it.
///
/// # Errors
/// Never in practice: serialising the document does not fail.
pub fn openapi_text() -> anyhow::Result<String> {
    pretty(&recordshop_http::openapi())
}

/// `rest-docs/insomnia.json` as the catalog generates it.
///
/// # Errors
/// Never in practice: serialising JSON values does not fail.
pub fn insomnia_text() -> anyhow::Result<String> {
    pretty(&insomnia::export(&catalog::folders()))
}

fn steps() -> Vec<Step> {
    catalog::requests().iter().map(Step::from).collect()
}

/// Checks that the committed files are what the code and the catalog
/// make: the OpenAPI document and the Insomnia export byte for byte, the
/// HAR request for request (see [`har::check`]).
///
/// # Errors
/// Naming each file that is out of date and the command that fixes it.
pub fn check(dir: &Path) -> anyhow::Result<()> {
    let mut stale = Vec::new();
    for (file, expected) in [
        (OPENAPI_FILE, openapi_text()?),
        (INSOMNIA_FILE, insomnia_text()?),
    ] {
        let path = dir.join(file);
        match std::fs::read_to_string(&path) {
            Ok(committed) if committed == expected => {}
            Ok(committed) => stale.push(format!(
                "{} differs from what the code generates{}",
                path.display(),
                first_difference(&committed, &expected)
            )),
            Err(error) => stale.push(format!("{}: {error}", path.display())),
        }
    }
    let har_path = dir.join(HAR_FILE);
    let har = std::fs::read_to_string(&har_path)
        .with_context(|| format!("reading {}", har_path.display()))
        .and_then(|text| Ok(serde_json::from_str::<Value>(&text)?))
        .and_then(|har| har::check(&har, &steps()));
    if let Err(error) = har {
        stale.push(format!("{}: {error:#}", har_path.display()));
    }
    if !stale.is_empty() {
        bail!(
            "rest-docs/ is out of date; run `{REGENERATE}` and commit the result:\n  {}",
            stale.join("\n  ")
        );
    }
    Ok(())
}

fn first_difference(committed: &str, expected: &str) -> String {
    committed
        .lines()
        .zip(expected.lines())
        .enumerate()
        .find(|(_, (a, b))| a != b)
        .map_or_else(
            || " (one is a prefix of the other)".to_owned(),
            |(index, (a, b))| {
                format!(
                    " at line {}:\n    committed: {}\n    generated: {}",
                    index + 1,
                    a.trim(),
                    b.trim()
                )
            },
        )
}

/// Writes `rest-docs/`: the OpenAPI document, the Insomnia export, and a
/// HAR recorded by sending every catalog request to the real service on a
/// scratch database, created on the server `admin` points to, migrated,
/// seeded, and dropped afterwards.
///
/// # Errors
/// When the database cannot be prepared, a request does not answer its
/// documented status (nothing is written then), or a file cannot be written.
pub async fn generate(dir: &Path, admin: &DatabaseUrl) -> anyhow::Result<()> {
    let admin = Admin::connect(admin).await?;
    let scratch =
        DatabaseName::scratch("rest_docs", &[], &uuid::Uuid::new_v4().simple().to_string())?;
    let database = admin.create(&scratch).await?;
    let recorded = record(&database).await;
    if let Err(error) = admin.drop_database(&scratch).await {
        eprintln!("warning: {error:#}");
    }
    let har = recorded?;

    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    for (file, text) in [
        (OPENAPI_FILE, openapi_text()?),
        (INSOMNIA_FILE, insomnia_text()?),
        (HAR_FILE, pretty(&har)?),
    ] {
        let path = dir.join(file);
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

async fn record(database: &DatabaseUrl) -> anyhow::Result<Value> {
    let service = Service::start(database).await?;
    let result = async {
        seed::load(database).await?;
        let base = service.base_url();
        let mut context = Context {
            environment: catalog::environment()
                .into_iter()
                .map(|(key, value)| (key.to_owned(), value))
                .collect(),
            responses: HashMap::new(),
        };
        context
            .environment
            .insert("base_url".to_owned(), base.clone());
        context.environment.extend(service.token_environment()?);
        let run = runner::run(&runner::client()?, &steps(), context).await;
        let failures = run.failures();
        if !failures.is_empty() {
            bail!(
                "the service did not answer as the catalog documents:\n  {}",
                failures.join("\n  ")
            );
        }
        Ok(har::document(&run.exchanges, &base, catalog::BASE_URL))
    }
    .await;
    service.stop().await;
    result
}
