//! How fast the sales report answers over a large history: a database
//! holding `orders` purchase orders over the last 30 days (1,000 discs,
//! 1,000 customers, 2% of the orders canceled), then `GET /reports/sales`
//! for one-hour windows at minute buckets, timed from the client, with
//! the plan PostgreSQL chose.

use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::{TimeDelta, Utc};
use recordshop_harness::api::{Api, ClientOptions};
use recordshop_harness::postgres::{Admin, DatabaseName, DatabaseUrl, connect};
use recordshop_harness::server::{Launch, Program};
use recordshop_harness::signing::SigningKey;
use reqwest::Method;
use serde::Serialize;

use crate::stats::Latency;

/// The target: a one-hour window over 10 million orders well under this.
pub const TARGET_MS: f64 = 50.0;
/// Windows timed, of each kind.
const SAMPLES: usize = 30;
/// Rows written per statement while populating.
const CHUNK: i64 = 1_000_000;

#[derive(Clone, Debug, Serialize)]
pub struct SalesTiming {
    pub orders: i64,
    pub populate_s: f64,
    /// One hour of every disc, at minute buckets (one page of 100 rows).
    pub all_discs: Option<Latency>,
    /// One hour of one disc.
    pub one_disc: Option<Latency>,
    /// What PostgreSQL did for one all-discs window (`EXPLAIN ANALYZE`).
    pub plan: Vec<String>,
    pub within_target: bool,
}

pub async fn measure(
    admin: &Admin,
    server_bin: &std::path::Path,
    tag: &str,
    orders: i64,
    keep: bool,
) -> anyhow::Result<SalesTiming> {
    let name = DatabaseName::scratch("exp", &["sales", "report"], tag)?;
    let url = admin.create(&name).await?;
    let measured = measure_on(&url, server_bin, orders).await;
    if !keep {
        admin.drop_database(&name).await?;
    }
    measured
}

async fn measure_on(
    url: &DatabaseUrl,
    server_bin: &std::path::Path,
    orders: i64,
) -> anyhow::Result<SalesTiming> {
    let started = Instant::now();
    populate(url, orders).await?;
    let populate_s = started.elapsed().as_secs_f64();
    println!("  populated {orders} orders in {populate_s:.0} s");

    let key = SigningKey::random();
    let token = key.staff_token("experiment", Duration::from_secs(3600))?;
    let launch = Launch::new(Program::Binary(server_bin.to_path_buf()), url.clone(), key)?;
    let mut server = launch.start()?;
    server.wait_ready_async(Duration::from_secs(30)).await?;
    let api = Api::new(&launch.base_url(), ClientOptions::default())?.with_token(&token)?;
    let disc = connect(url)
        .await?
        .query_one("SELECT id FROM discs ORDER BY id LIMIT 1", &[])
        .await?
        .try_get::<_, uuid::Uuid>(0)?;
    let timed = async {
        let all = time_windows(&api, None).await?;
        let one = time_windows(&api, Some(disc)).await?;
        anyhow::Ok((all, one))
    }
    .await;
    let exit = server.terminate_async(Duration::from_secs(10)).await?;
    anyhow::ensure!(exit.is_clean(), "the server did not stop cleanly: {exit:?}");
    let (all_discs, one_disc) = timed?;
    let plan = explain(url).await?;
    let within_target = [&all_discs, &one_disc]
        .iter()
        .all(|latency| latency.as_ref().is_some_and(|l| l.p99_ms < TARGET_MS));
    Ok(SalesTiming {
        orders,
        populate_s,
        all_discs,
        one_disc,
        plan,
        within_target,
    })
}

/// `SAMPLES` one-hour windows, each at a different hour of the history.
async fn time_windows(api: &Api, disc: Option<uuid::Uuid>) -> anyhow::Result<Option<Latency>> {
    let mut histogram = hdrhistogram::Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    let mut max = 0_u64;
    for sample in 0..SAMPLES {
        let to = Utc::now() - TimeDelta::hours(1 + 17 * sample as i64);
        let from = to - TimeDelta::hours(1);
        let mut path = format!(
            "/reports/sales?bucket=1m&from={}&to={}",
            from.format("%Y-%m-%dT%H:%M:%SZ"),
            to.format("%Y-%m-%dT%H:%M:%SZ")
        );
        if let Some(disc) = disc {
            path.push_str(&format!("&disc_id={disc}"));
        }
        let started = Instant::now();
        let reply = api.call(Method::GET, &path, None).await;
        let micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        anyhow::ensure!(reply.status() == 200, "{path} answered {}", reply.label());
        histogram.saturating_record(micros);
        max = max.max(micros);
    }
    let ms = |micros: u64| micros as f64 / 1e3;
    Ok(Some(Latency {
        count: histogram.len(),
        mean_ms: histogram.mean() / 1e3,
        p50_ms: ms(histogram.value_at_quantile(0.5)),
        p90_ms: ms(histogram.value_at_quantile(0.9)),
        p99_ms: ms(histogram.value_at_quantile(0.99)),
        max_ms: ms(max),
    }))
}

/// 1,000 discs and customers, then `orders` orders at random instants of
/// the last 30 days, inserted in chunks; then VACUUM ANALYZE, as
/// autovacuum would have done to a table this old.
async fn populate(url: &DatabaseUrl, orders: i64) -> anyhow::Result<()> {
    let mut client = connect(url).await?;
    recordshop_postgres::migrate(&mut client).await?;
    client
        .batch_execute(
            "INSERT INTO discs (id, name, artist, year_of_release, genre, quantity)
             SELECT gen_random_uuid(), 'Disc ' || n, 'Artist ' || n % 50, 1950 + n % 70,
                    'Jazz', 1000000000
               FROM generate_series(1, 1000) AS n;
             INSERT INTO stock_adjustments (disc_id, delta, reason)
             SELECT id, quantity, 'initial' FROM discs;
             INSERT INTO customers (id, document, name, birth_date, email, phone)
             SELECT gen_random_uuid(), 'sales-' || n, 'Client ' || n, DATE '1980-01-01',
                    'client' || n || '@example.com', '+55 11 0000-0000'
               FROM generate_series(1, 1000) AS n;",
        )
        .await
        .context("populating discs and customers")?;
    let mut written = 0;
    while written < orders {
        let rows = CHUNK.min(orders - written);
        // Orders are history here: stock is not what is measured, so the
        // discs keep their stock and the ledger is not balanced.
        client
            .execute(
                "WITH d AS (SELECT array_agg(id) AS ids FROM discs),
                      c AS (SELECT array_agg(id) AS ids FROM customers)
                 INSERT INTO purchase_orders
                     (id, customer_id, disc_id, quantity, status, customer_snapshot,
                      disc_snapshot, created_at, canceled_at)
                 SELECT gen_random_uuid(), c.ids[1 + (random() * 999)::int],
                        d.ids[1 + (random() * 999)::int], 1 + (random() * 2)::int,
                        CASE WHEN o.cancel THEN 'canceled' ELSE 'confirmed' END,
                        '{}', '{}', o.placed,
                        CASE WHEN o.cancel THEN o.placed + interval '10 minutes' END
                   FROM d, c,
                        LATERAL (SELECT now() - random() * interval '30 days' AS placed,
                                        random() < 0.02 AS cancel,
                                        n
                                   FROM generate_series(1, $1::bigint) AS n) AS o",
                &[&rows],
            )
            .await
            .context("populating orders")?;
        written += rows;
        println!("  {written} of {orders} orders written");
    }
    client
        .batch_execute("VACUUM ANALYZE purchase_orders")
        .await
        .context("vacuuming")?;
    Ok(())
}

/// The plan of one all-discs window, as PostgreSQL ran it.
async fn explain(url: &DatabaseUrl) -> anyhow::Result<Vec<String>> {
    let client = connect(url).await?;
    let rows = client
        .query(
            "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF)
             WITH placed AS (
                 SELECT date_bin(interval '1 minute', created_at, TIMESTAMPTZ '2000-01-01') AS bucket,
                        disc_id, SUM(quantity) AS units, COUNT(*) AS orders
                 FROM purchase_orders
                 WHERE created_at >= now() - interval '25 hours'
                   AND created_at < now() - interval '24 hours'
                 GROUP BY 1, 2)
             SELECT * FROM placed ORDER BY bucket DESC, disc_id LIMIT 100",
            &[],
        )
        .await?;
    rows.iter()
        .map(|row| row.try_get::<_, String>(0).map_err(Into::into))
        .collect()
}

#[must_use]
pub fn text(timing: &SalesTiming) -> String {
    let latency = |latency: &Option<Latency>| {
        latency.as_ref().map_or_else(
            || "none".to_owned(),
            |l| {
                format!(
                    "p50 {:.1} ms · p99 {:.1} ms · max {:.1} ms",
                    l.p50_ms, l.p99_ms, l.max_ms
                )
            },
        )
    };
    format!(
        "sales report over {} orders (target: a one-hour window well under {TARGET_MS} ms)\n  \
         every disc, 1 h at 1m buckets: {} \n  one disc, 1 h at 1m buckets:  {}\n  {}\n  plan:\n    {}",
        timing.orders,
        latency(&timing.all_discs),
        latency(&timing.one_disc),
        if timing.within_target {
            "PASS"
        } else {
            "MISSED"
        },
        timing.plan.join("\n    ")
    )
}
