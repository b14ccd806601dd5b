//! The database's own ceilings: pgbench running the purchase's SQL shapes
//! with no HTTP in between, on a scratch database populated like the
//! scenario. A strategy's orders/s is then shown as a share of its shape.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, bail};
use recordshop_harness::postgres::{Admin, DatabaseName, DatabaseUrl, connect};
use recordshop_postgres::ConcurrencyStrategy;
use serde::Serialize;
use tokio::process::Command;
use tokio::time::timeout;

use crate::scenario::{Scenario, UNLIMITED_STOCK};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Shape {
    /// (a) One statement: conditional decrement and order insert in a CTE.
    SingleStatement,
    /// (b) BEGIN; select customer; select disc FOR UPDATE; insert; update; COMMIT.
    Pessimistic,
    /// (c) Shape (a) over 1,000 discs picked at random.
    SingleStatementSpread,
    /// (d) A disc page's read: one disc by id, of 1,000.
    PointSelect,
}

impl Shape {
    pub fn name(self) -> &'static str {
        match self {
            Shape::SingleStatement => "single statement",
            Shape::Pessimistic => "pessimistic shape",
            Shape::SingleStatementSpread => "single statement, spread",
            Shape::PointSelect => "point select",
        }
    }

    /// Whether each transaction sells one unit (and inserts one order).
    fn sells(self) -> bool {
        !matches!(self, Shape::PointSelect)
    }

    fn file_stem(self) -> &'static str {
        match self {
            Shape::SingleStatement => "single-statement",
            Shape::Pessimistic => "pessimistic-shape",
            Shape::SingleStatementSpread => "single-statement-spread",
            Shape::PointSelect => "point-select",
        }
    }
}

/// The shapes measured for a scenario (none where stock runs out or
/// browsing dominates: no single SQL shape stands for those).
pub fn shapes_for(scenario: Scenario) -> &'static [Shape] {
    match scenario {
        Scenario::Hot => &[Shape::SingleStatement, Shape::Pessimistic],
        Scenario::Spread => &[Shape::SingleStatementSpread],
        Scenario::Read => &[Shape::PointSelect],
        Scenario::Launch | Scenario::Mixed | Scenario::List | Scenario::HttpCeiling => &[],
    }
}

/// The ceiling a strategy is compared with: `pessimistic` its own shape,
/// every other strategy the single statement, the best one round trip per
/// order can do.
pub fn ceiling_for(strategy: ConcurrencyStrategy, scenario: Scenario) -> Option<Shape> {
    match (scenario, strategy) {
        (Scenario::Hot, ConcurrencyStrategy::Pessimistic) => Some(Shape::Pessimistic),
        (Scenario::Hot, _) => Some(Shape::SingleStatement),
        (Scenario::Spread, _) => Some(Shape::SingleStatementSpread),
        (Scenario::Read, _) => Some(Shape::PointSelect),
        _ => None,
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Ceiling {
    pub scenario: Scenario,
    pub shape: Shape,
    pub clients: usize,
    pub duration_s: f64,
    pub tps: f64,
    pub transactions: Option<u64>,
    pub failed: Option<u64>,
    pub latency_ms: Option<f64>,
}

/// What to run pgbench with.
pub struct Bench<'a> {
    pub pgbench: PathBuf,
    /// Scripts, outputs and logs go here.
    pub dir: &'a Path,
    pub clients: usize,
    pub duration: Duration,
    pub keep: bool,
}

/// Measures every shape of `scenario` on one scratch database.
pub async fn measure(
    admin: &Admin,
    bench: &Bench<'_>,
    scenario: Scenario,
    tag: &str,
) -> anyhow::Result<Vec<Ceiling>> {
    let shapes = shapes_for(scenario);
    if shapes.is_empty() {
        return Ok(Vec::new());
    }
    let name = DatabaseName::scratch("exp", &[scenario.name(), "pgbench"], tag)?;
    let url = admin.create(&name).await?;
    let measured = measure_on(&url, bench, scenario, shapes).await;
    if !bench.keep {
        admin.drop_database(&name).await?;
    }
    measured
}

async fn measure_on(
    url: &DatabaseUrl,
    bench: &Bench<'_>,
    scenario: Scenario,
    shapes: &[Shape],
) -> anyhow::Result<Vec<Ceiling>> {
    let discs = if matches!(scenario, Scenario::Spread | Scenario::Read) {
        1_000
    } else {
        1
    };
    let mut client = connect(url).await?;
    // The server's own schema, applied in-process: pgbench needs no server.
    recordshop_postgres::migrate(&mut client).await?;
    populate(&client, discs, bench.clients).await?;
    let mut ceilings = Vec::new();
    for &shape in shapes {
        let script_path = bench
            .dir
            .join(format!("{}-{}.sql", scenario.name(), shape.file_stem()));
        std::fs::write(&script_path, script(shape, discs, bench.clients))
            .with_context(|| format!("writing {}", script_path.display()))?;
        let before = count_orders(&client).await?;
        let output = run_pgbench(bench, url, &script_path).await?;
        let parsed = parse_output(&output)
            .with_context(|| format!("reading pgbench's output for {}", shape.name()))?;
        // A script whose ids match no row would "commit" empty transactions
        // at a flattering rate: every transaction of a selling shape must
        // have sold one unit, and every id a reading shape draws must exist.
        if shape.sells() {
            let sold = count_orders(&client).await? - before;
            if parsed.transactions.is_some_and(|t| t != sold as u64) {
                bail!(
                    "pgbench {} reported {:?} transactions but {sold} orders were inserted",
                    shape.name(),
                    parsed.transactions
                );
            }
        } else {
            let found = count_numbered_discs(&client, discs).await?;
            if found != i64::from(discs) {
                bail!(
                    "pgbench {} draws {discs} disc ids but {found} of them exist",
                    shape.name()
                );
            }
        }
        ceilings.push(Ceiling {
            scenario,
            shape,
            clients: bench.clients,
            duration_s: bench.duration.as_secs_f64(),
            tps: parsed.tps,
            transactions: parsed.transactions,
            failed: parsed.failed,
            latency_ms: parsed.latency_ms,
        });
        // The next shape starts from a vacuumed table, as the first did.
        client
            .batch_execute("VACUUM ANALYZE discs, purchase_orders")
            .await
            .context("vacuuming between pgbench runs")?;
    }
    Ok(ceilings)
}

/// How many of the discs numbered 1 to `discs` exist, by the ids the
/// scripts compute.
async fn count_numbered_discs(client: &tokio_postgres::Client, discs: i32) -> anyhow::Result<i64> {
    let id = numbered_id(DISC_PREFIX, "disc").replace(":disc", "n");
    let row = client
        .query_one(
            &format!(
                "SELECT count(*) FROM generate_series(1, $1::int) AS n \
                 JOIN discs ON discs.id = {id} AND discs.deleted_at IS NULL"
            ),
            &[&discs],
        )
        .await
        .context("counting the discs pgbench reads")?;
    row.try_get(0).context("counting the discs pgbench reads")
}

async fn count_orders(client: &tokio_postgres::Client) -> anyhow::Result<i64> {
    let row = client
        .query_one("SELECT count(*) FROM purchase_orders", &[])
        .await
        .context("counting orders")?;
    row.try_get(0).context("counting orders")
}

/// Ids the scripts can compute from a number: `…-8000-000000000042` for
/// disc 42, `…-9000-…` for customers.
const DISC_PREFIX: &str = "00000000-0000-4000-8000-";
const CUSTOMER_PREFIX: &str = "00000000-0000-4000-9000-";

fn numbered_id(prefix: &str, variable: &str) -> String {
    format!("('{prefix}' || lpad((:{variable})::text, 12, '0'))::uuid")
}

async fn populate(
    client: &tokio_postgres::Client,
    discs: i32,
    customers: usize,
) -> anyhow::Result<()> {
    let customers = i32::try_from(customers).context("too many clients")?;
    client
        .execute(
            &format!(
                "INSERT INTO discs (id, name, artist, year_of_release, genre, quantity)
                 SELECT ('{DISC_PREFIX}' || lpad(n::text, 12, '0'))::uuid,
                        'Disc ' || n, 'Artist ' || n % 50, 1950 + n % 70, 'Jazz', $1
                   FROM generate_series(1, $2::int) AS n"
            ),
            &[&UNLIMITED_STOCK, &discs],
        )
        .await
        .context("populating discs")?;
    client
        .batch_execute(
            "INSERT INTO stock_adjustments (disc_id, delta, reason)
             SELECT id, quantity, 'initial' FROM discs",
        )
        .await
        .context("populating stock adjustments")?;
    client
        .execute(
            &format!(
                "INSERT INTO customers (id, document, name, birth_date, email, phone)
                 SELECT ('{CUSTOMER_PREFIX}' || lpad(n::text, 12, '0'))::uuid,
                        'pgbench-' || n, 'Client ' || n, DATE '1980-01-01',
                        'client' || n || '@example.com', '+55 11 0000-0000'
                   FROM generate_series(1, $1::int) AS n"
            ),
            &[&customers.max(1)],
        )
        .await
        .context("populating customers")?;
    client
        .batch_execute("VACUUM ANALYZE")
        .await
        .context("vacuuming the populated database")
}

/// The pgbench script of `shape` over `discs` discs and `customers` customers.
pub fn script(shape: Shape, discs: i32, customers: usize) -> String {
    let disc = numbered_id(DISC_PREFIX, "disc");
    let customer = numbered_id(CUSTOMER_PREFIX, "customer");
    let head = format!(
        "\\set disc random(1, {discs})\n\\set customer random(1, {})\n",
        customers.max(1)
    );
    let body = match shape {
        Shape::SingleStatement | Shape::SingleStatementSpread => format!(
            "WITH sold AS (\
             UPDATE discs SET quantity = quantity - 1, updated_at = now() \
             WHERE id = {disc} AND quantity >= 1 AND deleted_at IS NULL \
             AND EXISTS (SELECT 1 FROM customers WHERE id = {customer} AND is_active) \
             RETURNING id, name, artist, quantity) \
             INSERT INTO purchase_orders \
             (id, customer_id, disc_id, quantity, status, customer_snapshot, disc_snapshot) \
             SELECT gen_random_uuid(), {customer}, sold.id, 1, 'confirmed', \
             jsonb_build_object('id', {customer}), to_jsonb(sold) FROM sold \
             RETURNING id;\n"
        ),
        Shape::PointSelect => format!(
            "SELECT id, name, artist, year_of_release, genre, quantity, created_at, updated_at \
             FROM discs WHERE id = {disc} AND deleted_at IS NULL;\n"
        ),
        Shape::Pessimistic => format!(
            "BEGIN;\n\
             SELECT id, document, name, birth_date, email, phone, is_active \
             FROM customers WHERE id = {customer};\n\
             SELECT id, name, artist, year_of_release, genre, quantity \
             FROM discs WHERE id = {disc} AND deleted_at IS NULL FOR UPDATE;\n\
             INSERT INTO purchase_orders \
             (id, customer_id, disc_id, quantity, status, customer_snapshot, disc_snapshot) \
             VALUES (gen_random_uuid(), {customer}, {disc}, 1, 'confirmed', '{{}}', '{{}}');\n\
             UPDATE discs SET quantity = quantity - 1, updated_at = now() WHERE id = {disc};\n\
             COMMIT;\n"
        ),
    };
    head + &body
}

async fn run_pgbench(
    bench: &Bench<'_>,
    url: &DatabaseUrl,
    script: &Path,
) -> anyhow::Result<String> {
    let pgbench = &bench.pgbench;
    let clients = bench.clients.max(1);
    let threads = clients.min(2);
    let seconds = bench.duration.as_secs().max(1);
    let child = Command::new(pgbench)
        .args(["-n", "-M", "prepared"])
        .args(["-c", &clients.to_string(), "-j", &threads.to_string()])
        .args(["-T", &seconds.to_string()])
        .arg("-f")
        .arg(script)
        .arg(url.to_url())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting {}", pgbench.display()))?;
    let bound = Duration::from_secs(seconds + 60);
    let Ok(output) = timeout(bound, child.wait_with_output()).await else {
        bail!("pgbench ran past {bound:?}");
    };
    let output = output.context("waiting for pgbench")?;
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    let log = script.with_extension("out");
    std::fs::write(&log, format!("{stdout}\n{stderr}"))
        .with_context(|| format!("writing {}", log.display()))?;
    if !output.status.success() {
        bail!("pgbench failed ({}):\n{stdout}\n{stderr}", output.status);
    }
    Ok(stdout)
}

/// The figures of pgbench's closing report.
#[derive(Clone, Debug, PartialEq)]
pub struct Output {
    pub tps: f64,
    pub transactions: Option<u64>,
    pub failed: Option<u64>,
    pub latency_ms: Option<f64>,
}

/// Reads pgbench's report. Recent versions print one `tps = … (without
/// initial connection time)` line; older ones print two, of which the one
/// excluding connection set-up is the one wanted.
pub fn parse_output(text: &str) -> anyhow::Result<Output> {
    let tps_lines: Vec<&str> = text
        .lines()
        .filter_map(|line| line.trim().strip_prefix("tps = "))
        .collect();
    let tps_line = tps_lines
        .iter()
        .find(|line| line.contains("without initial") || line.contains("excluding"))
        .or(tps_lines.first())
        .context("no `tps = …` line")?;
    let tps = first_number(tps_line).context("`tps = …` holds no number")?;
    let after = |prefix: &str| {
        text.lines()
            .find_map(|line| line.trim().strip_prefix(prefix))
            .and_then(first_number)
    };
    Ok(Output {
        tps,
        transactions: after("number of transactions actually processed:").map(|n| n as u64),
        failed: after("number of failed transactions:").map(|n| n as u64),
        latency_ms: after("latency average ="),
    })
}

fn first_number(text: &str) -> Option<f64> {
    text.split_whitespace()
        .next()?
        .split('/')
        .next()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const PG15: &str = "pgbench (15.18 (Debian 15.18-0+deb12u1))
transaction type: /tmp/hot-single-statement.sql
scaling factor: 1
query mode: prepared
number of clients: 32
number of threads: 2
maximum number of tries: 1
duration: 10 s
number of transactions actually processed: 13822
number of failed transactions: 0 (0.000%)
latency average = 23.102 ms
initial connection time = 31.202 ms
tps = 1385.174404 (without initial connection time)
";

    const PG13: &str = "transaction type: script.sql
number of transactions actually processed: 500/500
latency average = 2.000 ms
tps = 480.000000 (including connections establishing)
tps = 500.123000 (excluding connections establishing)
";

    #[test]
    fn parses_the_pg15_report() {
        let output = parse_output(PG15).unwrap();
        assert!((output.tps - 1385.174404).abs() < 1e-9);
        assert_eq!(output.transactions, Some(13_822));
        assert_eq!(output.failed, Some(0));
        assert_eq!(output.latency_ms, Some(23.102));
    }

    #[test]
    fn prefers_the_tps_without_connection_time() {
        let output = parse_output(PG13).unwrap();
        assert!((output.tps - 500.123).abs() < 1e-9);
        assert_eq!(output.transactions, Some(500));
        assert_eq!(output.failed, None);
    }

    #[test]
    fn a_report_without_tps_is_an_error() {
        assert!(parse_output("pgbench: error: connection refused").is_err());
    }

    #[test]
    fn strategies_map_to_their_ceilings() {
        use ConcurrencyStrategy::{Atomic, Batched, Pessimistic};
        assert_eq!(
            ceiling_for(Pessimistic, Scenario::Hot),
            Some(Shape::Pessimistic)
        );
        assert_eq!(
            ceiling_for(Batched, Scenario::Hot),
            Some(Shape::SingleStatement)
        );
        assert_eq!(
            ceiling_for(Pessimistic, Scenario::Spread),
            Some(Shape::SingleStatementSpread)
        );
        assert_eq!(ceiling_for(Atomic, Scenario::Launch), None);
        for scenario in [Scenario::Hot, Scenario::Spread] {
            for strategy in ConcurrencyStrategy::ALL {
                let shape = ceiling_for(strategy, scenario).unwrap();
                assert!(shapes_for(scenario).contains(&shape));
            }
        }
    }

    #[test]
    fn scripts_pick_numbered_rows_and_keep_the_shape() {
        let single = script(Shape::SingleStatementSpread, 1_000, 32);
        assert!(single.starts_with("\\set disc random(1, 1000)\n\\set customer random(1, 32)\n"));
        assert!(single.contains("quantity >= 1"));
        assert_eq!(single.matches(';').count(), 1, "one statement: {single}");
        let pessimistic = script(Shape::Pessimistic, 1, 32);
        assert!(pessimistic.contains("FOR UPDATE;"));
        assert!(pessimistic.contains("'{}', '{}'"));
        assert_eq!(
            pessimistic.lines().filter(|l| !l.starts_with('\\')).count(),
            6
        );
    }
}
