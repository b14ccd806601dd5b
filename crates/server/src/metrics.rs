//! Prometheus metrics: the recorder the `metrics` facade writes to, and
//! `GET /metrics` on a listener of its own (`METRICS_ADDR`).
//!
//! Why `metrics` with `metrics-exporter-prometheus` rather than
//! `prometheus-client`: the facade lets the adapter and the HTTP layer
//! record where things happen (a statement, a batch, a request) with a
//! macro and no registry threaded through every constructor, while only
//! this binary picks the exporter; with no recorder installed (tests,
//! `METRICS_ADDR` unset) the macros cost an atomic load.
//!
//! Why a listener of its own: the Prometheus convention, and it keeps the
//! metrics off the API's port and out of the reach of its clients. The
//! families carry routes as patterns, strategies, outcomes, statement
//! names and SQLSTATE classes, never an id or anything a client wrote.

use std::net::TcpListener;
use std::sync::OnceLock;

use actix_web::dev::Server;
use actix_web::{App, HttpResponse, HttpServer, web};
use anyhow::Context;
use deadpool_postgres::Pool;
use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use recordshop_http::admission::Admission;

/// Seconds: from a cached statement (~50 µs) to the statement timeout.
const SECONDS: &[f64] = &[
    0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
    1.0, 2.5, 5.0, 10.0,
];
/// Purchases in a batch: up to `BATCH_MAX_SIZE`'s default and past it.
const BATCH_SIZES: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0];

/// How often histogram samples are folded into buckets.
const UPKEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

/// The process's one recorder; the first server to serve metrics installs
/// it (tests start several in one process).
static RECORDER: OnceLock<PrometheusHandle> = OnceLock::new();

fn recorder() -> anyhow::Result<&'static PrometheusHandle> {
    if let Some(handle) = RECORDER.get() {
        return Ok(handle);
    }
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".to_owned()), SECONDS)?
        .set_buckets_for_metric(
            Matcher::Full("recordshop_batch_size".to_owned()),
            BATCH_SIZES,
        )?
        .install_recorder()
        .context("installing the metrics recorder")?;
    describe();
    // Shown as 0 from the first scrape on, so "none yet" reads as a zero,
    // not as a missing family.
    for counter in [
        "recordshop_db_statement_timeouts_total",
        "recordshop_db_serialization_conflicts_total",
    ] {
        metrics::counter!(counter).absolute(0);
    }
    let handle = RECORDER.get_or_init(|| handle);
    // Histograms keep their raw samples until upkeep folds them into
    // buckets; without it a server nobody scrapes would grow by every
    // request it answers.
    std::thread::Builder::new()
        .name("metrics-upkeep".to_owned())
        .spawn(|| {
            loop {
                std::thread::sleep(UPKEEP_EVERY);
                handle.run_upkeep();
            }
        })
        .context("starting the metrics upkeep thread")?;
    Ok(handle)
}

/// What every family measures, for the `# HELP` lines.
fn describe() {
    describe_counter!(
        "recordshop_http_requests_total",
        "HTTP requests answered, by method, route pattern and status"
    );
    describe_histogram!(
        "recordshop_http_request_duration_seconds",
        Unit::Seconds,
        "Time from a request's arrival to its answer, by method and route pattern"
    );
    describe_counter!(
        "recordshop_purchases_total",
        "Purchases by concurrency strategy and outcome (confirmed, out_of_stock, \
         customer_inactive, not_found, contention, unavailable, overloaded, replayed, key_reused, error)"
    );
    describe_counter!(
        "recordshop_purchase_attempts_total",
        "Tries at placing an order, retries of aborted units of work included, by strategy"
    );
    describe_counter!(
        "recordshop_db_serialization_conflicts_total",
        "Units of work PostgreSQL aborted for a serialization failure or deadlock (40001, 40P01)"
    );
    describe_histogram!(
        "recordshop_lock_wait_seconds",
        Unit::Seconds,
        "Time to read and lock a disc's row (SELECT … FOR UPDATE) in a purchase, by strategy"
    );
    describe_histogram!(
        "recordshop_batch_size",
        Unit::Count,
        "Purchases per batch of the batched strategy"
    );
    describe_histogram!(
        "recordshop_intake_batch_size",
        Unit::Count,
        "Purchases per intake batch of the queued strategy (and the hybrid's queued path)"
    );
    describe_histogram!(
        "recordshop_batch_queue_seconds",
        Unit::Seconds,
        "Time a purchase waited for its batch to start"
    );
    describe_counter!(
        "recordshop_idempotency_replays_total",
        "Creates answered from an earlier request with the same Idempotency-Key, by operation"
    );
    describe_counter!(
        "recordshop_idempotency_key_conflicts_total",
        "Idempotency-Keys reused with another request (422), by operation"
    );
    describe_histogram!(
        "recordshop_db_statement_duration_seconds",
        Unit::Seconds,
        "Time of each SQL statement, by statement name"
    );
    describe_histogram!(
        "recordshop_db_pool_wait_seconds",
        Unit::Seconds,
        "Time a request waited for a database connection"
    );
    describe_counter!(
        "recordshop_db_errors_total",
        "Database errors by SQLSTATE class (`connection` when the connection itself failed)"
    );
    describe_counter!(
        "recordshop_db_statement_timeouts_total",
        "Statements cancelled by statement_timeout (57014)"
    );
    describe_counter!(
        "recordshop_catalog_reads_total",
        "With DATABASE_READ_URL: disc pages and listings read, by where (standby, primary)"
    );
    describe_counter!(
        "recordshop_orders_dead_lettered_total",
        "Pending orders rejected as allocation_failed after failing allocation repeatedly"
    );
    describe_counter!(
        "recordshop_breaker_transitions_total",
        "hybrid: changes of this instance's purchase circuit breaker, by the state entered (open, half_open, closed)"
    );
    for (gauge, what) in [
        (
            "recordshop_standby_usable",
            "With DATABASE_READ_URL: 1 while the standby serves catalog reads, 0 while they go to the primary",
        ),
        (
            "recordshop_standby_lag_seconds",
            "With DATABASE_READ_URL: the standby's replay lag at its last probe",
        ),
        (
            "recordshop_breaker_state",
            "hybrid: this instance's purchase circuit breaker: 0 closed (synchronous), 1 half-open (probing), 2 open (purchases queued)",
        ),
        (
            "recordshop_db_pool_max_size",
            "Connections the pool may open",
        ),
        ("recordshop_db_pool_size", "Connections the pool holds"),
        (
            "recordshop_admission_limit",
            "Purchases admitted in flight at once at most (0: no limit)",
        ),
        ("recordshop_admission_in_flight", "Purchases in flight now"),
        (
            "recordshop_admission_waiting",
            "Purchases waiting for a place now; a full queue or a wait past ADMISSION_QUEUE_MS answers 503 overloaded",
        ),
        ("recordshop_db_pool_in_use", "Connections handed out"),
        (
            "recordshop_db_pool_waiting",
            "Callers waiting for a connection",
        ),
    ] {
        describe_gauge!(gauge, what);
    }
}

/// One scrape: what is read rather than recorded, then the text format.
async fn scrape(
    handle: web::Data<PrometheusHandle>,
    process: web::Data<metrics_process::Collector>,
    pool: web::Data<Pool>,
    admission: web::Data<Admission>,
) -> HttpResponse {
    process.collect();
    recordshop_postgres::record_pool_metrics(&pool);
    metrics::gauge!("recordshop_admission_limit").set(admission.limit() as f64);
    metrics::gauge!("recordshop_admission_in_flight").set(admission.in_flight() as f64);
    metrics::gauge!("recordshop_admission_waiting").set(admission.waiting() as f64);
    handle.run_upkeep();
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(handle.render())
}

/// Serves `GET /metrics` on `listener` until stopped: the pool's and the
/// admission's gauges and the process's figures are read on each scrape.
///
/// # Errors
/// When the recorder cannot be installed or the listener used.
pub(crate) fn serve(
    listener: TcpListener,
    pool: Pool,
    admission: Admission,
) -> anyhow::Result<Server> {
    let handle = web::Data::new(recorder()?.clone());
    let process = web::Data::new(metrics_process::Collector::default());
    process.describe();
    let pool = web::Data::new(pool);
    let admission = web::Data::new(admission);
    let server = HttpServer::new(move || {
        App::new()
            .app_data(handle.clone())
            .app_data(process.clone())
            .app_data(pool.clone())
            .app_data(admission.clone())
            .route("/metrics", web::get().to(scrape))
    })
    .workers(1)
    .disable_signals()
    .shutdown_timeout(1)
    .listen(listener)
    .context("listening for metrics")?
    .run();
    Ok(server)
}
