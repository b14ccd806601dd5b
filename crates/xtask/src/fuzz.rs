//! `cargo xtask fuzz`: schemathesis, driven by the server's own OpenAPI
//! document, against a server on a freshly seeded scratch database (so the
//! seed's ids exist), with a staff token on every request. Fails on any
//! response >= 500 and on answers that break the document's contract.
//!
//! Schemathesis comes from PyPI, pinned, into `.local/venv` (git-ignored),
//! and is reused while the pinned version is the one installed there.

use std::fs::{self, File};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use crate::cluster::{self, Durability};
use crate::{interrupt, process, say, scratch};

/// The schemathesis release the run is pinned to (4.x reads OpenAPI 3.1).
const SCHEMATHESIS: &str = "4.32.5";
/// The data is thrown away with the cluster.
const SETTINGS: &[&str] = &[
    "fsync=off",
    "synchronous_commit=off",
    "full_page_writes=off",
];
const DATABASE: &str = "recordshop";
/// Checks that fail the run: no 5xx, and answers that keep to the
/// document (statuses, media types, headers, bodies).
const CHECKS: &str = "not_a_server_error,status_code_conformance,content_type_conformance,\
                      response_headers_conformance,response_schema_conformance";
/// How long the server may take to end after SIGTERM.
const STOP_GRACE: Duration = Duration::from_secs(10);

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
    let root = crate::project_root()?;
    let st = install_schemathesis(&root)?;
    say!("building the server");
    process::run(Command::new(crate::cargo()).current_dir(&root).args([
        "build",
        "--quiet",
        "-p",
        "recordshop",
    ]))
    .context("building the server failed")?;
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);
    let server_bin = target.join("debug").join("recordshop");
    let out = target.join("fuzz");
    fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let log = out.join("server.log");
    fs::write(&log, "").with_context(|| format!("emptying {}", log.display()))?;

    let scratch = scratch::start(Durability::Throwaway, SETTINGS)?;
    let cluster = scratch.cluster();
    cluster.query("postgres", &format!("CREATE DATABASE {DATABASE}"))?;
    let server = ServerSetup {
        bin: server_bin,
        database_url: cluster.url(DATABASE),
        port: cluster::free_port()?,
        secret: random_secret()?,
        log,
    };
    process::capture(&mut server.command(&["migrate"])?).context("migrating failed")?;
    let seed = root.join("seed").join("seed.sql");
    process::capture(cluster.psql(DATABASE).arg("-f").arg(&seed)).context("seeding failed")?;
    let token = process::capture(&mut server.command(&["token", "--role", "staff"])?)
        .context("minting a staff token failed")?
        .trim()
        .to_owned();

    let mut serve = server.command(&["serve"])?;
    // Its logs go to stdout: into the log file with the rest.
    serve.stdout(server.log_file()?);
    let mut serving = Serving(serve.spawn().context("could not start the server")?);
    say!(
        "serving on 127.0.0.1:{} (log {})",
        server.port,
        server.log.display()
    );
    let (examples, limit) = budget(args.quick);
    let mut command = Command::new(&st);
    command
        .current_dir(&out)
        .arg("run")
        .arg(format!("http://127.0.0.1:{}/openapi.json", server.port))
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
    let stopped = serving.stop();
    drop(scratch);
    let code = outcome?;
    match stopped {
        Ok(status) if status.success() => {}
        Ok(status) => say!("warning: the server ended with {status} after SIGTERM"),
        Err(error) => say!("warning: {error:#}"),
    }
    if code != ExitCode::SUCCESS {
        say!(
            "schemathesis failed; the server's log is {}",
            server.log.display()
        );
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

/// How to run the server binary against the scratch database.
struct ServerSetup {
    bin: PathBuf,
    database_url: String,
    port: u16,
    secret: String,
    log: PathBuf,
}

impl ServerSetup {
    fn log_file(&self) -> anyhow::Result<File> {
        File::options()
            .create(true)
            .append(true)
            .open(&self.log)
            .with_context(|| format!("opening {}", self.log.display()))
    }

    fn command(&self, args: &[&str]) -> anyhow::Result<Command> {
        let log = self.log_file()?;
        let mut command = Command::new(&self.bin);
        command
            .args(args)
            .env("DATABASE_URL", &self.database_url)
            .env("HOST", "127.0.0.1")
            .env("PORT", self.port.to_string())
            .env("JWT_SECRET", &self.secret)
            .env("RUST_LOG", "warn")
            .env_remove("JWT_SECRET_FILE")
            .env_remove("POSTGRES_SCHEMA")
            .stdin(Stdio::null())
            .stderr(log);
        // Its own group: xtask stops it after schemathesis, in order.
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        Ok(command)
    }
}

/// The serving server, stopped by its PID however the run ends.
struct Serving(Child);

impl Serving {
    /// SIGTERM, then SIGKILL if it is still running after [`STOP_GRACE`].
    fn stop(&mut self) -> anyhow::Result<std::process::ExitStatus> {
        if let Some(status) = self.0.try_wait()? {
            return Ok(status);
        }
        // Best effort: it may have exited meanwhile; try_wait tells.
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .stderr(Stdio::null())
            .status();
        let since = Instant::now();
        while since.elapsed() < STOP_GRACE {
            if let Some(status) = self.0.try_wait()? {
                return Ok(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        self.0.kill().context("killing the server")?;
        let status = self.0.wait().context("waiting for the killed server")?;
        bail!("the server ignored SIGTERM for {STOP_GRACE:?} and was killed ({status})")
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
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

/// A signing key for this run only: 32 random bytes, hex.
fn random_secret() -> anyhow::Result<String> {
    let mut bytes = [0_u8; 32];
    File::open("/dev/urandom")
        .and_then(|mut random| random.read_exact(&mut bytes))
        .context("reading /dev/urandom")?;
    Ok(bytes.iter().map(|byte| format!("{byte:02x}")).collect())
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
    fn secrets_are_long_and_fresh() {
        let (a, b) = (random_secret().unwrap(), random_secret().unwrap());
        assert_eq!(a.len(), 64);
        assert_ne!(a, b);
    }

    #[test]
    fn quick_is_smaller() {
        let (quick_examples, quick_limit) = budget(true);
        let (examples, limit) = budget(false);
        assert!(quick_examples < examples && quick_limit < limit);
        assert!(quick_limit <= Duration::from_secs(120));
    }
}
