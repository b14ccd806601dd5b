//! `cargo xtask test`: the workspace's tests against a throwaway cluster
//! and a throwaway RabbitMQ broker; `cargo xtask rest-docs`: rest-docs/
//! regenerated against another cluster.
//!
//! The tests find them through two variables: [`TEST_DATABASE_URL_VAR`]
//! (the cluster's maintenance database; see the testdb crate) and
//! [`TEST_AMQP_URL_VAR`] (the broker, for the event relay's tests in
//! crates/events). Either one set in the shell is used as it is, and that
//! server is not started. The relay's outage test starts a broker of its
//! own through the harness, since it stops and restarts it, and so does
//! the pg_auto_failover formation's test (it kills and restarts nodes);
//! where pg_auto_failover can neither be found nor installed, that test is
//! skipped, and this says so before the tests start.

use std::env;
use std::path::Path;
use std::process::{Command, ExitCode};
use std::time::Duration;

use anyhow::Context;
use recordshop_harness::postgres::{Durability, Formation, Scratch};
use recordshop_harness::rabbitmq::Broker;
use recordshop_harness::{interrupt, process, say};

/// What the tests read; see the testdb crate.
const TEST_DATABASE_URL_VAR: &str = "RECORDSHOP_TEST_DATABASE_URL";
/// What the event relay's tests read: `amqp://guest:guest@127.0.0.1:N/%2f`.
const TEST_AMQP_URL_VAR: &str = "RECORDSHOP_TEST_AMQP_URL";

/// Speed over durability: the data dies with the run. Every test creates a
/// database, and parallel test binaries hold many connections.
const TEST_SETTINGS: &[&str] = &["max_connections=500", "shared_buffers=128MB"];
/// Tests have no graceful shutdown worth waiting long for.
const INTERRUPT_GRACE: Duration = Duration::from_secs(5);

#[derive(clap::Args)]
pub struct Args {
    /// Arguments for `cargo test`, after `--`: `cargo xtask test -- -p
    /// recordshop-domain`, `cargo xtask test -- -- --nocapture`.
    #[arg(last = true, value_name = "CARGO TEST ARGS")]
    cargo_test_args: Vec<String>,
}

pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let root = recordshop_harness::workspace_root();
    let cargo_args = cargo_test_args(&args.cargo_test_args);
    // The formation test makes its own (and installs pg_auto_failover as
    // root); where it cannot, it passes without running, which a passing
    // test's captured output would hide.
    if let Err(error) = Formation::check_available() {
        say!("*** the pg_auto_failover formation test will be SKIPPED: {error:#} ***");
    }
    // The broker boots (about 4 s) while the cluster is made; both are
    // stopped when these values drop, whatever happens in between.
    let broker = if is_set(TEST_AMQP_URL_VAR) {
        say!("{TEST_AMQP_URL_VAR} is set: testing against that broker, none started");
        None
    } else {
        Some(std::thread::spawn(Broker::scratch))
    };
    let scratch = if is_set(TEST_DATABASE_URL_VAR) {
        say!("{TEST_DATABASE_URL_VAR} is set: testing against that server, no cluster started");
        None
    } else {
        Some(Scratch::start(Durability::Throwaway, TEST_SETTINGS))
    };
    let broker = match broker.map(std::thread::JoinHandle::join) {
        None => None,
        Some(Ok(started)) => Some(started?),
        Some(Err(_)) => anyhow::bail!("starting the broker panicked"),
    };
    let scratch = scratch.transpose()?;
    if let Some(broker) = &broker {
        say!("started {} (removed afterwards)", broker.describe());
    }
    let mut env = Vec::new();
    if let Some(scratch) = &scratch {
        env.push((
            TEST_DATABASE_URL_VAR,
            scratch.cluster().admin_url().to_url(),
        ));
    }
    if let Some(broker) = &broker {
        env.push((TEST_AMQP_URL_VAR, broker.amqp_url()));
    }
    let code = cargo_test(&root, &cargo_args, &env);
    drop(scratch);
    drop(broker);
    code
}

fn is_set(var: &str) -> bool {
    env::var(var).is_ok_and(|value| !value.trim().is_empty())
}

/// `cargo xtask rest-docs`: records every documented request against a
/// real server on a freshly seeded database of a scratch cluster (the
/// rest-docs binary makes and drops that database).
pub fn rest_docs() -> anyhow::Result<ExitCode> {
    let scratch = Scratch::start(Durability::Throwaway, &[])?;
    let url = scratch.cluster().admin_url().to_url();
    let mut command = Command::new(crate::cargo::cargo());
    command
        .current_dir(recordshop_harness::workspace_root())
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

fn cargo_test(
    root: &Path,
    cargo_args: &[String],
    env: &[(&str, String)],
) -> anyhow::Result<ExitCode> {
    let mut command = Command::new(crate::cargo::cargo());
    command.current_dir(root).args(cargo_args);
    // Only test servers' URLs, with their throwaway default credentials.
    let shown: Vec<String> = env
        .iter()
        .map(|(name, value)| format!("{name}={value}"))
        .collect();
    command.envs(env.iter().map(|(name, value)| (name, value)));
    if shown.is_empty() {
        say!("running `cargo {}`", cargo_args.join(" "));
    } else {
        say!(
            "running `cargo {}` with {}",
            cargo_args.join(" "),
            shown.join(" ")
        );
    }
    let mut child = command.spawn().context("could not start cargo test")?;
    let status = process::wait(&mut child, INTERRUPT_GRACE)?;
    say!("cargo test finished: {status}");
    if interrupt::interrupted() {
        return Ok(ExitCode::from(130));
    }
    Ok(process::exit_code(status))
}

/// `test --workspace` plus the user's arguments; `--workspace` is left out
/// when they pick packages themselves.
fn cargo_test_args(extra: &[String]) -> Vec<String> {
    let cargo_part = extra.split(|arg| arg == "--").next().unwrap_or_default();
    let picks_packages = cargo_part.iter().any(|arg| {
        arg == "--workspace"
            || arg == "--all"
            || arg == "--package"
            || arg.starts_with("--package=")
            || (arg.starts_with("-p") && !arg.starts_with("--"))
    });
    let mut args = vec!["test".to_owned()];
    if !picks_packages {
        args.push("--workspace".to_owned());
    }
    args.extend(extra.iter().cloned());
    args
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(list: &[&str]) -> Vec<String> {
        list.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn tests_the_whole_workspace_by_default() {
        assert_eq!(cargo_test_args(&[]), strings(&["test", "--workspace"]));
        assert_eq!(
            cargo_test_args(&strings(&["--release", "--", "--nocapture"])),
            strings(&["test", "--workspace", "--release", "--", "--nocapture"])
        );
    }

    #[test]
    fn chosen_packages_replace_the_workspace() {
        assert_eq!(
            cargo_test_args(&strings(&["-p", "recordshop-domain"])),
            strings(&["test", "-p", "recordshop-domain"])
        );
        assert_eq!(
            cargo_test_args(&strings(&["-pxtask"])),
            strings(&["test", "-pxtask"])
        );
        assert_eq!(
            cargo_test_args(&strings(&["--package=xtask"])),
            strings(&["test", "--package=xtask"])
        );
        // After `--` the arguments belong to the test binaries.
        assert_eq!(
            cargo_test_args(&strings(&["--", "-p"])),
            strings(&["test", "--workspace", "--", "-p"])
        );
    }
}
