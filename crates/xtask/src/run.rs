//! `cargo xtask run`: the server on a local cluster, migrated and seeded,
//! with authentication on: a signing secret made once for this checkout
//! (`.local/jwt-secret`, git-ignored, mode 0600) reaches the server as
//! `JWT_SECRET_FILE`, and once the server answers, a staff token and the
//! seed customer's token are printed, ready to paste.
//!
//! The server is built and started with `cargo run --release` in the
//! terminal's process group, so the person's Ctrl-C reaches it directly,
//! and it reads the shell's server settings (`CONCURRENCY_STRATEGY=batched
//! cargo xtask run`); only its database, address and key are xtask's.
//!
//! `--broker` starts a RabbitMQ broker too, with its data in
//! `.local/rabbitmq` (kept, like the cluster's), on 127.0.0.1:56720 (not
//! RabbitMQ's 5672, which a system broker may hold), and gives the server
//! its URL as `EVENTS_AMQP_URL`. It runs in a process group of its own and
//! is stopped when the server has exited, before the cluster.

use std::env;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use recordshop_harness::postgres::{
    Account, Admin, Cluster, DatabaseName, DatabaseUrl, PgBin, Status, connect,
};
use recordshop_harness::rabbitmq::Broker;
use recordshop_harness::server::{Launch, Program};
use recordshop_harness::signing::SigningKey;
use recordshop_harness::{blocking, interrupt, net, process, say, seed};

/// Fixed, so the local DATABASE_URL stays the same from run to run.
const DEFAULT_PORT: u16 = 54329;
pub(crate) const DATABASE: &str = "recordshop";
/// The local signing secret's file, in `.local/`.
pub(crate) const SECRET_FILE: &str = "jwt-secret";
/// How long the server may take to answer once started; the build is done
/// by then (`migrate` ran the same binary).
pub(crate) const READY_WITHIN: Duration = Duration::from_secs(60);
/// Where `cargo xtask run` serves metrics unless told otherwise.
pub(crate) const METRICS_PORT: u16 = 9464;
/// The lifetime of the printed tokens: a working day.
const TOKEN_TTL: Duration = Duration::from_secs(12 * 3600);
/// Fixed, like the cluster's, and away from RabbitMQ's own 5672.
const DEFAULT_BROKER_PORT: u16 = 56720;
/// The local cluster's folder, in `.local/`.
const CLUSTER_DIR: &str = "pg";
/// The local broker's folder, in `.local/`.
const BROKER_DIR: &str = "rabbitmq";
/// What the server's event relay reads.
const EVENTS_AMQP_URL: &str = "EVENTS_AMQP_URL";

#[derive(clap::Args)]
pub struct Args {
    /// Delete the local cluster (with `--topology ha`: .local/ha's
    /// formation) first and start from an empty, seeded database.
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
    /// Start a local RabbitMQ broker too (data in .local/rabbitmq) and pass
    /// its URL to the server as EVENTS_AMQP_URL.
    #[arg(long)]
    broker: bool,
    /// Port of the local broker [default: 56720].
    #[arg(long, value_name = "N", requires = "broker")]
    broker_port: Option<u16>,
    /// `ha`: nginx on HOST:PORT in front of three servers on a
    /// pg_auto_failover formation (monitor, primary, synchronous standby;
    /// data in .local/ha), and Prometheus scraping the servers. `single`:
    /// one server on one cluster.
    #[arg(long, value_enum, default_value_t = Topology::Single)]
    topology: Topology,
}

/// What `cargo xtask run` brings up.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum Topology {
    Single,
    Ha,
}

pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let root = recordshop_harness::workspace_root();
    let key = SigningKey::load_or_create(&local_dir(&root)?.join(SECRET_FILE))?;
    if args.topology == Topology::Ha {
        if args.port.is_some() || args.broker {
            bail!("--port and --broker concern the single topology's cluster and broker");
        }
        if env::var("DATABASE_URL").is_ok_and(|url| !url.trim().is_empty()) {
            bail!("DATABASE_URL is set; --topology ha makes a formation of its own: unset it");
        }
        return crate::topology::run(&root, args.fresh, args.seed, key);
    }
    match env::var("DATABASE_URL") {
        Ok(url) if !url.trim().is_empty() => {
            let url: DatabaseUrl = url.parse().context("DATABASE_URL")?;
            external(args, &root, &url, key)
        }
        _ => local(args, &root, key),
    }
}

/// `<project>/.local`, made readable for the postgres user to pass through
/// (see [`data_home`]); what lies in it is private.
pub(crate) fn local_dir(root: &Path) -> anyhow::Result<PathBuf> {
    let local = root.join(".local");
    if !local.exists() {
        fs::create_dir(&local).with_context(|| format!("creating {}", local.display()))?;
        fs::set_permissions(&local, fs::Permissions::from_mode(0o755))?;
    }
    Ok(local)
}

/// Against the database DATABASE_URL names: no cluster of ours.
fn external(
    args: &Args,
    root: &Path,
    url: &DatabaseUrl,
    key: SigningKey,
) -> anyhow::Result<ExitCode> {
    if args.fresh || args.port.is_some() {
        bail!("--fresh and --port concern the local cluster; unset DATABASE_URL to use it");
    }
    say!("DATABASE_URL is set: using {url} (no local cluster)");
    let broker = start_broker(args, root)?;
    let launch = with_broker(launch(root, url, key)?, broker.as_ref())?;
    say!("building the server and applying migrations");
    launch.migrate()?;
    if args.seed {
        say!("loading {}", seed::file().display());
        blocking(seed::load(url))?;
    }
    serve(&launch, false, broker.is_some())
}

fn local(args: &Args, root: &Path, key: SigningKey) -> anyhow::Result<ExitCode> {
    let port = args.port.unwrap_or(DEFAULT_PORT);
    let bin = PgBin::find_or_install()?;
    let account = Account::detect()?;
    let base = data_home(root, &account, CLUSTER_DIR)?;
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
        cluster.init()?;
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

    // Declared after the cluster's guard, so it stops first.
    let broker = start_broker(args, root)?;
    if interrupt::interrupted() {
        return Ok(ExitCode::from(130));
    }
    let database = DatabaseName::parse(DATABASE)?;
    let url = blocking(ensure_database(&cluster, &database))?;
    let launch = with_broker(launch(root, &url, key)?, broker.as_ref())?;
    say!("building the server and applying migrations");
    launch.migrate()?;
    // The first run's database is empty: customers are never deleted and
    // discs only soft-deleted. Asking, rather than remembering that the
    // database was just created, still seeds after a first run that failed
    // to migrate.
    if args.seed || blocking(is_empty(&url))? {
        say!("loading {}", seed::file().display());
        blocking(seed::load(&url))?;
    }
    serve(&launch, true, broker.is_some())
}

/// The server of this checkout, in the terminal's group, on HOST:PORT.
fn launch(root: &Path, url: &DatabaseUrl, key: SigningKey) -> anyhow::Result<Launch> {
    let setting = |name: &str, default: &str| {
        env::var(name)
            .ok()
            .filter(|value| !value.trim().is_empty())
            .unwrap_or_else(|| default.to_owned())
    };
    let host = setting("HOST", "127.0.0.1");
    let port = setting("PORT", "8080");
    let port = port
        .trim()
        .parse()
        .with_context(|| format!("PORT {port:?} is not a port number"))?;
    let program = Program::CargoRelease {
        root: root.to_path_buf(),
    };
    Launch::new(program, url.clone(), key)?
        .listen(&host, port)
        .inherit_shell_settings()
        .in_terminal_group()
        .setting("METRICS_ADDR", &metrics_address()?)
}

/// The local broker, when `--broker` asks for one (`--fresh` empties it
/// first); stopped when the returned value drops.
fn start_broker(args: &Args, root: &Path) -> anyhow::Result<Option<Broker>> {
    if !args.broker {
        return Ok(None);
    }
    let folder = local_dir(root)?.join(BROKER_DIR);
    if args.fresh && folder.exists() {
        say!(
            "--fresh: deleting the local broker's data in {}",
            folder.display()
        );
        remove(&folder)?;
    }
    let port = args.broker_port.unwrap_or(DEFAULT_BROKER_PORT);
    if !net::port_is_free(port) {
        bail!(
            "port {port} on 127.0.0.1 is taken by another program; choose another with `cargo xtask run --broker --broker-port N`"
        );
    }
    say!("starting RabbitMQ in {} on port {port}", folder.display());
    let broker = Broker::start(&folder, port)?;
    say!(
        "broker at {} (the server gets it as {EVENTS_AMQP_URL})",
        broker.amqp_url()
    );
    Ok(Some(broker))
}

fn with_broker(launch: Launch, broker: Option<&Broker>) -> anyhow::Result<Launch> {
    match broker {
        Some(broker) => launch.setting(EVENTS_AMQP_URL, &broker.amqp_url()),
        None => Ok(launch),
    }
}

/// Metrics are on for a person trying the service: on 9464, the port
/// Prometheus exporters of OpenTelemetry use, or another free one when an
/// earlier run holds it. The shell's `METRICS_ADDR` wins, and an empty one
/// turns them off.
fn metrics_address() -> anyhow::Result<String> {
    if let Ok(address) = env::var("METRICS_ADDR") {
        return Ok(address);
    }
    let port = if net::port_is_free(METRICS_PORT) {
        METRICS_PORT
    } else {
        net::free_port()?
    };
    Ok(format!("127.0.0.1:{port}"))
}

fn serve(launch: &Launch, local_cluster: bool, with_broker: bool) -> anyhow::Result<ExitCode> {
    let base = launch.base_url();
    say!("serving on {base} (database {})", launch.database());
    match launch.metrics_url() {
        Some(metrics) => say!("metrics on {metrics} (README, \"Watching it\")"),
        None => say!("metrics are off (METRICS_ADDR is empty)"),
    }
    let mut server = launch.start()?;
    match server.wait_ready(READY_WITHIN) {
        Ok(_) => announce(launch, &base),
        Err(error) if !interrupt::interrupted() => {
            say!("{error:#}; no tokens printed");
        }
        Err(_) => {}
    }
    let and_broker = if with_broker { " and the broker" } else { "" };
    if local_cluster {
        say!("Ctrl-C stops the server{and_broker}, then the local cluster");
    } else {
        say!("Ctrl-C stops the server{and_broker}");
    }
    let status = server.wait_for_exit()?;
    if !status.success() && !interrupt::interrupted() {
        say!("the server exited: {status}");
    }
    Ok(process::exit_code(status))
}

/// Prints the tokens and the examples that use them.
pub(crate) fn announce(launch: &Launch, base: &str) {
    let Some(key) = launch.signing_key() else {
        return;
    };
    let customer = uuid::Uuid::parse_str(seed::CUSTOMER).unwrap_or_default();
    match (
        key.staff_token("staff", TOKEN_TTL),
        key.customer_token(customer, TOKEN_TTL),
    ) {
        (Ok(staff), Ok(customer)) => {
            say!(
                "tokens for {} h (`recordshop token --help` mints more):",
                TOKEN_TTL.as_secs() / 3600
            );
            eprintln!("    export STAFF_TOKEN={staff}");
            eprintln!("    export CUSTOMER_TOKEN={customer}   # John Doe, the seed's customer");
        }
        (Err(error), _) | (_, Err(error)) => say!("could not mint tokens: {error:#}"),
    }
    say!("try:");
    for line in curl_examples(base) {
        eprintln!("    {line}");
    }
}

fn curl_examples(base: &str) -> Vec<String> {
    let (customer, disc) = (seed::CUSTOMER, seed::DISC);
    vec![
        format!("curl {base}/health"),
        format!("curl '{base}/discs?genre=rock'"),
        format!("curl -H \"Authorization: Bearer $STAFF_TOKEN\" {base}/customers"),
        format!(
            "curl -X POST {base}/purchase-orders -H \"Authorization: Bearer $CUSTOMER_TOKEN\" \
             -H 'content-type: application/json' \
             -d '{{\"customer_id\": \"{customer}\", \"disc_id\": \"{disc}\", \"quantity\": 1}}'"
        ),
    ]
}

fn start(cluster: &Cluster) -> anyhow::Result<()> {
    if !net::port_is_free(cluster.port()) {
        bail!(
            "port {} on 127.0.0.1 is taken by another program; choose another with `cargo xtask run --port N`",
            cluster.port()
        );
    }
    say!("starting {}", cluster.describe());
    cluster.start()
}

/// `<project>/.local/<name>`, unless the postgres user cannot reach the
/// project (a clone under /root, mode 700): then a folder under /var/tmp
/// named after the project's path, and after `name` but for the local
/// cluster's, which was there first.
pub(crate) fn data_home(root: &Path, account: &Account, name: &str) -> anyhow::Result<PathBuf> {
    if account.can_enter(root) {
        return Ok(local_dir(root)?.join(name));
    }
    let mut home = format!("/var/tmp/recordshop-{:08x}", short_hash(root));
    if name != CLUSTER_DIR {
        home.push('-');
        home.push_str(name);
    }
    let home = PathBuf::from(home);
    say!(
        "the postgres user cannot enter {}; .local/{name} lives in {}",
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

/// Creates the application database if missing; returns its URL.
async fn ensure_database(
    cluster: &Cluster,
    database: &DatabaseName,
) -> anyhow::Result<DatabaseUrl> {
    let admin = Admin::connect(&cluster.admin_url()).await?;
    if admin.exists(database).await? {
        return Ok(admin.url_of(database));
    }
    say!("creating database {database}");
    admin.create(database).await
}

/// Whether the migrated database holds no data yet.
pub(crate) async fn is_empty(url: &DatabaseUrl) -> anyhow::Result<bool> {
    let row = connect(url)
        .await?
        .query_one(
            "SELECT EXISTS (SELECT FROM discs) OR EXISTS (SELECT FROM customers)",
            &[],
        )
        .await
        .context("looking for data")?;
    let any: bool = row.try_get(0)?;
    Ok(!any)
}

pub(crate) fn remove(path: &Path) -> anyhow::Result<()> {
    let removed = if path.is_dir() {
        fs::remove_dir_all(path)
    } else {
        fs::remove_file(path)
    };
    removed.with_context(|| format!("removing {}", path.display()))
}

/// The local cluster, stopped when this value drops: on success, on error
/// and after Ctrl-C alike. Its data stays for the next run.
struct StopOnDrop<'a>(&'a Cluster);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        say!("stopping PostgreSQL ({})", self.0.data_dir().display());
        if let Err(error) = self.0.stop() {
            say!("warning: {error:#}");
        }
    }
}

/// One `cargo xtask run` per cluster: a second one would stop the
/// database under the first when it ends.
pub(crate) struct Lock(PathBuf);

impl Lock {
    pub(crate) fn acquire(path: &Path) -> anyhow::Result<Self> {
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
    fn the_example_order_names_the_seed() {
        let post = &curl_examples("http://127.0.0.1:8080")[3];
        assert!(post.contains("/purchase-orders"));
        assert!(post.contains(seed::CUSTOMER));
        assert!(post.contains("Bearer $CUSTOMER_TOKEN"));
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
