//! Prometheus scraping the servers: Debian's `prometheus` (2.42) run from
//! a folder of ours (configuration, time series, log) on an address of
//! ours, as a child of the tool, never the system's service.
//!
//! It scrapes each target's `/metrics` (a server's `METRICS_ADDR`, see
//! [`Launch::metrics_url`](crate::server::Launch::metrics_url)) under one
//! job, `recordshop`, each target its own `instance`. The series stay in
//! the folder for the next start; Prometheus keeps 15 days. A Prometheus a
//! killed run left on the folder (it holds the series' lock) is stopped
//! first.

use std::fs;
use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context, bail};
use nix::sys::signal::Signal;
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};

use crate::process::NotReady;
use crate::{net, packages, process, say};

/// Debian's binary.
const PROMETHEUS: &str = "/usr/bin/prometheus";
/// Measured: ready in about 1 s on 2 cores (it replays its write-ahead log
/// first, longer after long runs).
const READY_WITHIN: Duration = Duration::from_secs(60);
/// A SIGTERM stops it in well under a second.
const STOP_GRACE: Duration = Duration::from_secs(20);
/// Ours, for stopping what a killed run left.
const PID_FILE: &str = "prometheus.pid";
/// The job every target is scraped under.
const JOB: &str = "recordshop";

/// Where Prometheus listens and what it scrapes how often.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PrometheusSettings {
    pub listen: SocketAddr,
    /// `host:port` of each `/metrics` listener.
    pub targets: Vec<SocketAddr>,
    pub scrape_interval: Duration,
}

impl PrometheusSettings {
    /// `targets` scraped every 5 s, a tenth of what the server's latency
    /// histograms are read over in the README's queries.
    #[must_use]
    pub fn new(listen: SocketAddr, targets: Vec<SocketAddr>) -> Self {
        Self {
            listen,
            targets,
            scrape_interval: Duration::from_secs(5),
        }
    }
}

/// A running Prometheus, stopped when this value drops.
pub struct Prometheus {
    folder: PathBuf,
    settings: PrometheusSettings,
    child: Option<Child>,
}

impl Prometheus {
    /// Writes the configuration into `folder` (created when missing; the
    /// series are kept), starts Prometheus and waits until `/-/ready`
    /// answers 200. Installs `prometheus` first where that is allowed
    /// ([`packages::can_install`]).
    ///
    /// # Errors
    /// When Prometheus is missing, the address is taken, or it is not ready
    /// within a minute (the message ends with its log).
    pub fn start(folder: &Path, settings: PrometheusSettings) -> anyhow::Result<Self> {
        let prometheus = find_or_install()?;
        Self::stop_left_running(folder);
        let pid_file = folder.join(PID_FILE);
        if std::net::TcpListener::bind(settings.listen).is_err() {
            bail!(
                "{} is taken by another program; Prometheus cannot listen there",
                settings.listen
            );
        }
        let data = folder.join("data");
        fs::create_dir_all(&data).with_context(|| format!("creating {}", data.display()))?;
        let config_file = folder.join("prometheus.yml");
        fs::write(&config_file, configuration(&settings))
            .with_context(|| format!("writing {}", config_file.display()))?;
        let log = folder.join("prometheus.log");
        let out = fs::File::create(&log).with_context(|| format!("creating {}", log.display()))?;
        let err = out.try_clone().context("sharing the Prometheus log")?;
        let mut command = Command::new(prometheus);
        command
            .arg(format!("--config.file={}", config_file.display()))
            .arg(format!("--storage.tsdb.path={}", data.display()))
            .arg(format!("--web.listen-address={}", settings.listen))
            .current_dir(folder)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .process_group(0);
        let child = command
            .spawn()
            .with_context(|| format!("starting `{}`", process::display(&command)))?;
        // It keeps no pid file of its own.
        fs::write(&pid_file, format!("{}\n", child.id()))
            .with_context(|| format!("writing {}", pid_file.display()))?;
        let mut started = Self {
            folder: folder.to_path_buf(),
            settings,
            child: Some(child),
        };
        started.wait_ready()?;
        Ok(started)
    }

    /// Stops the Prometheus a killed run left on `folder`, if any.
    pub fn stop_left_running(folder: &Path) {
        if let Some(pid) = process::left_running(&folder.join(PID_FILE), "prometheus") {
            say!(
                "stopping the Prometheus (pid {pid}) a killed run left in {}",
                folder.display()
            );
            process::stop_left_running(pid, Signal::SIGTERM, STOP_GRACE);
        }
    }

    fn wait_ready(&mut self) -> anyhow::Result<()> {
        let (host, port) = (
            self.settings.listen.ip().to_string(),
            self.settings.listen.port(),
        );
        let Some(child) = self.child.as_mut() else {
            bail!("Prometheus is not running");
        };
        let waited = process::wait_ready(
            child,
            "Prometheus",
            READY_WITHIN,
            Duration::from_millis(100),
            || net::http_status(&host, port, "/-/ready") == Some(200),
        )?;
        match waited {
            Ok(()) => Ok(()),
            Err(NotReady::Exited(status)) => {
                self.child = None;
                bail!(
                    "Prometheus exited ({status}) before it was ready; the end of {}:\n{}",
                    self.log_file().display(),
                    process::tail(&self.log_file(), 10)
                );
            }
            Err(NotReady::TimedOut) => {
                let tail = process::tail(&self.log_file(), 10);
                let _ = self.stop();
                bail!("Prometheus was not ready within {READY_WITHIN:?}:\n{tail}");
            }
        }
    }

    /// `http://<listen>`: its web interface and HTTP API.
    #[must_use]
    pub fn url(&self) -> String {
        net::http_base(
            &self.settings.listen.ip().to_string(),
            self.settings.listen.port(),
        )
    }

    #[must_use]
    pub fn settings(&self) -> &PrometheusSettings {
        &self.settings
    }

    #[must_use]
    pub fn log_file(&self) -> PathBuf {
        self.folder.join("prometheus.log")
    }

    #[must_use]
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// The value of an instant query whose result is one number (`sum(up)`),
    /// `None` while it has no result.
    ///
    /// # Errors
    /// When Prometheus cannot be reached or refuses the query.
    pub async fn query_number(&self, query: &str) -> anyhow::Result<Option<f64>> {
        let answer: serde_json::Value = reqwest::Client::new()
            .get(format!(
                "{}/api/v1/query?query={}",
                self.url(),
                utf8_percent_encode(query, NON_ALPHANUMERIC)
            ))
            .timeout(Duration::from_secs(10))
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .with_context(|| format!("querying Prometheus for {query}"))?
            .json()
            .await
            .context("reading Prometheus' answer")?;
        Ok(first_number(&answer))
    }

    /// Stops it: SIGTERM, then SIGKILL after 20 s.
    ///
    /// # Errors
    /// When it cannot be signalled or waited for.
    pub fn stop(&mut self) -> anyhow::Result<()> {
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        process::stop_group(&mut child, Signal::SIGTERM, STOP_GRACE)
            .map(drop)
            .context("stopping Prometheus")
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        if let Err(error) = self.stop() {
            say!("warning: {error:#}");
        }
    }
}

/// The configuration file: YAML, every value quoted.
fn configuration(settings: &PrometheusSettings) -> String {
    let interval = settings.scrape_interval.as_millis().max(1000);
    // A scrape must end before the next one starts.
    let timeout = interval * 4 / 5;
    let targets: Vec<String> = settings
        .targets
        .iter()
        .map(|target| format!("\"{target}\""))
        .collect();
    format!(
        "# Written by the record shop's harness at every start.
global:
  scrape_interval: {interval}ms
  scrape_timeout: {timeout}ms
  evaluation_interval: {interval}ms
scrape_configs:
  - job_name: \"{JOB}\"
    metrics_path: \"/metrics\"
    static_configs:
      - targets: [{}]
",
        targets.join(", ")
    )
}

/// `data.result[0].value[1]` of an instant query's answer.
fn first_number(answer: &serde_json::Value) -> Option<f64> {
    answer
        .pointer("/data/result/0/value/1")?
        .as_str()?
        .parse()
        .ok()
}

/// Debian's Prometheus, installed with apt-get where that is allowed.
fn find_or_install() -> anyhow::Result<PathBuf> {
    let prometheus = PathBuf::from(PROMETHEUS);
    if prometheus.is_file() {
        return Ok(prometheus);
    }
    if !packages::can_install()? {
        bail!(
            "Prometheus is missing ({PROMETHEUS}); install it with `apt-get install prometheus` \
             (as root the tools do that themselves)"
        );
    }
    say!("Prometheus is missing; installing it with apt-get");
    packages::install(&["prometheus"])?;
    if !prometheus.is_file() {
        bail!("prometheus was installed, but {PROMETHEUS} is still missing");
    }
    Ok(prometheus)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::Upstream;

    fn address(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    #[test]
    fn scrapes_every_target_under_one_job() {
        let settings = PrometheusSettings::new(address(9090), vec![address(9464), address(9465)]);
        let config = configuration(&settings);
        assert!(config.contains("  scrape_interval: 5000ms\n  scrape_timeout: 4000ms\n"));
        assert!(config.contains("  - job_name: \"recordshop\"\n"));
        assert!(config.contains("      - targets: [\"127.0.0.1:9464\", \"127.0.0.1:9465\"]\n"));
    }

    #[test]
    fn reads_an_instant_querys_number() {
        let answer = serde_json::json!({"status": "success", "data": {"resultType": "vector",
            "result": [{"metric": {}, "value": [1_700_000_000.0, "2"]}]}});
        assert_eq!(first_number(&answer), Some(2.0));
        let empty = serde_json::json!({"status": "success", "data": {"result": []}});
        assert_eq!(first_number(&empty), None);
    }

    /// The real thing: it comes up, scrapes a target that serves the
    /// exposition format, and stops.
    #[test]
    fn a_prometheus_scrapes_its_targets() {
        let target = Upstream::fixed("# TYPE recordshop_probe gauge\nrecordshop_probe 7\n");
        let folder =
            std::env::temp_dir().join(format!("recordshop-prometheus-{}", std::process::id()));
        let mut settings =
            PrometheusSettings::new(address(net::free_port().unwrap()), vec![target.address]);
        settings.scrape_interval = Duration::from_secs(1);
        let mut prometheus = Prometheus::start(&folder, settings).unwrap();
        // The first scrape comes within an interval of the start.
        let scraped = crate::blocking(async {
            let started = std::time::Instant::now();
            while started.elapsed() < Duration::from_secs(20) {
                if let Some(value) = prometheus.query_number("recordshop_probe").await? {
                    return Ok(Some(value));
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Ok(None)
        })
        .unwrap();
        assert_eq!(scraped, Some(7.0));
        let pid = prometheus.pid().unwrap();
        prometheus.stop().unwrap();
        assert!(!process::is_alive(pid));
        fs::remove_dir_all(&folder).unwrap();
    }
}
