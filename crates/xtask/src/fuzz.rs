//! `cargo xtask fuzz`: schemathesis, driven by the server's own OpenAPI
//! document, against a server on a freshly seeded scratch database (so the
//! seed's ids exist), with a staff token on every request. Fails on any
//! response >= 500 and on answers that break the document's contract.
//!
//! Schemathesis comes from PyPI, pinned, into `.local/venv` (git-ignored),
//! and is reused while the pinned version is the one installed there.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;
use recordshop_harness::postgres::{Admin, DatabaseName, Durability, Scratch};
use recordshop_harness::server::{Launch, Program};
use recordshop_harness::signing::SigningKey;
use recordshop_harness::{blocking, interrupt, process, say, seed};

/// The schemathesis release the run is pinned to (4.x reads OpenAPI 3.1).
const SCHEMATHESIS: &str = "4.32.5";
const DATABASE: &str = "recordshop";
/// Checks that fail the run: no 5xx, and answers that keep to the
/// document (statuses, media types, headers, bodies).
const CHECKS: &str = "not_a_server_error,status_code_conformance,content_type_conformance,\
                      response_headers_conformance,response_schema_conformance";
/// How long the server may take to end after SIGTERM.
const STOP_GRACE: Duration = Duration::from_secs(10);
/// How long the server may take to answer once started.
const READY_WITHIN: Duration = Duration::from_secs(30);
/// Longer than any fuzzing run.
const TOKEN_TTL: Duration = Duration::from_secs(3600);

#[derive(clap::Args)]
pub struct Args {
    /// A short run for CI (under two minutes).
    #[arg(long)]
    quick: bool,
    /// Extra arguments for `st run`, after `--`: `cargo xtask fuzz --
    /// --include-path-regex /discs --seed 42`.
    #[arg(last = true, value_name = "ST RUN ARGS")]
    st_args: Vec<String>,
}

/// Examples per operation and the wall-clock bound of the whole `st run`.
fn budget(quick: bool) -> (u32, Duration) {
    if quick {
        (30, Duration::from_secs(100))
    } else {
        (500, Duration::from_secs(900))
    }
}

pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let root = recordshop_harness::workspace_root();
    let st = install_schemathesis(&root)?;
    crate::cargo::build(false, &["recordshop"])?;
    let out = recordshop_harness::target_dir().join("fuzz");
    fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let log = out.join("server.log");
    fs::write(&log, "").with_context(|| format!("emptying {}", log.display()))?;

    let scratch = Scratch::start(Durability::Throwaway, &[])?;
    let database = DatabaseName::parse(DATABASE)?;
    let url = blocking(async {
        Admin::connect(&scratch.cluster().admin_url())
            .await?
            .create(&database)
            .await
    })?;
    let key = SigningKey::random();
    let token = key.staff_token("fuzz", TOKEN_TTL)?;
    let launch = Launch::new(
        Program::Binary(crate::cargo::binary(false, "recordshop")),
        url.clone(),
        key,
    )?
    .log_to(&log);
    launch.migrate()?;
    blocking(seed::load(&url))?;
    let mut server = launch.start()?;
    say!("serving on {} (log {})", launch.base_url(), log.display());
    server.wait_ready(READY_WITHIN)?;

    let (examples, limit) = budget(args.quick);
    let mut command = Command::new(&st);
    command
        .current_dir(&out)
        .arg("run")
        .arg(format!("{}/openapi.json", launch.base_url()))
        .args(["--checks", CHECKS])
        .args(["--header", &format!("Authorization: Bearer {token}")])
        .args(["--max-examples", &examples.to_string()])
        .args(["--request-timeout", "10", "--wait-for-schema", "30"])
        // Nothing left behind in the work tree between runs.
        .args(["--generation-database", "none", "--no-color"])
        .args(&args.st_args)
        .stdin(Stdio::null());
    say!(
        "running schemathesis {SCHEMATHESIS}: {} examples per operation, {} s at most",
        examples,
        limit.as_secs()
    );
    let outcome = supervise(&mut command, limit);
    let stopped = server.terminate(STOP_GRACE);
    drop(scratch);
    let code = outcome?;
    match stopped {
        Ok(exit) if exit.is_clean() => {}
        Ok(exit) => say!(
            "warning: the server ended with {} after SIGTERM{}",
            exit.status,
            if exit.killed { " (killed)" } else { "" }
        ),
        Err(error) => say!("warning: {error:#}"),
    }
    if code != ExitCode::SUCCESS {
        say!("schemathesis failed; the server's log is {}", log.display());
    }
    Ok(code)
}

/// `.local/venv/bin/st` at the pinned version, installed when missing.
fn install_schemathesis(root: &Path) -> anyhow::Result<PathBuf> {
    let venv = root.join(".local").join("venv");
    let python = venv.join("bin").join("python");
    let st = venv.join("bin").join("st");
    let installed = Command::new(&python)
        .args([
            "-c",
            "import importlib.metadata as m; print(m.version('schemathesis'))",
        ])
        .stderr(Stdio::null())
        .output()
        .ok()
        .filter(|output| output.status.success())
        .map(|output| String::from_utf8_lossy(&output.stdout).trim().to_owned());
    if installed.as_deref() == Some(SCHEMATHESIS) && st.is_file() {
        return Ok(st);
    }
    if !python.is_file() {
        say!(
            "creating a Python virtual environment in {}",
            venv.display()
        );
        process::run(Command::new("python3").arg("-m").arg("venv").arg(&venv)).context(
            "python3 -m venv failed; install Python 3 with its venv module \
             (Debian: apt-get install python3-venv)",
        )?;
    }
    say!("installing schemathesis {SCHEMATHESIS} from PyPI");
    process::run(
        Command::new(&python)
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
            ])
            .arg(format!("schemathesis=={SCHEMATHESIS}")),
    )
    .context("installing schemathesis failed")?;
    Ok(st)
}

/// Runs `command` to its end, killing it once `limit` has passed; an
/// interrupt is left to `process::wait`.
fn supervise(command: &mut Command, limit: Duration) -> anyhow::Result<ExitCode> {
    say!("running {}", redact_token(&process::display(command)));
    let mut child = command.spawn().context("could not start schemathesis")?;
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().context("waiting for schemathesis")? {
            return Ok(process::exit_code(status));
        }
        if interrupt::interrupted() {
            process::wait(&mut child, Duration::from_secs(5))?;
            return Ok(ExitCode::from(130));
        }
        if started.elapsed() >= limit {
            say!(
                "schemathesis still running after {} s; stopping it",
                limit.as_secs()
            );
            // It may have ended meanwhile; wait() reports either way.
            let _ = child.kill();
            child.wait().context("waiting for schemathesis")?;
            return Ok(ExitCode::FAILURE);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The command line with the bearer token hidden.
fn redact_token(line: &str) -> String {
    match line.find("Bearer ") {
        Some(at) => {
            let start = at + "Bearer ".len();
            let end = line[start..]
                .find(' ')
                .map_or(line.len(), |space| start + space);
            format!("{}***{}", &line[..start], &line[end..])
        }
        None => line.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hides_the_token() {
        assert_eq!(
            redact_token("st run -H Authorization: Bearer abc.def.ghi --max-examples 5"),
            "st run -H Authorization: Bearer *** --max-examples 5"
        );
        assert_eq!(redact_token("st run x"), "st run x");
    }

    #[test]
    fn quick_is_smaller() {
        let (quick_examples, quick_limit) = budget(true);
        let (examples, limit) = budget(false);
        assert!(quick_examples < examples && quick_limit < limit);
        assert!(quick_limit <= Duration::from_secs(120));
    }
}
