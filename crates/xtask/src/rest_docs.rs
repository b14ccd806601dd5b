//! `cargo xtask rest-docs`: regenerates `rest-docs/` (OpenAPI, Insomnia
//! export, HAR) by recording every documented request against a real server
//! on a freshly seeded database of a scratch cluster.

use std::process::{Command, ExitCode};
use std::time::Duration;

use anyhow::Context;

use crate::cluster::Durability;
use crate::{interrupt, process, say, scratch};

/// Recording is quick and needs no durability.
const SETTINGS: &[&str] = &[
    "fsync=off",
    "synchronous_commit=off",
    "full_page_writes=off",
];
const INTERRUPT_GRACE: Duration = Duration::from_secs(5);

pub fn run() -> anyhow::Result<ExitCode> {
    let root = crate::project_root()?;
    let scratch = scratch::start(Durability::Throwaway, SETTINGS)?;
    let url = scratch.cluster().url("postgres");
    let mut command = Command::new(crate::cargo());
    command
        .current_dir(&root)
        .args([
            "run",
            "--quiet",
            "-p",
            "recordshop-rest-docs",
            "--bin",
            "rest-docs",
            "--",
        ])
        .args(["generate", "--database-url", &url]);
    say!("running {}", process::display(&command));
    let mut child = command.spawn().context("could not start cargo run")?;
    let status = process::wait(&mut child, INTERRUPT_GRACE)?;
    drop(scratch);
    if interrupt::interrupted() {
        return Ok(ExitCode::from(130));
    }
    Ok(process::exit_code(status))
}
