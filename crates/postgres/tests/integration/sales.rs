//! The sales report against hand-computed totals: orders placed at known
//! instants (written straight into the table, as history would have them),
//! some canceled later.

use chrono::{DateTime, Utc};
use recordshop_domain::Page;
use recordshop_domain::disc::DiscId;
use recordshop_domain::order::{PurchaseOrderRepository, SalesBucket, SalesQuery, SalesWindow};
use recordshop_postgres::{
    ConcurrencyStrategy, PgPurchaseOrderRepository, PoolSettings, create_pool,
};
use uuid::Uuid;

use crate::support::{Harness, SMALL_POOL};

fn at(text: &str) -> DateTime<Utc> {
    text.parse().unwrap()
}

/// An order of `units` placed at `placed`, canceled at `canceled` if given.
async fn order(
    harness: &Harness,
    customer: Uuid,
    disc: Uuid,
    units: i32,
    placed: &str,
    canceled: Option<&str>,
) {
    harness
        .client()
        .await
        .execute(
            "INSERT INTO purchase_orders
                 (id, customer_id, disc_id, quantity, status, customer_snapshot, disc_snapshot,
                  created_at, canceled_at)
             VALUES ($1, $2, $3, $4, CASE WHEN $6::timestamptz IS NULL THEN 'confirmed'
                                          ELSE 'canceled' END,
                     '{}', '{}', $5, $6)",
            &[
                &Uuid::new_v4(),
                &customer,
                &disc,
                &units,
                &at(placed),
                &canceled.map(at),
            ],
        )
        .await
        .unwrap();
}

fn query(from: &str, to: &str, bucket: SalesBucket, disc: Option<Uuid>) -> SalesQuery {
    SalesQuery::new(
        at(from),
        at(to),
        bucket,
        disc.map(DiscId::from_uuid),
        Page::new(None, None).unwrap(),
    )
    .unwrap()
}

fn row(bucket: &str, disc: Uuid, confirmed: i64, orders: i64, canceled: i64) -> SalesWindow {
    SalesWindow {
        bucket_start: at(bucket),
        disc_id: DiscId::from_uuid(disc),
        units_confirmed: confirmed,
        orders_confirmed: orders,
        units_canceled: canceled,
    }
}

#[tokio::test]
async fn buckets_sum_sales_and_cancellations_newest_first() {
    let harness = Harness::new(SMALL_POOL).await;
    let first = harness
        .stocked_disc(ConcurrencyStrategy::Pessimistic, 100)
        .await
        .id
        .as_uuid();
    let second = harness
        .stocked_disc(ConcurrencyStrategy::Pessimistic, 100)
        .await
        .id
        .as_uuid();
    let buyer = harness.registered_customer("sales").await.id.as_uuid();
    // 12:00 bucket: 2 + 3 units of the first disc, one order of the second.
    order(&harness, buyer, first, 2, "2026-11-30T12:00:00Z", None).await;
    order(
        &harness,
        buyer,
        first,
        3,
        "2026-11-30T12:00:59.999999Z",
        None,
    )
    .await;
    order(&harness, buyer, second, 1, "2026-11-30T12:00:30Z", None).await;
    // 12:01: 4 units, canceled at 12:03 (counted where each happened).
    order(
        &harness,
        buyer,
        first,
        4,
        "2026-11-30T12:01:00Z",
        Some("2026-11-30T12:03:10Z"),
    )
    .await;
    // Outside the window on both sides.
    order(
        &harness,
        buyer,
        first,
        9,
        "2026-11-30T11:59:59.999999Z",
        None,
    )
    .await;
    order(&harness, buyer, first, 9, "2026-11-30T12:05:00Z", None).await;

    let orders = harness.orders(ConcurrencyStrategy::Pessimistic);
    let minutes = orders
        .sales(&query(
            "2026-11-30T12:00:00Z",
            "2026-11-30T12:05:00Z",
            SalesBucket::Minute,
            None,
        ))
        .await
        .unwrap();
    let (low, high) = if first < second {
        (first, second)
    } else {
        (second, first)
    };
    let mut twelve = vec![
        row("2026-11-30T12:00:00Z", first, 5, 2, 0),
        row("2026-11-30T12:00:00Z", second, 1, 1, 0),
    ];
    twelve.sort_by_key(|window| window.disc_id.as_uuid());
    assert_eq!(twelve[0].disc_id.as_uuid(), low);
    assert_eq!(twelve[1].disc_id.as_uuid(), high);
    let mut expected = vec![
        row("2026-11-30T12:03:00Z", first, 0, 0, 4),
        row("2026-11-30T12:01:00Z", first, 4, 1, 0),
    ];
    expected.extend(twelve);
    assert_eq!(minutes, expected);
    assert_eq!(minutes[0].net_units(), -4);

    // The same window in one five-minute bucket, one disc only.
    let five = orders
        .sales(&query(
            "2026-11-30T12:00:00Z",
            "2026-11-30T12:05:00Z",
            SalesBucket::FiveMinutes,
            Some(first),
        ))
        .await
        .unwrap();
    assert_eq!(five, vec![row("2026-11-30T12:00:00Z", first, 9, 3, 4)]);
    assert_eq!(five[0].net_units(), 5);

    // A window with nothing in it: no rows, not zero rows per bucket.
    let empty = orders
        .sales(&query(
            "2026-11-29T00:00:00Z",
            "2026-11-30T00:00:00Z",
            SalesBucket::Hour,
            None,
        ))
        .await
        .unwrap();
    assert!(empty.is_empty(), "{empty:?}");
}

#[tokio::test]
async fn day_buckets_are_utc_days_whatever_the_sessions_time_zone() {
    let harness = Harness::new(SMALL_POOL).await;
    let disc = harness
        .stocked_disc(ConcurrencyStrategy::Pessimistic, 10)
        .await
        .id
        .as_uuid();
    let buyer = harness.registered_customer("days").await.id.as_uuid();
    // 23:30 and 00:30 UTC: two UTC days, one day in São Paulo (UTC-3).
    order(&harness, buyer, disc, 1, "2026-11-30T23:30:00Z", None).await;
    order(&harness, buyer, disc, 2, "2026-12-01T00:30:00Z", None).await;
    harness
        .client()
        .await
        .batch_execute(&format!(
            "ALTER DATABASE \"{}\" SET TIME ZONE 'America/Sao_Paulo'",
            harness.db.name()
        ))
        .await
        .unwrap();
    // New sessions, so they take the database's time zone.
    let pool = create_pool(harness.db.config().clone(), PoolSettings::default()).unwrap();
    let zone: String = pool
        .get()
        .await
        .unwrap()
        .query_one("SHOW TimeZone", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(zone, "America/Sao_Paulo");
    let orders = PgPurchaseOrderRepository::new(pool, ConcurrencyStrategy::Pessimistic);
    let days = orders
        .sales(&query(
            "2026-11-30T00:00:00Z",
            "2026-12-02T00:00:00Z",
            SalesBucket::Day,
            Some(disc),
        ))
        .await
        .unwrap();
    assert_eq!(
        days,
        vec![
            row("2026-12-01T00:00:00Z", disc, 2, 1, 0),
            row("2026-11-30T00:00:00Z", disc, 1, 1, 0),
        ]
    );
}
