//! Reading a server's `/metrics` (the Prometheus text format): the
//! samples, and what a run did inside as the difference of two scrapes —
//! counters' increases and histograms' quantiles over the run alone.

use std::collections::BTreeMap;

use anyhow::Context;

/// One sample: `name{labels} value`.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// Every sample of one scrape.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Scrape(pub Vec<Sample>);

impl Scrape {
    /// Parses the text format; comments and unparseable lines are skipped.
    #[must_use]
    pub fn parse(text: &str) -> Self {
        Self(text.lines().filter_map(parse_line).collect())
    }

    /// `GET url` and its samples.
    ///
    /// # Errors
    /// When the endpoint does not answer 200.
    pub async fn fetch(url: &str) -> anyhow::Result<Self> {
        let response = reqwest::Client::builder()
            .no_proxy()
            .build()?
            .get(url)
            .timeout(std::time::Duration::from_secs(5))
            .send()
            .await
            .with_context(|| format!("scraping {url}"))?;
        let status = response.status();
        anyhow::ensure!(status.is_success(), "{url} answered {status}");
        Ok(Self::parse(&response.text().await?))
    }

    /// The sum of the samples named `name` whose labels include `labels`.
    #[must_use]
    pub fn sum(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.matching(name, labels).map(|sample| sample.value).sum()
    }

    fn matching<'a>(
        &'a self,
        name: &'a str,
        labels: &'a [(&'a str, &'a str)],
    ) -> impl Iterator<Item = &'a Sample> + 'a {
        self.0.iter().filter(move |sample| {
            sample.name == name
                && labels
                    .iter()
                    .all(|(key, value)| sample.labels.get(*key).is_some_and(|v| v == value))
        })
    }

    /// Histogram `name`'s cumulative buckets (upper bound → count), summed
    /// over the series whose labels include `labels`.
    #[must_use]
    pub fn buckets(&self, name: &str, labels: &[(&str, &str)]) -> Vec<(f64, f64)> {
        let bucket = format!("{name}_bucket");
        let mut by_bound: BTreeMap<u64, (f64, f64)> = BTreeMap::new();
        for sample in self.matching(&bucket, labels) {
            let Some(bound) = sample.labels.get("le").and_then(|le| parse_bound(le)) else {
                continue;
            };
            let entry = by_bound.entry(bound.to_bits()).or_insert((bound, 0.0));
            entry.1 += sample.value;
        }
        let mut buckets: Vec<(f64, f64)> = by_bound.into_values().collect();
        buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
        buckets
    }
}

/// What happened between two scrapes of one server.
#[derive(Clone, Debug)]
pub struct Delta<'a> {
    pub before: &'a Scrape,
    pub after: &'a Scrape,
}

impl Delta<'_> {
    /// How much counter `name` (matching `labels`) grew.
    #[must_use]
    pub fn increase(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.after.sum(name, labels) - self.before.sum(name, labels)
    }

    /// Observations of histogram `name` in between.
    #[must_use]
    pub fn count(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.increase(&format!("{name}_count"), labels)
    }

    /// Their mean.
    #[must_use]
    pub fn mean(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let count = self.count(name, labels);
        (count > 0.0).then(|| self.increase(&format!("{name}_sum"), labels) / count)
    }

    /// The `q` quantile (0–1) of histogram `name`'s observations in
    /// between, interpolated within its bucket as Prometheus's
    /// `histogram_quantile` does; `None` without observations.
    #[must_use]
    pub fn quantile(&self, name: &str, labels: &[(&str, &str)], q: f64) -> Option<f64> {
        let before = self.before.buckets(name, labels);
        let after = self.after.buckets(name, labels);
        let buckets: Vec<(f64, f64)> = after
            .iter()
            .map(|(bound, count)| {
                let earlier = before
                    .iter()
                    .find(|(b, _)| b.to_bits() == bound.to_bits())
                    .map_or(0.0, |(_, c)| *c);
                (*bound, count - earlier)
            })
            .collect();
        quantile(&buckets, q)
    }
}

/// `histogram_quantile` over cumulative `buckets` (ascending bounds, the
/// last `+Inf`).
fn quantile(buckets: &[(f64, f64)], q: f64) -> Option<f64> {
    let total = buckets.last()?.1;
    if total <= 0.0 {
        return None;
    }
    let rank = q * total;
    let mut lower = (0.0, 0.0);
    for &(bound, count) in buckets {
        if count >= rank {
            if bound.is_infinite() {
                // Past the highest finite bucket: its bound is all we know.
                return Some(lower.0);
            }
            let width = count - lower.1;
            let into = if width > 0.0 {
                (rank - lower.1) / width
            } else {
                1.0
            };
            return Some(lower.0 + (bound - lower.0) * into);
        }
        lower = (bound, count);
    }
    Some(lower.0)
}

fn parse_bound(text: &str) -> Option<f64> {
    match text {
        "+Inf" => Some(f64::INFINITY),
        other => other.parse().ok(),
    }
}

fn parse_line(line: &str) -> Option<Sample> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let (series, value) = line.rsplit_once(' ')?;
    let value = match value {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        other => other.parse().ok()?,
    };
    let (name, labels) = match series.split_once('{') {
        Some((name, rest)) => (name, parse_labels(rest.strip_suffix('}')?)?),
        None => (series, BTreeMap::new()),
    };
    Some(Sample {
        name: name.to_owned(),
        labels,
        value,
    })
}

/// `a="1",b="x \"y\""`: values are quoted, with `\"`, `\\` and `\n`
/// escaped.
fn parse_labels(text: &str) -> Option<BTreeMap<String, String>> {
    let mut labels = BTreeMap::new();
    let mut rest = text;
    while !rest.is_empty() {
        let (key, after) = rest.split_once("=\"")?;
        let mut value = String::new();
        let mut chars = after.char_indices();
        let end = loop {
            let (index, c) = chars.next()?;
            match c {
                '\\' => match chars.next()?.1 {
                    'n' => value.push('\n'),
                    other => value.push(other),
                },
                '"' => break index,
                other => value.push(other),
            }
        };
        labels.insert(key.trim_start_matches(',').trim().to_owned(), value);
        rest = after[end + 1..].trim_start_matches(',');
    }
    Some(labels)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = r#"# HELP recordshop_purchases_total Purchases
# TYPE recordshop_purchases_total counter
recordshop_purchases_total{strategy="batched",outcome="confirmed"} 12
recordshop_purchases_total{strategy="batched",outcome="out_of_stock"} 3
recordshop_batch_size_bucket{le="1"} 2
recordshop_batch_size_bucket{le="4"} 6
recordshop_batch_size_bucket{le="16"} 10
recordshop_batch_size_bucket{le="+Inf"} 10
recordshop_batch_size_sum 50
recordshop_batch_size_count 10
odd{label="a \"quoted\" \\ value"} 1
"#;

    #[test]
    fn reads_counters_labels_and_escapes() {
        let scrape = Scrape::parse(TEXT);
        assert_eq!(scrape.sum("recordshop_purchases_total", &[]), 15.0);
        assert_eq!(
            scrape.sum("recordshop_purchases_total", &[("outcome", "confirmed")]),
            12.0
        );
        let odd = scrape.0.iter().find(|sample| sample.name == "odd").unwrap();
        assert_eq!(odd.labels["label"], r#"a "quoted" \ value"#);
    }

    #[test]
    fn quantiles_come_from_the_run_alone() {
        let before = Scrape::parse(
            "recordshop_batch_size_bucket{le=\"1\"} 2\nrecordshop_batch_size_bucket{le=\"4\"} 2\n\
             recordshop_batch_size_bucket{le=\"16\"} 2\nrecordshop_batch_size_bucket{le=\"+Inf\"} 2\n\
             recordshop_batch_size_sum 2\nrecordshop_batch_size_count 2\n",
        );
        let after = Scrape::parse(TEXT);
        let delta = Delta {
            before: &before,
            after: &after,
        };
        assert_eq!(delta.count("recordshop_batch_size", &[]), 8.0);
        assert_eq!(delta.mean("recordshop_batch_size", &[]), Some(6.0));
        // 8 in the run: 4 in (1, 4], 4 in (4, 16]; the median is at 4.
        assert_eq!(delta.quantile("recordshop_batch_size", &[], 0.5), Some(4.0));
        let p99 = delta.quantile("recordshop_batch_size", &[], 0.99).unwrap();
        assert!((15.0..=16.0).contains(&p99), "{p99}");
        assert_eq!(
            Delta {
                before: &after,
                after: &after
            }
            .quantile("recordshop_batch_size", &[], 0.99),
            None
        );
    }
}
