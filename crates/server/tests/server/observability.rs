//! Metrics and traces of the real binary, each server its own process (the
//! metrics recorder is one per process): known traffic, then a scrape of
//! `/metrics` with exact counts, and traces received by an OTLP receiver.

use std::path::PathBuf;
use std::time::Duration;

use recordshop_harness::api::{Api, ClientOptions, NewCustomer, NewDisc, Reply, Request};
use recordshop_harness::otlp::{ReceivedSpan, Receiver};
use recordshop_harness::scrape::Scrape;
use recordshop_harness::server::{Launch, Program, Server};
use recordshop_harness::signing::SigningKey;
use recordshop_postgres::ConcurrencyStrategy;
use recordshop_testdb::TestDatabase;
use reqwest::Method;
use uuid::Uuid;

const READY_WITHIN: Duration = Duration::from_secs(30);

struct Running {
    _db: TestDatabase,
    launch: Launch,
    server: Server,
    api: Api,
    token: String,
}

async fn start(strategy: ConcurrencyStrategy, settings: &[(&str, &str)]) -> Running {
    let db = TestDatabase::create().await.unwrap();
    let key = SigningKey::random();
    let token = key
        .staff_token("observer", Duration::from_secs(600))
        .unwrap();
    let mut launch = Launch::new(
        Program::Binary(PathBuf::from(env!("CARGO_BIN_EXE_recordshop"))),
        db.url().clone(),
        key,
    )
    .unwrap()
    .strategy(strategy)
    .with_metrics()
    .unwrap();
    for (name, value) in settings {
        launch = launch.setting(name, value).unwrap();
    }
    let mut server = launch.start().unwrap();
    server.wait_ready_async(READY_WITHIN).await.unwrap();
    let api = Api::new(&launch.base_url(), ClientOptions::default())
        .unwrap()
        .with_token(&token)
        .unwrap();
    Running {
        _db: db,
        launch,
        server,
        api,
        token,
    }
}

/// A server exporting its traces to a receiver of this test, in batches
/// sent every 100 ms; `settings` on top.
async fn start_traced(
    strategy: ConcurrencyStrategy,
    settings: &[(&str, &str)],
) -> (Receiver, Running) {
    let receiver = Receiver::start().unwrap();
    let endpoint = receiver.endpoint();
    let mut all = vec![
        ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
        ("OTEL_BSP_SCHEDULE_DELAY", "100"),
    ];
    all.extend_from_slice(settings);
    let running = start(strategy, &all).await;
    (receiver, running)
}

impl Running {
    async fn scrape(&self) -> Scrape {
        Scrape::fetch(&self.launch.metrics_url().unwrap())
            .await
            .unwrap()
    }

    async fn stop(self) {
        let exit = self
            .server
            .terminate_async(Duration::from_secs(10))
            .await
            .unwrap();
        assert!(exit.is_clean(), "{exit:?}");
    }
}

async fn disc(api: &Api, quantity: i64) -> Uuid {
    api.create_disc(&NewDisc {
        name: "Counted".into(),
        artist: "The Metrics".into(),
        year_of_release: 2020,
        genre: "rock".into(),
        quantity,
    })
    .await
    .unwrap()
}

async fn customer(api: &Api, tag: &str) -> Uuid {
    api.create_customer(&NewCustomer {
        document: format!("obs-{tag}"),
        name: "Olga Observer".into(),
        birth_date: "1980-01-01".into(),
        email: format!("olga.{tag}@example.com"),
        phone: "+55 11 5555-0000".into(),
    })
    .await
    .unwrap()
}

fn purchase(customer: Uuid, disc: Uuid, quantity: i64, key: Option<Uuid>) -> Request {
    Request::Purchase {
        customer,
        disc,
        quantity,
        key,
    }
}

#[tokio::test]
async fn a_scrape_after_known_traffic_counts_every_family_exactly() {
    // A short statement timeout, so that a purchase stuck behind a row the
    // test holds locked times out: an outage on demand.
    let running = start(
        ConcurrencyStrategy::Pessimistic,
        &[("DB_STATEMENT_TIMEOUT_MS", "300"), ("DB_POOL_SIZE", "4")],
    )
    .await;
    let api = &running.api;
    let stocked = disc(api, 5).await;
    let buyer = customer(api, "buyer").await;
    let leaver = customer(api, "leaver").await;
    for _ in 0..2 {
        assert_eq!(
            api.send(&Request::GetDisc { disc: stocked }).await.status(),
            200
        );
    }
    assert_eq!(
        api.call(Method::GET, "/no/such/route", None).await.status(),
        404
    );
    for _ in 0..3 {
        assert!(
            api.send(&purchase(buyer, stocked, 1, None))
                .await
                .is_created()
        );
    }
    assert_eq!(
        api.send(&purchase(buyer, stocked, 10, None)).await.status(),
        409
    );
    let unknown = Uuid::new_v4();
    assert_eq!(
        api.send(&purchase(buyer, unknown, 1, None)).await.status(),
        404
    );
    let path = format!("/customers/{leaver}");
    assert_eq!(api.call(Method::DELETE, &path, None).await.status(), 204);
    assert_eq!(
        api.send(&purchase(leaver, stocked, 1, None)).await.status(),
        422
    );
    let key = Uuid::new_v4();
    assert!(
        api.send(&purchase(buyer, stocked, 1, Some(key)))
            .await
            .is_created()
    );
    let replay = api.send(&purchase(buyer, stocked, 1, Some(key))).await;
    assert!(matches!(&replay, Reply::Answer(answer) if answer.replayed));
    assert_eq!(
        api.send(&purchase(buyer, stocked, 2, Some(key)))
            .await
            .status(),
        422
    );
    // The row held by another session: the purchase waits past the
    // statement timeout and answers 503.
    let holder = running._db.client().await.unwrap();
    holder.batch_execute("BEGIN").await.unwrap();
    holder
        .execute("SELECT 1 FROM discs WHERE id = $1 FOR UPDATE", &[&stocked])
        .await
        .unwrap();
    assert_eq!(
        api.send(&purchase(buyer, stocked, 1, None)).await.status(),
        503
    );
    holder.batch_execute("ROLLBACK").await.unwrap();

    let scrape = running.scrape().await;
    let count = |name: &str, labels: &[(&str, &str)]| scrape.sum(name, labels);
    let get_disc = [
        ("method", "GET"),
        ("route", "/discs/{id}"),
        ("status", "200"),
    ];
    assert_eq!(count("recordshop_http_requests_total", &get_disc), 2.0);
    assert_eq!(
        count(
            "recordshop_http_requests_total",
            &[("route", "<unmatched>"), ("status", "404")]
        ),
        1.0
    );
    assert_eq!(
        count(
            "recordshop_http_request_duration_seconds_count",
            &[("method", "GET"), ("route", "/discs/{id}")]
        ),
        2.0
    );
    assert_eq!(
        count(
            "recordshop_http_requests_total",
            &[("route", "/purchase-orders"), ("method", "POST")]
        ),
        10.0
    );
    let outcome = |outcome: &str| {
        count(
            "recordshop_purchases_total",
            &[("strategy", "pessimistic"), ("outcome", outcome)],
        )
    };
    assert_eq!(outcome("confirmed"), 4.0);
    assert_eq!(outcome("out_of_stock"), 1.0);
    assert_eq!(outcome("not_found"), 1.0);
    assert_eq!(outcome("customer_inactive"), 1.0);
    assert_eq!(outcome("replayed"), 1.0);
    assert_eq!(outcome("key_reused"), 1.0);
    assert_eq!(outcome("unavailable"), 1.0);
    assert_eq!(outcome("contention"), 0.0);
    // One try each: nothing conflicted under the row lock.
    assert_eq!(
        count(
            "recordshop_purchase_attempts_total",
            &[("strategy", "pessimistic")]
        ),
        10.0
    );
    assert_eq!(
        count("recordshop_db_serialization_conflicts_total", &[]),
        0.0
    );
    let replays = [("operation", "purchase_order")];
    assert_eq!(count("recordshop_idempotency_replays_total", &replays), 1.0);
    assert_eq!(
        count("recordshop_idempotency_key_conflicts_total", &replays),
        1.0
    );
    assert_eq!(count("recordshop_db_statement_timeouts_total", &[]), 1.0);
    assert_eq!(count("recordshop_db_errors_total", &[("class", "57")]), 1.0);
    // The lock waits: one per confirmed purchase and the stuck one, at the
    // timeout. Refusals the first look decides (stock, customer, disc) take
    // no lock.
    let lock_waits = [("strategy", "pessimistic")];
    let waits = count("recordshop_lock_wait_seconds_count", &lock_waits);
    assert_eq!(waits, 5.0, "{waits} lock waits");
    let slowest = scrape
        .buckets("recordshop_lock_wait_seconds", &lock_waits)
        .iter()
        .filter(|(bound, _)| *bound < 0.25)
        .map(|(_, count)| *count)
        .fold(0.0, f64::max);
    assert!(
        count("recordshop_lock_wait_seconds_count", &lock_waits) - slowest >= 1.0,
        "the 300 ms wait is in a bucket of its own"
    );
    assert_eq!(
        count(
            "recordshop_db_statement_duration_seconds_count",
            &[("statement", "lock_disc")]
        ),
        5.0
    );
    // Every purchase that reached the store looked first: the five that
    // locked and the three refusals.
    assert_eq!(
        count(
            "recordshop_db_statement_duration_seconds_count",
            &[("statement", "look_at_buyer_and_disc")]
        ),
        8.0
    );
    assert!(count("recordshop_db_pool_wait_seconds_count", &[]) >= 10.0);
    assert_eq!(count("recordshop_db_pool_max_size", &[]), 4.0);
    assert_eq!(count("recordshop_db_pool_waiting", &[]), 0.0);
    assert!(count("recordshop_db_pool_size", &[]) >= 1.0);
    assert!(count("process_resident_memory_bytes", &[]) > 1e6);
    assert!(count("process_open_fds", &[]) > 0.0);
    assert!(
        scrape
            .0
            .iter()
            .any(|s| s.name == "process_cpu_seconds_total")
    );
    // Nothing a client wrote, nor an id, is a label.
    for sample in &scrape.0 {
        for value in sample.labels.values() {
            assert!(
                !value.contains(&stocked.to_string()) && !value.contains("olga"),
                "{sample:?}"
            );
        }
    }
    running.stop().await;
}

#[tokio::test]
async fn batched_purchases_count_their_batches() {
    let running = start(ConcurrencyStrategy::Batched, &[]).await;
    let api = &running.api;
    let stocked = disc(api, 100).await;
    let buyer = customer(api, "batched").await;
    for _ in 0..5 {
        assert!(
            api.send(&purchase(buyer, stocked, 1, None))
                .await
                .is_created()
        );
    }
    let scrape = running.scrape().await;
    // One after the other: five batches of one.
    assert_eq!(scrape.sum("recordshop_batch_size_count", &[]), 5.0);
    assert_eq!(scrape.sum("recordshop_batch_size_sum", &[]), 5.0);
    assert_eq!(scrape.sum("recordshop_batch_queue_seconds_count", &[]), 5.0);
    assert_eq!(
        scrape.sum(
            "recordshop_purchases_total",
            &[("strategy", "batched"), ("outcome", "confirmed")]
        ),
        5.0
    );
    running.stop().await;
}

#[tokio::test]
async fn optimistic_attempts_are_the_purchases_plus_the_conflicts_they_retried() {
    let running = start(ConcurrencyStrategy::Optimistic, &[]).await;
    let api = &running.api;
    let stocked = disc(api, 1_000).await;
    let buyer = customer(api, "optimist").await;
    let one = purchase(buyer, stocked, 1, None);
    let all = futures_util::future::join_all((0..40).map(|_| api.send(&one))).await;
    assert!(
        all.iter()
            .all(|reply| reply.is_created() || reply.status() == 503)
    );
    let scrape = running.scrape().await;
    let purchases = scrape.sum("recordshop_purchases_total", &[("strategy", "optimistic")]);
    let gave_up = scrape.sum(
        "recordshop_purchases_total",
        &[("strategy", "optimistic"), ("outcome", "contention")],
    );
    // Shed by admission control before any try (40 at once against a
    // limit of 32 in flight, on a busy machine).
    let shed = scrape.sum(
        "recordshop_purchases_total",
        &[("strategy", "optimistic"), ("outcome", "overloaded")],
    );
    let conflicts = scrape.sum("recordshop_db_serialization_conflicts_total", &[]);
    let attempts = scrape.sum(
        "recordshop_purchase_attempts_total",
        &[("strategy", "optimistic")],
    );
    assert_eq!(purchases, 40.0);
    // Each try ends in an outcome or a conflict; a conflict retried is
    // one more try, and the last conflict of a purchase that gave up is
    // its outcome too; a shed purchase made no try.
    assert_eq!(
        attempts,
        purchases - gave_up - shed + conflicts,
        "{scrape:?}"
    );
    running.stop().await;
}

#[tokio::test]
async fn traces_follow_a_request_from_the_callers_span_to_its_sql() {
    let (receiver, running) = start_traced(
        ConcurrencyStrategy::Pessimistic,
        &[("OTEL_SERVICE_NAME", "recordshop-under-test")],
    )
    .await;
    let stocked = disc(&running.api, 3).await;
    let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let caller = "00f067aa0ba902b7";
    let response = reqwest::Client::new()
        .get(format!("{}/discs/{stocked}", running.launch.base_url()))
        .header("traceparent", format!("00-{trace}-{caller}-01"))
        .header("x-request-id", "traced-request-1")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let spans = receiver
        .wait_for(Duration::from_secs(15), |spans| {
            spans
                .iter()
                .any(|s| s.trace_id == trace && s.name == "select_disc")
        })
        .await;
    let ours: Vec<&ReceivedSpan> = spans.iter().filter(|s| s.trace_id == trace).collect();
    let find = |name: &str| {
        ours.iter()
            .find(|span| span.name == name)
            .copied()
            .unwrap_or_else(|| panic!("no {name} span in {ours:#?}"))
    };
    let request = find("GET /discs/{id}");
    assert_eq!(
        request.parent_span_id, caller,
        "the caller's trace continues"
    );
    assert_eq!(request.attributes["request_id"], "traced-request-1");
    assert_eq!(request.attributes["http.route"], "/discs/{id}");
    assert_eq!(request.service, "recordshop-under-test");
    let service = find("discs.get");
    let sql = find("select_disc");
    assert_eq!(sql.attributes["db.system.name"], "postgresql");
    let ancestors = |span: &ReceivedSpan| {
        let mut chain = Vec::new();
        let mut parent = span.parent_span_id.clone();
        while let Some(up) = ours.iter().find(|s| s.span_id == parent) {
            chain.push(up.name.clone());
            parent = up.parent_span_id.clone();
        }
        chain
    };
    assert!(
        ancestors(service).contains(&request.name),
        "{:?}",
        ancestors(service)
    );
    assert!(
        ancestors(sql).contains(&service.name),
        "{:?}",
        ancestors(sql)
    );
    // Parameters never become attributes.
    for span in &ours {
        for value in span.attributes.values() {
            assert!(!value.contains(&stocked.to_string()) || span.name != "select_disc");
        }
    }
    running.stop().await;
}

#[tokio::test]
async fn a_sampled_out_trace_creates_no_span_and_a_callers_decision_is_followed() {
    let (receiver, running) = start_traced(
        ConcurrencyStrategy::Pessimistic,
        &[
            ("OTEL_TRACES_SAMPLER", "parentbased_traceidratio"),
            ("OTEL_TRACES_SAMPLER_ARG", "0"),
        ],
    )
    .await;
    let stocked = disc(&running.api, 3).await;
    let url = format!("{}/discs/{stocked}", running.launch.base_url());
    let client = reqwest::Client::new();
    let declined = "0af7651916cd43dd8448eb211c80319c";
    let kept = "4bf92f3577b34da6a3ce929d0e0e4736";
    for traceparent in [None, Some(format!("00-{declined}-b7ad6b7169203331-00"))] {
        let mut request = client.get(&url);
        if let Some(traceparent) = traceparent {
            request = request.header("traceparent", traceparent);
        }
        assert_eq!(request.send().await.unwrap().status(), 200);
    }
    let response = client
        .get(&url)
        .header("traceparent", format!("00-{kept}-00f067aa0ba902b7-01"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let spans = receiver
        .wait_for(Duration::from_secs(15), |spans| {
            spans
                .iter()
                .any(|s| s.trace_id == kept && s.name == "select_disc")
        })
        .await;
    let names: Vec<&str> = spans
        .iter()
        .filter(|s| s.trace_id == kept)
        .map(|s| s.name.as_str())
        .collect();
    for expected in ["GET /discs/{id}", "get_disc", "discs.get", "select_disc"] {
        assert!(
            names.contains(&expected),
            "{expected} missing from {names:?}"
        );
    }
    // Neither the unsampled request, nor the caller's declined trace, nor
    // anything in the background (the creation above, the pool) left a
    // span: none was created below an unkept root.
    let strays: Vec<(&str, &str)> = spans
        .iter()
        .filter(|s| s.trace_id != kept)
        .map(|s| (s.trace_id.as_str(), s.name.as_str()))
        .collect();
    assert!(strays.is_empty(), "{strays:?}");
    running.stop().await;
}

#[tokio::test]
async fn below_a_trace_not_kept_no_span_starts_a_trace_of_its_own() {
    // Every trace is kept (the default sampler) but the caller's: the
    // spans below its request must not become roots of traces of their own.
    let (receiver, running) = start_traced(ConcurrencyStrategy::Pessimistic, &[]).await;
    let stocked = disc(&running.api, 3).await;
    let url = format!("{}/discs/{stocked}", running.launch.base_url());
    let client = reqwest::Client::new();
    let declined = "0af7651916cd43dd8448eb211c80319c";
    let response = client
        .get(&url)
        .header("traceparent", format!("00-{declined}-b7ad6b7169203331-00"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    // A kept request afterwards: once it is in, the declined one's would be.
    assert_eq!(client.get(&url).send().await.unwrap().status(), 200);
    let spans = receiver
        .wait_for(Duration::from_secs(15), |spans| {
            spans.iter().any(|s| s.name == "GET /discs/{id}")
        })
        .await;
    let reads: Vec<(&str, &str)> = spans
        .iter()
        .filter(|s| {
            ["GET /discs/{id}", "get_disc", "discs.get", "select_disc"].contains(&s.name.as_str())
        })
        .map(|s| (s.trace_id.as_str(), s.name.as_str()))
        .collect();
    assert!(
        reads.iter().all(|(trace, _)| *trace != declined),
        "{reads:?}"
    );
    let traces: std::collections::BTreeSet<&str> = reads.iter().map(|(trace, _)| *trace).collect();
    assert_eq!(traces.len(), 1, "one read, one trace: {reads:?}");
    assert_eq!(reads.len(), 4, "{reads:?}");
    running.stop().await;
}

#[tokio::test]
async fn a_batch_is_a_trace_of_its_own_linked_to_each_callers() {
    let (receiver, running) = start_traced(ConcurrencyStrategy::Batched, &[]).await;
    let stocked = disc(&running.api, 10).await;
    let buyer = customer(&running.api, "batch-trace").await;
    let callers = [
        "11111111111111111111111111111111",
        "22222222222222222222222222222222",
        "33333333333333333333333333333333",
    ];
    let client = reqwest::Client::new();
    let url = format!("{}/purchase-orders", running.launch.base_url());
    let sent = callers.map(|trace| {
        client
            .post(&url)
            .bearer_auth(&running.token)
            .header("traceparent", format!("00-{trace}-00f067aa0ba902b7-01"))
            .json(&serde_json::json!({"customer_id": buyer, "disc_id": stocked, "quantity": 1}))
            .send()
    });
    for response in futures_util::future::join_all(sent).await {
        assert_eq!(response.unwrap().status(), 201);
    }
    let spans = receiver
        .wait_for(Duration::from_secs(15), |spans| {
            let batched: i64 = spans
                .iter()
                .filter(|s| s.name == "batch")
                .filter_map(|s| s.attributes.get("size")?.parse::<i64>().ok())
                .sum();
            batched == 3
                && callers.iter().all(|trace| {
                    spans
                        .iter()
                        .any(|s| s.trace_id == *trace && s.name.starts_with("POST"))
                })
        })
        .await;
    let batches: Vec<&ReceivedSpan> = spans.iter().filter(|s| s.name == "batch").collect();
    for batch in &batches {
        assert!(
            batch.parent_span_id.is_empty(),
            "a batch starts its own trace: {batch:?}"
        );
        assert!(!callers.contains(&batch.trace_id.as_str()), "{batch:?}");
        assert_eq!(batch.attributes["disc_id"], stocked.to_string());
        assert!(batch.attributes.contains_key("confirmed"), "{batch:?}");
        // Each link names a span of a caller's trace that was received.
        for (trace, span) in &batch.links {
            assert!(
                spans
                    .iter()
                    .any(|s| s.trace_id == *trace && s.span_id == *span),
                "link to an unknown span {trace}/{span}"
            );
        }
    }
    for trace in callers {
        assert!(
            batches
                .iter()
                .any(|b| b.links.iter().any(|(linked, _)| linked == trace)),
            "no batch links to the caller's trace {trace}: {batches:#?}"
        );
    }
    running.stop().await;
}
