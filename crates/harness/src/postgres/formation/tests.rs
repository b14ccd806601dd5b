use std::path::Path;
use std::time::{Duration, Instant};

use super::node::{parse_settings, render_settings};
use super::*;
use crate::postgres::{DatabaseName, connect};

fn state(name: &str, reported: &str, goal: &str) -> NodeState {
    NodeState {
        name: name.to_owned(),
        port: 1,
        reported: reported.to_owned(),
        goal: goal.to_owned(),
        running: true,
        report_age: Duration::ZERO,
    }
}

#[test]
fn ready_means_a_settled_primary_and_secondary() {
    assert!(!state("a", "primary", "draining").is("primary"));
    assert!(is_ready(&[
        state("a", "primary", "primary"),
        state("b", "secondary", "secondary")
    ]));
    assert!(is_ready(&[
        state("a", "secondary", "secondary"),
        state("b", "primary", "primary")
    ]));
    assert!(!is_ready(&[
        state("a", "wait_primary", "primary"),
        state("b", "catchingup", "secondary")
    ]));
    assert!(!is_ready(&[state("a", "primary", "primary")]));
}

#[test]
fn settings_are_quoted_for_postgresql_auto_conf() {
    assert_eq!(
        render_settings(&[
            ("unix_socket_directories", ""),
            ("application_name", "it's")
        ]),
        "unix_socket_directories = ''\napplication_name = 'it''s'\n"
    );
    let given = vec!["max_connections = 300".to_owned()];
    assert_eq!(
        parse_settings(&given).unwrap(),
        vec![("max_connections", "300")]
    );
    assert!(parse_settings(&["fsync".to_owned()]).is_err());
}

/// Whether a formation can be made here; says why not when it cannot
/// (`cargo xtask test` says so loudly before the tests run).
fn formation_possible() -> bool {
    match Formation::check_available() {
        Ok(()) => true,
        Err(error) => {
            eprintln!("\n*** SKIPPED: the formation test needs pg_auto_failover: {error:#} ***\n");
            false
        }
    }
}

/// The rows of `t` on the standby, once it has replayed them (a commit
/// waits for the standby's flush, not its replay; nor did the database's
/// creation), and whether the session there is read-only.
async fn rows_on_the_standby(formation: &Formation, rows: i64) -> anyhow::Result<bool> {
    let replayed = Instant::now();
    loop {
        if let Ok(reader) = connect(&formation.read_only_url("shop")).await
            && let Ok(row) = reader.query_one("SELECT count(*) FROM t", &[]).await
            && row.get::<_, i64>(0) == rows
        {
            return Ok(reader
                .query_one("SELECT pg_is_in_recovery()", &[])
                .await?
                .get(0));
        }
        anyhow::ensure!(
            replayed.elapsed() < Duration::from_secs(30),
            "the standby never showed {rows} rows"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Inserts a row through the read-write URL, retrying (a failover under
/// way) for a minute; returns how long the first attempt took to succeed.
async fn insert(formation: &Formation) -> anyhow::Result<Duration> {
    let started = Instant::now();
    loop {
        if let Ok(client) = connect(&formation.url("shop")).await
            && client
                .batch_execute("INSERT INTO t VALUES (1)")
                .await
                .is_ok()
        {
            return Ok(started.elapsed());
        }
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(60),
            "no write succeeded for a minute"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn settled_primary(formation: &Formation) -> String {
    let primary = blocking(formation.primary()).unwrap();
    primary.map(|node| node.name).unwrap()
}

/// The real thing (about 30 s): a monitor, a primary and a standby come up
/// on loopback; the database made through the read-write URL and a row
/// written there are on the standby, read through the read-only URL; the
/// standby is synchronous; stopped and started again, the formation keeps
/// its data and its roles; the primary killed, the standby takes writes,
/// and the old primary rejoins as the standby; dropped, it leaves nothing
/// running.
#[test]
fn a_scratch_formation_replicates_restarts_and_fails_over() {
    if !formation_possible() {
        return;
    }
    let started = Instant::now();
    let mut formation = Formation::scratch(&FormationSettings::default()).unwrap();
    eprintln!(
        "formation up in {:?}: {}",
        started.elapsed(),
        formation.describe()
    );
    let database = DatabaseName::parse("shop").unwrap();
    let (sync_state, sync_names, read_only) = blocking(async {
        let url = formation.ensure_database(&database).await?;
        assert_eq!(formation.ensure_database(&database).await?, url);
        let writer = connect(&url).await?;
        writer
            .batch_execute("CREATE TABLE t (x int); INSERT INTO t VALUES (42)")
            .await?;
        let state = writer
            .query_one("SELECT sync_state FROM pg_stat_replication", &[])
            .await?;
        let names = writer
            .query_one("SHOW synchronous_standby_names", &[])
            .await?;
        let read_only = rows_on_the_standby(&formation, 1).await?;
        Ok((
            state.get::<_, String>(0),
            names.get::<_, String>(0),
            read_only,
        ))
    })
    .unwrap();
    // `ANY 1 (…)` is quorum commit: synchronous, and reported as `quorum`.
    assert!(sync_names.starts_with("ANY 1 ("), "{sync_names}");
    assert_eq!(sync_state, "quorum");
    assert!(read_only);
    for name in formation.data_nodes() {
        let port = formation
            .node_url(name, "shop")
            .unwrap()
            .config()
            .get_ports()[0];
        assert!(!Path::new(&format!("/var/run/postgresql/.s.PGSQL.{port}")).exists());
        assert!(!Path::new(&format!("/tmp/.s.PGSQL.{port}")).exists());
    }
    let primary = settled_primary(&formation);
    let pids: Vec<u32> = formation
        .data_nodes()
        .iter()
        .flat_map(|name| [formation.postmaster_pid(name), formation.keeper_pid(name)])
        .map(|pid| pid.unwrap().unwrap())
        .collect();

    let restarted = Instant::now();
    formation.stop().unwrap();
    assert!(pids.iter().all(|pid| !process::is_alive(*pid)));
    formation.start().unwrap();
    eprintln!("stopped and started again in {:?}", restarted.elapsed());
    assert_eq!(settled_primary(&formation), primary);
    blocking(insert(&formation)).unwrap();

    formation.kill_node(&primary).unwrap();
    let window = blocking(insert(&formation)).unwrap();
    eprintln!("{primary} killed: writes again after {window:?}");
    formation.start_node(&primary).unwrap();
    let rejoined = formation.wait_ready(Duration::from_secs(120)).unwrap();
    eprintln!("{primary} rejoined as the standby in {rejoined:?}");
    assert_ne!(settled_primary(&formation), primary);
    assert!(blocking(rows_on_the_standby(&formation, 3)).unwrap());

    let folder = formation.folder().to_path_buf();
    let pids: Vec<u32> = formation
        .data_nodes()
        .iter()
        .filter_map(|name| formation.postmaster_pid(name).unwrap())
        .collect();
    assert_eq!(pids.len(), 2);
    drop(formation);
    assert!(pids.iter().all(|pid| !process::is_alive(*pid)));
    assert!(!folder.exists());
    eprintln!("the whole test took {:?}", started.elapsed());
}
