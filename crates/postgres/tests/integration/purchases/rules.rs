//! The rules of a purchase and of a cancellation, one request at a time.

use recordshop_domain::Page;
use recordshop_domain::customer::CustomerPatch;
use recordshop_domain::disc::{DiscId, DiscName, DiscPatch};
use recordshop_domain::order::{
    OrderError, OrderStatus, PlaceOrderError, PurchaseOrderFilter, PurchaseOrderId,
};
use recordshop_postgres::ConcurrencyStrategy;

use crate::support::{Harness, SMALL_POOL, stocked_disc, tagged_customer, units};

pub async fn a_purchase_decrements_the_stock_and_snapshots_both_sides(
    strategy: ConcurrencyStrategy,
) {
    let harness = Harness::new(SMALL_POOL).await;
    let (discs, customers, orders) = (
        harness.disc_service(strategy),
        harness.customer_service(),
        harness.order_service(strategy),
    );
    let disc = discs.create(stocked_disc(5)).await.unwrap();
    let customer = customers.register(tagged_customer("buyer")).await.unwrap();

    let order = orders.place(customer.id, disc.id, units(2)).await.unwrap();
    let disc_now = discs.get(disc.id).await.unwrap();
    assert_eq!(disc_now.quantity.get(), 3);
    assert_eq!(order.status, OrderStatus::Confirmed);
    assert_eq!(order.quantity.get(), 2);
    assert_eq!(order.canceled_at, None);
    assert_eq!((order.customer_id, order.disc_id), (customer.id, disc.id));
    assert_eq!(order.customer, customer, "the customer as they were");
    assert_eq!(
        order.disc, disc_now,
        "the disc right after this sale, its stock included"
    );
    assert!(disc_now.updated_at > disc.updated_at);
    assert_eq!(order.created_at, disc_now.updated_at, "one unit of work");
    assert_eq!(
        orders.get(order.id).await.unwrap(),
        order,
        "stored as returned"
    );

    // Later edits do not rewrite what was bought.
    let rename = DiscPatch {
        name: Some(DiscName::parse("Kind of Blue (Remastered)").unwrap()),
        ..DiscPatch::default()
    };
    discs.update(disc.id, rename).await.unwrap();
    customers.deactivate(customer.id).await.unwrap();
    let stored = orders.get(order.id).await.unwrap();
    assert_eq!(stored.disc.name.as_str(), "Kind of Blue");
    assert_eq!(stored.disc.quantity.get(), 3);
    assert!(stored.customer.is_active);
    harness.assert_ledger_balances().await;
}

pub async fn an_unknown_customer_cannot_buy(strategy: ConcurrencyStrategy) {
    let harness = Harness::new(SMALL_POOL).await;
    let disc = harness.stocked_disc(strategy, 5).await;
    let stranger = tagged_customer("stranger").id;
    let result = harness
        .order_service(strategy)
        .place(stranger, disc.id, units(1))
        .await;
    assert!(
        matches!(result, Err(PlaceOrderError::CustomerNotFound(id)) if id == stranger),
        "{result:?}"
    );
    assert_eq!(harness.stock_of(disc.id).await, 5);
}

pub async fn an_inactive_customer_cannot_buy(strategy: ConcurrencyStrategy) {
    let harness = Harness::new(SMALL_POOL).await;
    let customers = harness.customer_service();
    let orders = harness.order_service(strategy);
    let disc = harness.stocked_disc(strategy, 5).await;
    let customer = customers.register(tagged_customer("idle")).await.unwrap();
    customers.deactivate(customer.id).await.unwrap();

    let result = orders.place(customer.id, disc.id, units(1)).await;
    assert!(
        matches!(result, Err(PlaceOrderError::CustomerInactive(id)) if id == customer.id),
        "{result:?}"
    );
    assert_eq!(harness.stock_of(disc.id).await, 5);

    let reactivate = CustomerPatch {
        is_active: Some(true),
        ..CustomerPatch::default()
    };
    customers.update(customer.id, reactivate).await.unwrap();
    orders.place(customer.id, disc.id, units(1)).await.unwrap();
    assert_eq!(harness.stock_of(disc.id).await, 4);
}

pub async fn an_unknown_or_deleted_disc_cannot_be_bought(strategy: ConcurrencyStrategy) {
    let harness = Harness::new(SMALL_POOL).await;
    let discs = harness.disc_service(strategy);
    let orders = harness.order_service(strategy);
    let customer = harness.registered_customer("c").await;

    let unknown = DiscId::generate();
    let result = orders.place(customer.id, unknown, units(1)).await;
    assert!(
        matches!(result, Err(PlaceOrderError::DiscNotFound(id)) if id == unknown),
        "{result:?}"
    );

    let disc = discs.create(stocked_disc(5)).await.unwrap();
    discs.delete(disc.id).await.unwrap();
    let result = orders.place(customer.id, disc.id, units(1)).await;
    assert!(
        matches!(result, Err(PlaceOrderError::DiscNotFound(id)) if id == disc.id),
        "{result:?}"
    );
    assert_eq!(harness.stock_of(disc.id).await, 5);
    let count: i64 = harness
        .client()
        .await
        .query_one("SELECT count(*) FROM purchase_orders", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(count, 0);
}

pub async fn more_than_the_stock_is_out_of_stock(strategy: ConcurrencyStrategy) {
    let harness = Harness::new(SMALL_POOL).await;
    let disc = harness.stocked_disc(strategy, 3).await;
    let customer = harness.registered_customer("c").await;
    let orders = harness.order_service(strategy);

    let result = orders.place(customer.id, disc.id, units(4)).await;
    assert!(
        matches!(result, Err(PlaceOrderError::OutOfStock { available: 3, requested: 4, disc_id }) if disc_id == disc.id),
        "{result:?}"
    );
    let result = orders
        .place(customer.id, disc.id, units(i64::from(i32::MAX)))
        .await;
    assert!(
        matches!(result, Err(PlaceOrderError::OutOfStock { .. })),
        "{result:?}"
    );
    orders.place(customer.id, disc.id, units(3)).await.unwrap();
    let result = orders.place(customer.id, disc.id, units(1)).await;
    assert!(
        matches!(
            result,
            Err(PlaceOrderError::OutOfStock { available: 0, .. })
        ),
        "{result:?}"
    );
    assert_eq!(harness.stock_of(disc.id).await, 0);
    harness.assert_ledger_balances().await;
}

pub async fn cancelling_twice_restocks_once(strategy: ConcurrencyStrategy) {
    let harness = Harness::new(SMALL_POOL).await;
    let disc = harness.stocked_disc(strategy, 5).await;
    let customer = harness.registered_customer("c").await;
    let orders = harness.order_service(strategy);
    let order = orders.place(customer.id, disc.id, units(3)).await.unwrap();
    assert_eq!(harness.stock_of(disc.id).await, 2);

    let canceled = orders.cancel(order.id).await.unwrap();
    assert_eq!(canceled.status, OrderStatus::Canceled);
    let canceled_at = canceled.canceled_at.expect("canceled_at is set");
    assert!(canceled_at >= order.created_at);
    assert_eq!(
        (canceled.customer.clone(), canceled.disc.clone()),
        (order.customer.clone(), order.disc.clone())
    );
    assert_eq!(harness.stock_of(disc.id).await, 5);

    let again = orders.cancel(order.id).await.unwrap();
    assert_eq!(again, canceled, "answered unchanged");
    assert_eq!(harness.stock_of(disc.id).await, 5, "restocked once");
    assert_eq!(orders.get(order.id).await.unwrap(), canceled);
    let history: Vec<(String, OrderStatus)> = orders
        .events(order.id)
        .await
        .unwrap()
        .iter()
        .map(|event| (event.kind(), event.status))
        .collect();
    assert_eq!(
        history,
        [
            ("order.confirmed".to_owned(), OrderStatus::Confirmed),
            ("order.canceled".to_owned(), OrderStatus::Canceled),
        ],
        "one event per status change, none for the repeated cancel"
    );
    assert_eq!(order.decided_at, Some(order.created_at));
    harness.assert_ledger_balances().await;
}

pub async fn cancelling_an_order_of_a_deleted_disc_restocks_it(strategy: ConcurrencyStrategy) {
    let harness = Harness::new(SMALL_POOL).await;
    let discs = harness.disc_service(strategy);
    let disc = discs.create(stocked_disc(5)).await.unwrap();
    let customer = harness.registered_customer("c").await;
    let orders = harness.order_service(strategy);
    let order = orders.place(customer.id, disc.id, units(2)).await.unwrap();
    discs.delete(disc.id).await.unwrap();

    let canceled = orders.cancel(order.id).await.unwrap();
    assert_eq!(canceled.status, OrderStatus::Canceled);
    assert_eq!(harness.stock_of(disc.id).await, 5);
    assert!(
        discs.get(disc.id).await.is_err(),
        "still out of the catalog"
    );
    harness.assert_ledger_balances().await;
}

pub async fn unknown_orders_are_not_found(strategy: ConcurrencyStrategy) {
    let harness = Harness::new(SMALL_POOL).await;
    let orders = harness.order_service(strategy);
    let unknown = PurchaseOrderId::generate();
    assert!(matches!(orders.get(unknown).await, Err(OrderError::NotFound(id)) if id == unknown));
    assert!(matches!(orders.cancel(unknown).await, Err(OrderError::NotFound(id)) if id == unknown));
}

pub async fn listing_filters_and_orders_newest_first(strategy: ConcurrencyStrategy) {
    let harness = Harness::new(SMALL_POOL).await;
    let discs = harness.disc_service(strategy);
    let customers = harness.customer_service();
    let orders = harness.order_service(strategy);
    let (disc_a, disc_b) = (
        discs.create(stocked_disc(50)).await.unwrap(),
        discs.create(stocked_disc(50)).await.unwrap(),
    );
    let (ann, bob) = (
        customers.register(tagged_customer("ann")).await.unwrap(),
        customers.register(tagged_customer("bob")).await.unwrap(),
    );
    // Placed one after the other, so each is newer than the one before.
    let mut placed = Vec::new();
    for (customer, disc) in [
        (&ann, &disc_a),
        (&bob, &disc_a),
        (&ann, &disc_b),
        (&bob, &disc_b),
        (&ann, &disc_a),
    ] {
        placed.push(orders.place(customer.id, disc.id, units(1)).await.unwrap());
    }
    orders.cancel(placed[1].id).await.unwrap();
    let id_list = |filter: PurchaseOrderFilter| {
        let orders = orders.clone();
        async move {
            orders
                .list(&filter)
                .await
                .unwrap()
                .into_iter()
                .map(|order| order.id)
                .collect::<Vec<_>>()
        }
    };
    let newest_first =
        |indexes: &[usize]| indexes.iter().map(|&i| placed[i].id).collect::<Vec<_>>();

    assert_eq!(
        id_list(PurchaseOrderFilter::default()).await,
        newest_first(&[4, 3, 2, 1, 0])
    );
    let by_customer = PurchaseOrderFilter {
        customer_id: Some(ann.id),
        ..PurchaseOrderFilter::default()
    };
    assert_eq!(id_list(by_customer).await, newest_first(&[4, 2, 0]));
    let by_disc = PurchaseOrderFilter {
        disc_id: Some(disc_b.id),
        ..PurchaseOrderFilter::default()
    };
    assert_eq!(id_list(by_disc).await, newest_first(&[3, 2]));
    let canceled = PurchaseOrderFilter {
        status: Some(OrderStatus::Canceled),
        ..PurchaseOrderFilter::default()
    };
    assert_eq!(id_list(canceled).await, newest_first(&[1]));
    let confirmed_of_bob = PurchaseOrderFilter {
        status: Some(OrderStatus::Confirmed),
        customer_id: Some(bob.id),
        ..PurchaseOrderFilter::default()
    };
    assert_eq!(id_list(confirmed_of_bob).await, newest_first(&[3]));
    let between = PurchaseOrderFilter {
        from: Some(placed[1].created_at),
        to: Some(placed[3].created_at),
        ..PurchaseOrderFilter::default()
    };
    assert_eq!(
        id_list(between).await,
        newest_first(&[3, 2, 1]),
        "both bounds inclusive"
    );
    let after_the_last = PurchaseOrderFilter {
        from: Some(placed[4].created_at + chrono::Duration::microseconds(1)),
        ..PurchaseOrderFilter::default()
    };
    assert!(id_list(after_the_last).await.is_empty());
    let second_page = PurchaseOrderFilter {
        page: Page::new(Some(2), Some(2)).unwrap(),
        ..PurchaseOrderFilter::default()
    };
    assert_eq!(id_list(second_page).await, newest_first(&[2, 1]));
}
