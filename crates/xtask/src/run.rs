//! `cargo xtask run`: the server on a local cluster, migrated and seeded,
//! with authentication on: a signing secret made once for this checkout
//! (`.local/jwt-secret`, git-ignored, mode 0600) reaches the server as
//! `JWT_SECRET_FILE`, and once the server answers, a staff token and the
//! seed customer's token are printed, ready to paste.

use std::env;
use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::{Context, bail};

use crate::account::Account;
use crate::cluster::{Cluster, Durability, Status, StopOnDrop, port_is_free};
use crate::pgbin::{self, PgBin};
use crate::server::{Server, redact};
use crate::{interrupt, process, say};

/// Fixed, so the local DATABASE_URL stays the same from run to run.
const DEFAULT_PORT: u16 = 54329;
const DATABASE: &str = "recordshop";
/// Where the local signing secret lives, under the project.
const SECRET_FILE: &str = ".local/jwt-secret";
/// Random bytes in the secret; written as hex, so the file holds twice as
/// many characters, all of them key material.
const SECRET_BYTES: usize = 48;

#[derive(clap::Args)]
pub struct Args {
    /// Delete the local cluster first and start from an empty, seeded database.
    #[arg(long)]
    fresh: bool,
    /// Port of the local PostgreSQL cluster [default: 54329]. The HTTP
    /// address comes from HOST and PORT (default 127.0.0.1:8080).
    #[arg(long, value_name = "N")]
    port: Option<u16>,
    /// Load seed/seed.sql even when the database already holds data (it is
    /// idempotent). Needed to seed a database given by DATABASE_URL.
    #[arg(long)]
    seed: bool,
}

pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let root = crate::project_root()?;
    let secret = local_secret(&root)?;
    match env::var("DATABASE_URL") {
        Ok(url) if !url.trim().is_empty() => external(args, &root, &url, &secret),
        _ => local(args, &root, &secret),
    }
}

/// The local signing secret, made on the first run and kept, so tokens
/// printed by one run still work after a restart.
fn local_secret(root: &Path) -> anyhow::Result<PathBuf> {
    let path = root.join(SECRET_FILE);
    if path.exists() {
        return Ok(path);
    }
    let local = root.join(".local");
    if !local.exists() {
        fs::create_dir(&local).with_context(|| format!("creating {}", local.display()))?;
        // The postgres user may need to pass through (see `data_home`);
        // the secret itself is 0600.
        fs::set_permissions(&local, fs::Permissions::from_mode(0o755))?;
    }
    write_secret(&path, &random_hex(SECRET_BYTES)?)?;
    say!(
        "made a signing secret for this checkout in {}",
        path.display()
    );
    Ok(path)
}

/// `bytes` bytes from the kernel's generator, as lowercase hex.
fn random_hex(bytes: usize) -> anyhow::Result<String> {
    let mut random = vec![0_u8; bytes];
    fs::File::open("/dev/urandom")
        .and_then(|mut urandom| urandom.read_exact(&mut random))
        .context("reading /dev/urandom")?;
    Ok(random.iter().map(|byte| format!("{byte:02x}")).collect())
}

/// Creates `path` readable by its owner only, never over an existing file.
fn write_secret(path: &Path, secret: &str) -> anyhow::Result<()> {
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    writeln!(file, "{secret}").with_context(|| format!("writing {}", path.display()))
}

/// Against the database DATABASE_URL names: no cluster of ours.
fn external(args: &Args, root: &Path, url: &str, secret: &Path) -> anyhow::Result<ExitCode> {
    if args.fresh || args.port.is_some() {
        bail!("--fresh and --port concern the local cluster; unset DATABASE_URL to use it");
    }
    say!(
        "DATABASE_URL is set: using {} (no local cluster)",
        redact(url)
    );
    let server = Server::new(root, url, false, secret);
    if let Some(code) = server.migrate()? {
        return Ok(code);
    }
    if args.seed {
        seed(root, pgbin::psql_command(&pgbin::psql()?, url))?;
    }
    server.serve()
}

fn local(args: &Args, root: &Path, secret: &Path) -> anyhow::Result<ExitCode> {
    let port = args.port.unwrap_or(DEFAULT_PORT);
    let bin = PgBin::find_or_install()?;
    let account = Account::detect()?;
    let base = data_home(root, &account)?;
    let cluster = Cluster::new(bin, account, base, port);
    cluster.prepare_base()?;
    // Declared before the stop guard, so it is released after the stop.
    let _lock = Lock::acquire(&cluster.base().join("xtask-run.pid"))?;

    if args.fresh {
        say!(
            "--fresh: deleting the local cluster in {}",
            cluster.base().display()
        );
        cluster.stop()?;
        for path in [cluster.data_dir(), cluster.log_file()] {
            if path.exists() {
                remove(&path)?;
            }
        }
    }
    if !cluster.is_initialized() {
        say!(
            "creating a PostgreSQL cluster in {}",
            cluster.data_dir().display()
        );
        cluster.init(Durability::Durable)?;
    }
    match cluster.status()? {
        Status::Running {
            port: Some(running),
        } if running == port => {
            say!("reusing the cluster an earlier run left running on port {port}");
        }
        Status::Running { port: running } => {
            // We hold the lock, so no other run uses it: a crash left it.
            let running = running.map_or_else(|| "unknown".to_owned(), |port| port.to_string());
            say!("restarting the cluster an earlier run left running (port {running})");
            cluster.stop()?;
            start(&cluster)?;
        }
        Status::Stopped => start(&cluster)?,
    }
    let _stop = StopOnDrop(&cluster);
    if interrupt::interrupted() {
        return Ok(ExitCode::from(130));
    }

    ensure_database(&cluster)?;
    let url = cluster.url(DATABASE);
    let server = Server::new(root, &url, true, secret);
    if let Some(code) = server.migrate()? {
        return Ok(code);
    }
    // The first run's database is empty: customers are never deleted and
    // discs only soft-deleted. Asking, rather than remembering that the
    // database was just created, still seeds after a first run that failed
    // to migrate.
    if args.seed || is_empty(&cluster)? {
        seed(root, cluster.psql(DATABASE))?;
    }
    server.serve()
}

fn start(cluster: &Cluster) -> anyhow::Result<()> {
    if !port_is_free(cluster.port) {
        bail!(
            "port {} on 127.0.0.1 is taken by another program; choose another with `cargo xtask run --port N`",
            cluster.port
        );
    }
    say!("starting {}", cluster.describe());
    cluster.start(&[])
}

/// `<project>/.local/pg`, unless the postgres user cannot reach the project
/// (a clone under /root, mode 700): then a folder under /var/tmp named after
/// the project's path.
fn data_home(root: &Path, account: &Account) -> anyhow::Result<PathBuf> {
    if account.can_enter(root) {
        let local = root.join(".local");
        if !local.exists() {
            fs::create_dir(&local).with_context(|| format!("creating {}", local.display()))?;
            // Only a path for the postgres user; the data dir below is 0700.
            fs::set_permissions(&local, fs::Permissions::from_mode(0o755))?;
        }
        return Ok(local.join("pg"));
    }
    let home = PathBuf::from(format!("/var/tmp/recordshop-{:08x}", short_hash(root)));
    say!(
        "the postgres user cannot enter {}; the local cluster lives in {}",
        root.display(),
        home.display()
    );
    Ok(home)
}

/// FNV-1a, folded to 32 bits: stable across Rust versions, unlike std's
/// hasher, so a project keeps its folder.
fn short_hash(path: &Path) -> u32 {
    let hash = path
        .as_os_str()
        .as_encoded_bytes()
        .iter()
        .fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
            (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3)
        });
    // Truncation is the point: the high half folded into the low.
    #[allow(clippy::cast_possible_truncation)]
    let folded = (hash ^ (hash >> 32)) as u32;
    folded
}

/// Creates the application database if missing.
fn ensure_database(cluster: &Cluster) -> anyhow::Result<()> {
    let exists = cluster.query(
        "postgres",
        &format!("SELECT 1 FROM pg_database WHERE datname = '{DATABASE}'"),
    )?;
    if exists != "1" {
        say!("creating database {DATABASE}");
        process::capture(
            cluster
                .psql("postgres")
                .args(["-c", &format!("CREATE DATABASE {DATABASE}")]),
        )?;
    }
    Ok(())
}

/// Whether the migrated database holds no data yet.
fn is_empty(cluster: &Cluster) -> anyhow::Result<bool> {
    let any = cluster.query(
        DATABASE,
        "SELECT EXISTS (SELECT FROM discs) OR EXISTS (SELECT FROM customers)",
    )?;
    Ok(any == "f")
}

fn seed(root: &Path, mut psql: Command) -> anyhow::Result<()> {
    let file = root.join("seed").join("seed.sql");
    say!("loading {}", file.display());
    process::run(psql.arg("-f").arg(&file)).context("loading the seed failed")
}

fn remove(path: &Path) -> anyhow::Result<()> {
    let removed = if path.is_dir() {
        fs::remove_dir_all(path)
    } else {
        fs::remove_file(path)
    };
    removed.with_context(|| format!("removing {}", path.display()))
}

/// One `cargo xtask run` per cluster: a second one would stop the
/// database under the first when it ends.
struct Lock(PathBuf);

impl Lock {
    fn acquire(path: &Path) -> anyhow::Result<Self> {
        let holder = fs::read_to_string(path)
            .ok()
            .and_then(|text| text.trim().parse::<u32>().ok());
        if let Some(pid) = holder
            && pid != std::process::id()
            && process::is_alive(pid)
        {
            bail!(
                "another `cargo xtask run` (pid {pid}) is using the cluster in {}; stop it first",
                path.parent().unwrap_or(path).display()
            );
        }
        fs::write(path, format!("{}\n", std::process::id()))
            .with_context(|| format!("writing {}", path.display()))?;
        Ok(Self(path.to_path_buf()))
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_short_hash_is_stable() {
        // FNV-1a of the empty input is its offset basis, folded.
        assert_eq!(short_hash(Path::new("")), 0xcbf2_9ce4 ^ 0x8422_2325);
        assert_eq!(
            short_hash(Path::new("/root/recordshop")),
            short_hash(Path::new("/root/recordshop"))
        );
        assert_ne!(
            short_hash(Path::new("/root/a")),
            short_hash(Path::new("/root/b"))
        );
    }

    #[test]
    fn the_local_secret_is_made_once_random_and_private() {
        let root = std::env::temp_dir().join(format!("xtask-secret-{}", std::process::id()));
        fs::create_dir_all(&root).unwrap();
        let path = local_secret(&root).unwrap();
        assert_eq!(path, root.join(SECRET_FILE));
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let secret = fs::read_to_string(&path).unwrap();
        let secret = secret.trim_end();
        assert_eq!(secret.len(), 2 * SECRET_BYTES);
        assert!(secret.bytes().all(|byte| byte.is_ascii_hexdigit()));

        // A second run keeps it; another checkout gets another one.
        assert_eq!(local_secret(&root).unwrap(), path);
        assert_eq!(fs::read_to_string(&path).unwrap().trim_end(), secret);
        assert_ne!(random_hex(SECRET_BYTES).unwrap(), secret);
        assert!(write_secret(&path, "x").is_err(), "never overwritten");
        fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn a_live_holder_keeps_the_lock() {
        let dir = std::env::temp_dir().join(format!("xtask-lock-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("xtask-run.pid");
        // pid 1 is always alive.
        fs::write(&path, "1\n").unwrap();
        assert!(Lock::acquire(&path).is_err());
        // A dead holder (pid beyond pid_max) is taken over.
        fs::write(&path, "4294967\n").unwrap();
        let lock = Lock::acquire(&path).unwrap();
        drop(lock);
        assert!(!path.exists());
        fs::remove_dir_all(&dir).unwrap();
    }
}
