//! Catalog reads from a standby (`DATABASE_READ_URL`) on a real
//! pg_auto_failover formation (harness `Formation`): served by the standby
//! while it streams, by the primary once it is stopped, never an error
//! meanwhile, and by the standby again once it is back.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use recordshop_harness::api::{Api, ClientOptions, NewDisc};
use recordshop_harness::postgres::{DatabaseName, Formation, FormationSettings};
use recordshop_harness::scrape::Scrape;
use recordshop_harness::server::{Launch, Program};
use recordshop_harness::signing::SigningKey;

const READY_WITHIN: Duration = Duration::from_secs(60);
/// The probe runs every 200 ms; a node stops or starts within seconds.
const SETTLES_WITHIN: Duration = Duration::from_secs(30);

async fn reads_from(metrics: &str, source: &str) -> f64 {
    Scrape::fetch(metrics)
        .await
        .unwrap()
        .sum("recordshop_catalog_reads_total", &[("source", source)])
}

/// Reads the disc until `source` has served one more read than before;
/// every answer on the way must be 200.
async fn until_served_by(api: &Api, metrics: &str, disc: uuid::Uuid, source: &str) {
    let before = reads_from(metrics, source).await;
    let started = Instant::now();
    loop {
        let status = api.status(&format!("/discs/{disc}")).await;
        assert_eq!(status, Some(200), "a catalog read failed");
        if reads_from(metrics, source).await > before {
            return;
        }
        assert!(
            started.elapsed() < SETTLES_WITHIN,
            "no read served by the {source} within {SETTLES_WITHIN:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catalog_reads_come_from_the_standby_and_fall_back_to_the_primary() {
    if let Err(error) = Formation::check_available() {
        eprintln!("\n*** SKIPPED: the standby test needs pg_auto_failover: {error:#} ***\n");
        return;
    }
    let mut formation =
        tokio::task::spawn_blocking(|| Formation::scratch(&FormationSettings::default()))
            .await
            .unwrap()
            .unwrap();
    let name = DatabaseName::scratch("standby", &["reads"], "test").unwrap();
    let primary = formation.ensure_database(&name).await.unwrap();
    let standby = formation.read_only_url(&name.to_string());
    let key = SigningKey::random();
    let token = key.staff_token("reader", Duration::from_secs(600)).unwrap();
    let launch = Launch::new(
        Program::Binary(PathBuf::from(env!("CARGO_BIN_EXE_recordshop"))),
        primary,
        key,
    )
    .unwrap()
    .with_metrics()
    .unwrap()
    .setting("DATABASE_READ_URL", &standby.to_url())
    .unwrap();
    let mut server = launch.start().unwrap();
    server.wait_ready_async(READY_WITHIN).await.unwrap();
    let metrics = launch.metrics_url().unwrap();
    let api = Api::new(&launch.base_url(), ClientOptions::default())
        .unwrap()
        .with_token(&token)
        .unwrap();
    let disc = api
        .create_disc(&NewDisc {
            name: "Read Me".into(),
            artist: "The Replicas".into(),
            year_of_release: 2001,
            genre: "Rock".into(),
            quantity: 3,
        })
        .await
        .unwrap();

    until_served_by(&api, &metrics, disc, "standby").await;

    let standby_node = formation
        .primary()
        .await
        .unwrap()
        .and_then(|primary| {
            formation
                .data_nodes()
                .into_iter()
                .find(|node| *node != primary.name)
                .map(str::to_owned)
        })
        .expect("a primary and a standby");
    formation.stop_node(&standby_node).unwrap();
    until_served_by(&api, &metrics, disc, "primary").await;
    assert_eq!(api.status("/discs").await, Some(200));

    formation.start_node(&standby_node).unwrap();
    until_served_by(&api, &metrics, disc, "standby").await;

    server
        .terminate_async(Duration::from_secs(10))
        .await
        .unwrap();
}
