//! `cargo xtask run --topology ha`: the shop past one machine's single
//! points of failure, on this machine: a pg_auto_failover formation
//! (monitor, primary, synchronous standby), three `recordshop` servers on
//! it, nginx in front on HOST:PORT (127.0.0.1:8080), and Prometheus
//! scraping every server. Everything lives in `.local/ha` (formation,
//! nginx, Prometheus, the servers' logs) and stays for the next run;
//! `--fresh` deletes it first.
//!
//! A flag of `cargo xtask run`, not a command of its own: it is the same
//! shop at the same address, with the same signing key and printed
//! tokens, the same tour, and `--fresh` and `--seed` meaning the same, so
//! a person switches between one server and this with one flag. What only
//! the single topology has (`--port`, `--broker`, `DATABASE_URL`) is
//! refused with it.
//!
//! The servers are told of both data nodes in one URL with
//! `target_session_attrs=read-write`, so each connects to whichever is the
//! primary. They read the shell's server settings as `cargo xtask run`'s
//! server does; their address, metrics address, database and key are
//! ours. They run in process groups of their own, so a Ctrl-C reaches only
//! this tool, which stops everything in order, by pid: nginx (requests in
//! flight finish), the servers, Prometheus, then the formation. What a
//! killed run (SIGKILL) left running is found by its pid files in
//! `.local/ha` and stopped by the next run before it starts anything.

use std::fs;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use nix::sys::signal::Signal;
use recordshop_harness::nginx::{Proxy, ProxySettings};
use recordshop_harness::postgres::{Account, DatabaseName, Formation, FormationSettings};
use recordshop_harness::prometheus::{Prometheus, PrometheusSettings};
use recordshop_harness::server::{Launch, Program, Server};
use recordshop_harness::signing::SigningKey;
use recordshop_harness::{blocking, interrupt, net, process, say, seed};

use crate::run::{self, Lock};

/// `.local/ha`.
const HOME: &str = "ha";
const SERVERS: usize = 3;
/// Where the servers and their metrics listen when these are free (the
/// next free ones otherwise): beside nginx's 8080 and `cargo xtask run`'s
/// 9464.
const FIRST_SERVER_PORT: u16 = 8081;
const FIRST_METRICS_PORT: u16 = run::METRICS_PORT;
/// Prometheus' own port.
const PROMETHEUS_PORT: u16 = 9090;
const NGINX_DIR: &str = "nginx";
const PROMETHEUS_DIR: &str = "prometheus";
/// The servers' pids, for stopping what a killed run left.
const SERVERS_PID_FILE: &str = "servers.pid";
/// A server's graceful shutdown takes 5 s at most.
const SERVER_GRACE: Duration = Duration::from_secs(10);

pub fn run(
    root: &Path,
    fresh: bool,
    seed_anyway: bool,
    key: SigningKey,
) -> anyhow::Result<ExitCode> {
    let account = Account::detect()?;
    let home = run::data_home(root, &account, HOME)?;
    fs::create_dir_all(&home).with_context(|| format!("creating {}", home.display()))?;
    let _lock = Lock::acquire(&home.join("xtask-run.pid"))?;
    // Holding the lock, whatever runs on these folders a killed run left.
    stop_left_servers(&home);
    Proxy::stop_left_running(&home.join(NGINX_DIR));
    Prometheus::stop_left_running(&home.join(PROMETHEUS_DIR));
    let formation_dir = home.join("formation");
    if fresh && formation_dir.exists() {
        say!(
            "--fresh: deleting the formation in {}",
            formation_dir.display()
        );
        Formation::remove(&formation_dir)?;
    } else if formation_dir.exists() && !Formation::exists(&formation_dir) {
        say!(
            "{} holds an unfinished formation; deleting it",
            formation_dir.display()
        );
        Formation::remove(&formation_dir)?;
    }
    let listen = proxy_address()?;
    if !net::port_is_free(listen.port()) {
        bail!("{listen} is taken by another program; choose another address with HOST and PORT");
    }

    let started = Instant::now();
    let formation = start_formation(&formation_dir)?;
    say!(
        "{} ready in {:.1?}",
        formation.describe(),
        started.elapsed()
    );
    if interrupt::interrupted() {
        return Ok(ExitCode::from(130));
    }
    let database = DatabaseName::parse(run::DATABASE)?;
    let url = blocking(formation.ensure_database(&database))?;

    crate::cargo::build(true, &["recordshop"])?;
    let standby = formation.read_only_url(run::DATABASE);
    let launches = launches(&home, &url, &standby, key)?;
    say!("applying migrations");
    launches[0].migrate()?;
    if seed_anyway || blocking(run::is_empty(&url))? {
        say!("loading {}", seed::file().display());
        blocking(seed::load(&url))?;
    }
    let mut servers = start_servers(&home, &launches)?;
    let upstreams = launches
        .iter()
        .map(|launch| loopback(launch.port()))
        .collect();
    let proxy = Proxy::start(&home.join(NGINX_DIR), ProxySettings::new(listen, upstreams))?;
    let targets: Vec<SocketAddr> = launches.iter().filter_map(metrics_address).collect();
    let prometheus_listen = loopback(preferred_port(PROMETHEUS_PORT)?);
    let prometheus = Prometheus::start(
        &home.join(PROMETHEUS_DIR),
        PrometheusSettings::new(prometheus_listen, targets),
    )?;

    announce(&formation, &launches, &proxy, &prometheus, &url);
    say!(
        "up in {:.1?}; Ctrl-C stops nginx, the servers, Prometheus, then the formation",
        started.elapsed()
    );
    watch(&mut servers)?;
    shut_down(proxy, servers, prometheus, formation);
    Ok(ExitCode::from(130))
}

/// The formation in `folder`, made on the first run and started on later
/// ones.
fn start_formation(folder: &Path) -> anyhow::Result<Formation> {
    if Formation::exists(folder) {
        say!("starting the formation in {}", folder.display());
        let mut formation = Formation::open(folder)?;
        formation.start()?;
        return Ok(formation);
    }
    Formation::create(folder, &FormationSettings::default())
}

/// nginx's address: HOST and PORT, as the single server's.
fn proxy_address() -> anyhow::Result<SocketAddr> {
    let setting = |name: &str, default: &str| {
        std::env::var(name)
            .ok()
            .filter(|value| !value.trim().is_empty())
            .unwrap_or_else(|| default.to_owned())
    };
    let (host, port) = (setting("HOST", "127.0.0.1"), setting("PORT", "8080"));
    let port: u16 = port
        .trim()
        .parse()
        .with_context(|| format!("PORT {port:?} is not a port number"))?;
    (host.as_str(), port)
        .to_socket_addrs()
        .with_context(|| format!("HOST {host:?} is not an address"))?
        .next()
        .with_context(|| format!("HOST {host:?} names no address"))
}

fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// `preferred` when nothing listens there, else a free port.
fn preferred_port(preferred: u16) -> anyhow::Result<u16> {
    if net::port_is_free(preferred) {
        Ok(preferred)
    } else {
        net::free_port()
    }
}

/// One launch per server: the release binary on the formation's
/// read-write URL, catalog reads from its standby (`DATABASE_READ_URL`),
/// its own address, metrics address and log file.
fn launches(
    home: &Path,
    url: &recordshop_harness::postgres::DatabaseUrl,
    standby: &recordshop_harness::postgres::DatabaseUrl,
    key: SigningKey,
) -> anyhow::Result<Vec<Launch>> {
    let binary = crate::cargo::binary(true, "recordshop");
    let logs = home.join("logs");
    fs::create_dir_all(&logs).with_context(|| format!("creating {}", logs.display()))?;
    let mut taken = Vec::new();
    let mut next_free = |from: u16| -> anyhow::Result<u16> {
        let mut port = from;
        while taken.contains(&port) || !net::port_is_free(port) {
            port = port.checked_add(1).context("no free port")?;
        }
        taken.push(port);
        Ok(port)
    };
    (0..SERVERS)
        .map(|index| {
            let port = next_free(FIRST_SERVER_PORT)?;
            let metrics = next_free(FIRST_METRICS_PORT)?;
            Launch::new(Program::Binary(binary.clone()), url.clone(), key.clone())?
                .listen("127.0.0.1", port)
                .inherit_shell_settings()
                .log_to(&logs.join(format!("recordshop-{}.log", index + 1)))
                .setting("METRICS_ADDR", &loopback(metrics).to_string())?
                .setting("DATABASE_READ_URL", &standby.to_url())
        })
        .collect()
}

fn metrics_address(launch: &Launch) -> Option<SocketAddr> {
    let url = launch.metrics_url()?;
    url.strip_prefix("http://")?
        .strip_suffix("/metrics")?
        .parse()
        .ok()
}

/// Starts every server, then waits until each is ready.
fn start_servers(home: &Path, launches: &[Launch]) -> anyhow::Result<Vec<Server>> {
    let mut servers = launches
        .iter()
        .map(Launch::start)
        .collect::<anyhow::Result<Vec<_>>>()?;
    let pids: String = servers
        .iter()
        .map(|server| format!("{}\n", server.pid()))
        .collect();
    let pid_file = home.join(SERVERS_PID_FILE);
    fs::write(&pid_file, pids).with_context(|| format!("writing {}", pid_file.display()))?;
    for server in &mut servers {
        server.wait_ready(run::READY_WITHIN)?;
    }
    Ok(servers)
}

/// The servers a killed run left running: SIGTERM, as at a normal stop.
fn stop_left_servers(home: &Path) {
    let listed = fs::read_to_string(home.join(SERVERS_PID_FILE)).unwrap_or_default();
    let pids = listed
        .lines()
        .filter_map(|line| line.trim().parse::<u32>().ok());
    for pid in pids.filter(|pid| process::runs(*pid, "recordshop")) {
        say!("stopping the server (pid {pid}) a killed run left running");
        process::stop_left_running(pid, Signal::SIGTERM, SERVER_GRACE);
    }
}

fn announce(
    formation: &Formation,
    launches: &[Launch],
    proxy: &Proxy,
    prometheus: &Prometheus,
    url: &recordshop_harness::postgres::DatabaseUrl,
) {
    say!(
        "the shop: {} (nginx, logs in {})",
        proxy.base_url(),
        proxy.folder().join("logs").display()
    );
    for (index, launch) in launches.iter().enumerate() {
        say!(
            "server {}: {}, metrics {}, log {}",
            index + 1,
            launch.base_url(),
            launch.metrics_url().unwrap_or_default(),
            launch
                .log_file()
                .map(Path::display)
                .map(|path| path.to_string())
                .unwrap_or_default()
        );
    }
    say!("Prometheus: {}", prometheus.url());
    say!("the servers' DATABASE_URL: {url}");
    say!(
        "the standby, read-only: {}",
        formation.read_only_url(run::DATABASE)
    );
    run::announce(&launches[0], &proxy.base_url());
}

/// Until Ctrl-C; says so when a server exits meanwhile (nginx routes
/// around it).
fn watch(servers: &mut [Server]) -> anyhow::Result<()> {
    let mut exited = vec![false; servers.len()];
    while !interrupt::interrupted() {
        for (index, server) in servers.iter_mut().enumerate() {
            if !exited[index]
                && let Some(status) = server.exit_status()?
            {
                exited[index] = true;
                say!(
                    "server {} exited ({status}); nginx sends its requests to the others. The end of its log:\n{}",
                    index + 1,
                    server.log_tail(10)
                );
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    Ok(())
}

/// In order, each step whatever the one before did.
fn shut_down(
    mut proxy: Proxy,
    servers: Vec<Server>,
    mut prometheus: Prometheus,
    mut formation: Formation,
) {
    say!("stopping nginx");
    if let Err(error) = proxy.stop() {
        say!("warning: {error:#}");
    }
    say!("stopping the servers");
    for mut server in servers {
        if matches!(server.exit_status(), Ok(Some(_))) {
            continue;
        }
        match server.terminate(SERVER_GRACE) {
            Ok(exit) if !exit.is_clean() => say!("a server ended {}", exit.status),
            Ok(_) => {}
            Err(error) => say!("warning: {error:#}"),
        }
    }
    say!("stopping Prometheus");
    if let Err(error) = prometheus.stop() {
        say!("warning: {error:#}");
    }
    say!("stopping the formation ({})", formation.folder().display());
    if let Err(error) = formation.stop() {
        say!("warning: {error:#}");
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    #[test]
    fn nginx_listens_where_the_single_server_would() {
        // HOST and PORT unset in the test environment.
        if std::env::var_os("HOST").is_none() && std::env::var_os("PORT").is_none() {
            assert_eq!(proxy_address().unwrap(), loopback(8080));
        }
    }

    #[test]
    fn metrics_addresses_come_from_the_launch() {
        let launch = Launch::new(
            Program::Binary(PathBuf::from("/bin/true")),
            "postgres://u@127.0.0.1:1,127.0.0.1:2/db".parse().unwrap(),
            SigningKey::random(),
        )
        .unwrap()
        .setting("METRICS_ADDR", "127.0.0.1:9465")
        .unwrap();
        assert_eq!(metrics_address(&launch), Some(loopback(9465)));
    }
}
