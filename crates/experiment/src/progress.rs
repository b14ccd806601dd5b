//! Progress while a run goes on: a spinner through the set-up phases, then
//! a bar over the load's duration with live counts. Without a terminal
//! (CI, a pipe) indicatif draws nothing, so phases are printed as lines.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

use crate::load::Live;

pub struct RunProgress {
    bar: ProgressBar,
    prefix: String,
}

impl RunProgress {
    pub fn new(prefix: String) -> Self {
        let bar = ProgressBar::new_spinner();
        bar.set_prefix(prefix.clone());
        bar.enable_steady_tick(Duration::from_millis(120));
        let progress = Self { bar, prefix };
        progress.spin();
        progress
    }

    /// Back to a spinner, after the load's bar.
    pub fn spin(&self) {
        if let Ok(style) = ProgressStyle::with_template("{spinner:.cyan} {prefix:.bold} {msg}") {
            self.bar.set_style(style);
        }
    }

    pub fn phase(&self, message: &str) {
        if self.bar.is_hidden() {
            eprintln!("{}: {message}", self.prefix);
        } else {
            self.bar.set_message(message.to_owned());
        }
    }

    /// Turns the spinner into a bar over `duration`, fed from `live` until
    /// the returned ticker is dropped.
    pub fn load(&self, duration: Duration, live: Arc<Live>) -> Ticker {
        self.phase(&format!("load for {:.0} s", duration.as_secs_f64()));
        self.bar.set_length(duration.as_millis() as u64);
        self.bar.set_position(0);
        if let Ok(style) = ProgressStyle::with_template(
            "{spinner:.cyan} {prefix:.bold} [{bar:30.cyan/blue}] {elapsed:>4} {msg}",
        ) {
            self.bar.set_style(style.progress_chars("=> "));
        }
        let bar = self.bar.clone();
        let start = Instant::now();
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(250));
            loop {
                tick.tick().await;
                let elapsed = start.elapsed();
                let requests = live.requests.load(Ordering::Relaxed);
                bar.set_position(elapsed.as_millis() as u64);
                bar.set_message(format!(
                    "{requests} requests · {} orders · {} failures · {:.0} req/s",
                    live.orders.load(Ordering::Relaxed),
                    live.failures.load(Ordering::Relaxed),
                    requests as f64 / elapsed.as_secs_f64().max(0.001),
                ));
            }
        });
        Ticker(task)
    }

    pub fn finish(self) {
        self.bar.finish_and_clear();
    }
}

/// Stops updating the bar when dropped.
pub struct Ticker(tokio::task::JoinHandle<()>);

impl Drop for Ticker {
    fn drop(&mut self) {
        self.0.abort();
    }
}
