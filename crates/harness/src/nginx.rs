//! nginx in front of several `recordshop` instances: Debian's nginx (1.22)
//! run from a folder of ours (`nginx -p <folder>`: its configuration, pid
//! file, logs and temporary files all there) on an address of ours, as a
//! child of the tool, never the system's service.
//!
//! The configuration carries the proxy's guarantees (see [`configuration`]
//! and its tests):
//! - **A POST is never executed twice.** `proxy_next_upstream error timeout
//!   http_502 http_503` passes a request to the next instance when one
//!   cannot be reached, times out or answers 502/503, but nginx does not do
//!   so for POST, PATCH and LOCK once it has sent the request to an
//!   instance, unless `non_idempotent` is listed, which it is not. A POST is
//!   retried only when the connection to its first instance failed before
//!   anything was sent (a killed instance refusing connections), so it is
//!   executed once at most; when an instance dies holding one, the client
//!   gets 502 and retries with its `Idempotency-Key`.
//! - **A dead instance is routed around** (passive health checks): after
//!   `max_fails` failures within `fail_timeout` (counted by all workers
//!   together, in a shared `zone`) nginx stops sending it
//!   requests for `fail_timeout`, then tries it again. An answer of 502 or
//!   503 counts as a failure too (nginx counts what `proxy_next_upstream`
//!   lists), so an instance shedding load with 503 `overloaded` is rested
//!   like a dead one; with every instance marked down nginx answers 502
//!   until the first comes back. The defaults (3 failures in 5 s) keep one
//!   shed purchase from resting an instance.
//! - **Connections to the instances are kept alive** (`keepalive`, which
//!   needs HTTP/1.1 and an empty `Connection` header towards them), and
//!   closed by nginx after 4 s idle, before the server's own 5 s keep-alive
//!   closes them: nginx never reuses a connection the server closes when
//!   idle. A server that crashes is another matter: nginx may write the
//!   next request on a kept connection before it sees it closed, and
//!   answers 502 (measured by the HA fault suite: 1 retry in 5 sent at once
//!   after a 502 got 502 again; 100 ms later, none).
//! - The instances see the client's `Host` and `X-Forwarded-For`.
//!
//! Run as root, the workers run as root too (`user root root`), so they
//! may use the folder whatever its mode. The master runs in a process group
//! of its own with its workers, so a Ctrl-C at the terminal reaches only
//! the tool, which stops it: SIGQUIT (finish what is in flight, at most
//! 5 s), then SIGKILL to the group.

use std::fs;
use std::net::{SocketAddr, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context, bail};
use nix::sys::signal::Signal;

use crate::process::NotReady;
use crate::scratch::ScratchFolders;
use crate::{net, packages, process, say};

/// Debian's binary.
const NGINX: &str = "/usr/sbin/nginx";
/// Its configuration, in the folder.
const CONFIG_FILE: &str = "nginx.conf";
/// Relative to the folder (nginx's prefix), as every path in the
/// configuration is.
const PID_FILE: &str = "logs/nginx.pid";
const ERROR_LOG: &str = "logs/error.log";
const ACCESS_LOG: &str = "logs/access.log";
/// Measured: listening within 50 ms; generous for a loaded host.
const READY_WITHIN: Duration = Duration::from_secs(20);
/// A SIGQUIT lets requests in flight finish; `worker_shutdown_timeout`
/// bounds that at 5 s.
const STOP_GRACE: Duration = Duration::from_secs(10);
/// Scratch proxies are named `<prefix><owner pid>-<nonce>`.
const FOLDERS: ScratchFolders = ScratchFolders {
    prefix: "recordshop-proxy-",
};
/// The upstream group's name, in the configuration and the logs.
const UPSTREAM: &str = "recordshop";

/// What the proxy listens on, what it proxies to, and how it treats them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProxySettings {
    /// Where clients connect: 127.0.0.1:8080 by default.
    pub listen: SocketAddr,
    /// The instances, in order; requests go round-robin.
    pub upstreams: Vec<SocketAddr>,
    /// Failures within `fail_timeout` that rest an instance.
    pub max_fails: u32,
    /// The window those failures are counted in, and how long the instance
    /// then rests.
    pub fail_timeout: Duration,
    /// Idle connections to the instances each worker keeps.
    pub keepalive: u32,
    /// Connecting to an instance: on loopback a refusal is immediate, so
    /// this only bounds a host that does not answer.
    pub connect_timeout: Duration,
    /// Between two reads of an instance's answer: above the server's own
    /// bounds (a statement 5 s, a pool wait 2 s), so the server, not the
    /// proxy, decides when a request has waited too long.
    pub read_timeout: Duration,
    /// Between two writes of a request to an instance.
    pub send_timeout: Duration,
}

impl ProxySettings {
    /// `upstreams` behind `listen`, with the defaults the module's
    /// documentation explains.
    #[must_use]
    pub fn new(listen: SocketAddr, upstreams: Vec<SocketAddr>) -> Self {
        Self {
            listen,
            upstreams,
            max_fails: 3,
            fail_timeout: Duration::from_secs(5),
            keepalive: 32,
            connect_timeout: Duration::from_secs(1),
            read_timeout: Duration::from_secs(15),
            send_timeout: Duration::from_secs(10),
        }
    }
}

/// A running nginx, stopped when this value drops (on success, on error
/// and after Ctrl-C alike); a scratch proxy's folder is removed too.
pub struct Proxy {
    folder: PathBuf,
    settings: ProxySettings,
    child: Option<Child>,
    scratch: bool,
}

impl Proxy {
    /// Writes the configuration into `folder` (created when missing; the
    /// logs are kept), starts nginx and waits until it accepts
    /// connections. Installs nginx first where that is allowed
    /// ([`packages::can_install`]). Stops an nginx a killed run left on
    /// this folder.
    ///
    /// # Errors
    /// When nginx is missing, the address is taken, or it does not start
    /// (the message ends with its error log).
    pub fn start(folder: &Path, settings: ProxySettings) -> anyhow::Result<Self> {
        Self::start_in(folder.to_path_buf(), settings, false)
    }

    /// A proxy in a fresh folder, removed when it drops: for tests. Sweeps
    /// up what killed runs left first.
    ///
    /// # Errors
    /// As [`Proxy::start`].
    pub fn scratch(settings: ProxySettings) -> anyhow::Result<Self> {
        let root = std::env::temp_dir();
        remove_leftovers(&root);
        let folder = FOLDERS.create(&root)?;
        let started = Self::start_in(folder.clone(), settings, true);
        if started.is_err() {
            let _ = fs::remove_dir_all(&folder);
        }
        started
    }

    fn start_in(folder: PathBuf, settings: ProxySettings, scratch: bool) -> anyhow::Result<Self> {
        if settings.upstreams.is_empty() {
            bail!("a proxy needs at least one upstream");
        }
        let nginx = find_or_install()?;
        Self::stop_left_running(&folder);
        if !listen_is_free(settings.listen) {
            bail!(
                "{} is taken by another program; nginx cannot listen there",
                settings.listen
            );
        }
        for dir in ["logs", "temp"] {
            let path = folder.join(dir);
            fs::create_dir_all(&path).with_context(|| format!("creating {}", path.display()))?;
        }
        let config = configuration(&settings, packages::is_root()?);
        let config_file = folder.join(CONFIG_FILE);
        fs::write(&config_file, config)
            .with_context(|| format!("writing {}", config_file.display()))?;
        let mut proxy = Self {
            folder,
            settings,
            child: None,
            scratch,
        };
        proxy.spawn(&nginx)?;
        proxy.wait_ready()?;
        Ok(proxy)
    }

    /// Stops the nginx a killed run left on `folder`, with its workers, if
    /// any.
    pub fn stop_left_running(folder: &Path) {
        if let Some(pid) = process::left_running(&folder.join(PID_FILE), "nginx") {
            say!(
                "stopping the nginx (pid {pid}) a killed run left in {}",
                folder.display()
            );
            process::stop_left_running(pid, Signal::SIGQUIT, STOP_GRACE);
        }
    }

    fn spawn(&mut self, nginx: &Path) -> anyhow::Result<()> {
        let folder = &self.folder;
        // What nginx prints before its error log is open (a configuration
        // error) goes to a file of its own.
        let startup = folder.join("logs").join("startup.log");
        let out = fs::File::create(&startup)
            .with_context(|| format!("creating {}", startup.display()))?;
        let err = out.try_clone().context("sharing the start-up log")?;
        let mut command = Command::new(nginx);
        command
            .arg("-p")
            .arg(folder)
            .arg("-c")
            .arg(folder.join(CONFIG_FILE))
            // Before the configuration is read, nginx logs to this file, not
            // to the compiled-in /var/log/nginx/error.log.
            .arg("-e")
            .arg(folder.join(ERROR_LOG))
            .args(["-g", "daemon off;"])
            .current_dir(folder)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .process_group(0);
        let child = command
            .spawn()
            .with_context(|| format!("starting `{}`", process::display(&command)))?;
        self.child = Some(child);
        Ok(())
    }

    /// Until the listen address accepts connections: nginx binds before
    /// its workers start, and they take the connections the kernel queued.
    fn wait_ready(&mut self) -> anyhow::Result<()> {
        let Some(child) = self.child.as_mut() else {
            bail!("nginx is not running");
        };
        let listen = self.settings.listen;
        let waited = process::wait_ready(
            child,
            "nginx",
            READY_WITHIN,
            Duration::from_millis(20),
            || TcpStream::connect_timeout(&listen, Duration::from_secs(1)).is_ok(),
        )?;
        match waited {
            Ok(()) => Ok(()),
            Err(NotReady::Exited(status)) => {
                self.child = None;
                bail!(
                    "nginx exited ({status}) before it listened on {listen}:\n{}\n{}",
                    process::tail(&self.folder.join("logs").join("startup.log"), 10),
                    process::tail(&self.error_log(), 10)
                );
            }
            Err(NotReady::TimedOut) => {
                let tail = process::tail(&self.error_log(), 10);
                let _ = self.kill();
                bail!("nginx did not listen within {READY_WITHIN:?}:\n{tail}");
            }
        }
    }

    /// `http://<listen>`: where clients reach the instances.
    #[must_use]
    pub fn base_url(&self) -> String {
        net::http_base(
            &self.settings.listen.ip().to_string(),
            self.settings.listen.port(),
        )
    }

    #[must_use]
    pub fn settings(&self) -> &ProxySettings {
        &self.settings
    }

    #[must_use]
    pub fn folder(&self) -> &Path {
        &self.folder
    }

    /// One line per request: method, path without its query, status, and
    /// which instances it went to (`upstream=a, b` when it was passed on).
    #[must_use]
    pub fn access_log(&self) -> PathBuf {
        self.folder.join(ACCESS_LOG)
    }

    #[must_use]
    pub fn error_log(&self) -> PathBuf {
        self.folder.join(ERROR_LOG)
    }

    /// The master's pid, while it runs.
    #[must_use]
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// One line for messages.
    #[must_use]
    pub fn describe(&self) -> String {
        let upstreams: Vec<String> = self
            .settings
            .upstreams
            .iter()
            .map(ToString::to_string)
            .collect();
        format!(
            "nginx on {} in front of {}, logs in {}",
            self.settings.listen,
            upstreams.join(", "),
            self.folder.join("logs").display()
        )
    }

    /// SIGQUIT: stop accepting, finish what is in flight (5 s at most),
    /// exit; SIGKILL to the master and its workers after 10 s.
    ///
    /// # Errors
    /// When it cannot be signalled or waited for.
    pub fn stop(&mut self) -> anyhow::Result<()> {
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        process::stop_group(&mut child, Signal::SIGQUIT, STOP_GRACE)
            .map(drop)
            .context("stopping nginx")
    }

    /// SIGKILL to the master and its workers.
    ///
    /// # Errors
    /// When they cannot be killed or waited for.
    pub fn kill(&mut self) -> anyhow::Result<()> {
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        process::stop_group(&mut child, Signal::SIGKILL, Duration::ZERO)
            .map(drop)
            .context("killing nginx")
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        if let Err(error) = self.stop() {
            say!("warning: {error:#}");
        }
        if self.scratch {
            match fs::remove_dir_all(&self.folder) {
                Ok(()) => say!("stopped and removed the scratch proxy"),
                Err(error) => say!(
                    "warning: could not remove {}: {error}",
                    self.folder.display()
                ),
            }
        }
    }
}

fn listen_is_free(address: SocketAddr) -> bool {
    std::net::TcpListener::bind(address).is_ok()
}

/// The whole configuration, relative to the prefix folder. `as_root`:
/// whether the master runs as root, when the workers must be told to stay
/// root (nginx would otherwise switch them to `nobody`).
#[must_use]
pub fn configuration(settings: &ProxySettings, as_root: bool) -> String {
    // Timeouts take milliseconds; `fail_timeout` only whole seconds.
    let millis = |duration: Duration| format!("{}ms", duration.as_millis());
    let fail_timeout = settings.fail_timeout.as_secs().max(1);
    let user = if as_root { "user root root;\n" } else { "" };
    let servers: String = settings
        .upstreams
        .iter()
        .map(|address| {
            format!(
                "        server {address} max_fails={} fail_timeout={fail_timeout}s;\n",
                settings.max_fails,
            )
        })
        .collect();
    format!(
        "# Written by the record shop's harness at every start.
{user}worker_processes auto;
worker_rlimit_nofile 16384;
worker_shutdown_timeout 5s;
pid {PID_FILE};
error_log {ERROR_LOG} warn;

events {{
    worker_connections 4096;
}}

http {{
    log_format upstreams '$remote_addr [$time_iso8601] $request_method $uri $status '
                         '$request_time upstream=\"$upstream_addr\" '
                         'upstream_status=\"$upstream_status\"';
    access_log {ACCESS_LOG} upstreams;
    client_body_temp_path temp/client_body;
    proxy_temp_path temp/proxy;
    fastcgi_temp_path temp/fastcgi;
    uwsgi_temp_path temp/uwsgi;
    scgi_temp_path temp/scgi;
    server_tokens off;

    upstream {UPSTREAM} {{
        zone {UPSTREAM} 64k;
{servers}        keepalive {keepalive};
        keepalive_timeout 4s;
    }}

    server {{
        listen {listen} backlog=4096;

        location / {{
            proxy_pass http://{UPSTREAM};
            proxy_http_version 1.1;
            proxy_set_header Connection \"\";
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_next_upstream error timeout http_502 http_503;
            proxy_connect_timeout {connect};
            proxy_send_timeout {send};
            proxy_read_timeout {read};
        }}
    }}
}}
",
        keepalive = settings.keepalive,
        listen = settings.listen,
        connect = millis(settings.connect_timeout),
        send = millis(settings.send_timeout),
        read = millis(settings.read_timeout),
    )
}

/// Debian's nginx, installed with apt-get where that is allowed.
fn find_or_install() -> anyhow::Result<PathBuf> {
    let nginx = PathBuf::from(NGINX);
    if nginx.is_file() {
        return Ok(nginx);
    }
    if !packages::can_install()? {
        bail!(
            "nginx is missing ({NGINX}); install it with `apt-get install nginx` \
             (as root the tools do that themselves)"
        );
    }
    say!("nginx is missing; installing it with apt-get");
    packages::install(&["nginx"])?;
    if !nginx.is_file() {
        bail!("nginx was installed, but {NGINX} is still missing");
    }
    Ok(nginx)
}

fn remove_leftovers(root: &Path) {
    for folder in FOLDERS.left_by_killed_runs(root) {
        say!(
            "removing a scratch proxy left by a killed run: {}",
            folder.display()
        );
        Proxy::stop_left_running(&folder);
        let _ = fs::remove_dir_all(&folder);
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::sync::atomic::Ordering;

    use super::*;
    use crate::testing::Upstream;

    fn settings() -> ProxySettings {
        let address = |port| SocketAddr::from(([127, 0, 0, 1], port));
        ProxySettings::new(address(8080), vec![address(8081), address(8082)])
    }

    /// The directives that carry the guarantees in the module's
    /// documentation; a change to any of them must be a decision.
    #[test]
    fn the_configuration_never_retries_a_sent_post() {
        let config = configuration(&settings(), false);
        let retry = config
            .lines()
            .find(|line| line.trim_start().starts_with("proxy_next_upstream "))
            .unwrap();
        assert_eq!(
            retry.trim(),
            "proxy_next_upstream error timeout http_502 http_503;"
        );
        assert!(!config.contains("non_idempotent"));
    }

    #[test]
    fn the_configuration_keeps_connections_alive_and_rests_failing_instances() {
        let config = configuration(&settings(), false);
        for directive in [
            "server 127.0.0.1:8081 max_fails=3 fail_timeout=5s;",
            "server 127.0.0.1:8082 max_fails=3 fail_timeout=5s;",
            "zone recordshop 64k;",
            "keepalive 32;",
            "keepalive_timeout 4s;",
            "proxy_http_version 1.1;",
            "proxy_set_header Connection \"\";",
            "proxy_set_header Host $http_host;",
            "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;",
            "listen 127.0.0.1:8080 backlog=4096;",
            "proxy_pass http://recordshop;",
            "proxy_read_timeout 15000ms;",
        ] {
            assert!(
                config.lines().any(|line| line.trim() == directive),
                "missing `{directive}` in:\n{config}"
            );
        }
    }

    #[test]
    fn everything_stays_in_the_folder() {
        let config = configuration(&settings(), false);
        let paths: Vec<&str> = config
            .lines()
            .map(str::trim)
            .filter_map(|line| {
                let (directive, rest) = line.split_once(' ')?;
                let names_a_file = ["pid", "error_log", "access_log"].contains(&directive)
                    || directive.ends_with("_temp_path");
                names_a_file.then_some(rest)
            })
            .collect();
        assert_eq!(paths.len(), 8, "{paths:?}");
        assert!(paths.iter().all(|path| !path.starts_with('/')), "{paths:?}");
        assert!(!config.contains("\nuser "));
        assert!(configuration(&settings(), true).starts_with(
            "# Written by the record shop's harness at every start.\nuser root root;\n"
        ));
    }

    /// One request through the proxy on a fresh connection; the body.
    fn request(proxy: &Proxy, method: &str) -> (u16, String) {
        let mut stream = TcpStream::connect(proxy.settings().listen).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let request = format!(
            "{method} /discs HTTP/1.1\r\nHost: shop.test:8080\r\ncontent-length: 2\r\nConnection: close\r\n\r\n{{}}"
        );
        stream.write_all(request.as_bytes()).unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        let status = answer[9..12].parse().unwrap();
        let body = answer
            .split_once("\r\n\r\n")
            .map(|(_, body)| body.to_owned())
            .unwrap_or_default();
        (status, body)
    }

    /// The real thing: nginx in front of two upstreams spreads requests
    /// over both, passes the client's Host, and once one is dead sends
    /// everything, POSTs included, to the other, executing each once.
    #[test]
    fn a_scratch_proxy_spreads_requests_and_routes_around_a_dead_upstream() {
        let alive = Upstream::named("alive", "200 OK");
        // A port nothing listens on: a killed instance refuses connections.
        let dead = SocketAddr::from(([127, 0, 0, 1], net::free_port().unwrap()));
        let listen = SocketAddr::from(([127, 0, 0, 1], net::free_port().unwrap()));
        let other = Upstream::named("other", "200 OK");
        let mut both = Proxy::scratch(ProxySettings::new(
            listen,
            vec![alive.address, other.address],
        ))
        .unwrap();
        let names: Vec<String> = (0..4).map(|_| request(&both, "GET").1).collect();
        assert!(
            names.iter().any(|name| name == "alive shop.test:8080"),
            "{names:?}"
        );
        assert!(
            names.iter().any(|name| name == "other shop.test:8080"),
            "{names:?}"
        );
        let pid = both.pid().unwrap();
        let folder = both.folder().to_path_buf();
        both.stop().unwrap();
        assert!(!process::is_alive(pid));
        drop(both);
        assert!(!folder.exists());

        let proxy = Proxy::scratch(ProxySettings::new(listen, vec![dead, alive.address])).unwrap();
        for method in ["GET", "POST", "GET", "POST", "POST", "GET"] {
            let (status, body) = request(&proxy, method);
            assert_eq!((status, body.as_str()), (200, "alive shop.test:8080"));
        }
        assert_eq!(alive.posts.load(Ordering::SeqCst), 3);
        // A request is logged once its answer is sent.
        let log = process::wait_until(Duration::from_secs(5), Duration::from_millis(10), || {
            let log = fs::read_to_string(proxy.access_log())?;
            Ok((log.lines().count() == 6).then_some(log))
        })
        .unwrap()
        .unwrap();
        assert!(log.contains(&format!("upstream=\"{dead}, {}\"", alive.address)));
    }

    /// The guarantee itself: a POST an instance answered 503 (it was sent)
    /// is answered 503, never passed to the other instance, while a GET is.
    #[test]
    fn a_scratch_proxy_never_passes_a_sent_post_on() {
        let busy = Upstream::named("busy", "503 Service Unavailable");
        let alive = Upstream::named("alive", "200 OK");
        let listen = SocketAddr::from(([127, 0, 0, 1], net::free_port().unwrap()));
        let proxy = Proxy::scratch(ProxySettings::new(
            listen,
            vec![busy.address, alive.address],
        ))
        .unwrap();
        let posts: Vec<(u16, String)> = (0..4).map(|_| request(&proxy, "POST")).collect();
        assert!(
            posts.contains(&(503, "busy shop.test:8080".to_owned())),
            "{posts:?}"
        );
        assert!(
            posts.contains(&(200, "alive shop.test:8080".to_owned())),
            "{posts:?}"
        );
        let executed = busy.posts.load(Ordering::SeqCst) + alive.posts.load(Ordering::SeqCst);
        assert_eq!(executed, 4);
        for _ in 0..4 {
            assert_eq!(
                request(&proxy, "GET"),
                (200, "alive shop.test:8080".to_owned())
            );
        }
    }
}
