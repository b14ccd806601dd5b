//! Keyed purchases: what the service hands the store, and what it answers.

use std::sync::{Arc, Mutex};

use proptest::prelude::*;

use super::*;
use crate::order::{MockPurchaseOrderRepository, OrderQuantity};
use crate::testing::{idempotency_request, sample_order};

fn units(n: i64) -> OrderQuantity {
    OrderQuantity::parse(n).unwrap_or_else(|e| panic!("test quantity {n}: {e}"))
}

fn service(repository: MockPurchaseOrderRepository) -> PurchaseOrderService {
    PurchaseOrderService::new(Arc::new(repository), RetryPolicy::default())
}

#[tokio::test(start_paused = true)]
async fn every_retry_carries_the_same_order_key_and_fingerprint() {
    const CONFLICTS: usize = 3;
    let (customer_id, disc_id) = (CustomerId::generate(), DiscId::generate());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let mut repository = MockPurchaseOrderRepository::new();
    repository.expect_place().never();
    {
        let seen = Arc::clone(&seen);
        repository
            .expect_place_once()
            .returning(move |order, once| {
                let mut seen = seen.lock().unwrap_or_else(|e| panic!("{e}"));
                seen.push((order.clone(), once.clone()));
                if seen.len() <= CONFLICTS {
                    Err(StoreError::Conflict.into())
                } else {
                    Ok(Created::New(sample_order(order)))
                }
            });
    }
    let placed = service(repository)
        .place_once(
            customer_id,
            disc_id,
            units(2),
            Some(idempotency_request("customer:ada", "retry-me")),
        )
        .await;

    let seen = seen.lock().unwrap_or_else(|e| panic!("{e}")).clone();
    assert_eq!(seen.len(), CONFLICTS + 1);
    let (order, once) = &seen[0];
    assert!(
        seen.iter().all(|attempt| attempt == &seen[0]),
        "every attempt places the same order under the same key"
    );
    assert_eq!(once.owner.as_str(), "customer:ada");
    assert_eq!(once.key.as_str(), "retry-me");
    assert_eq!(once.fingerprint, order.fingerprint());
    assert_eq!(
        (order.customer_id, order.disc_id, order.quantity),
        (customer_id, disc_id, units(2))
    );
    let placed = placed.unwrap_or_else(|e| panic!("not placed: {e}"));
    assert!(!placed.is_replayed());
    assert_eq!(placed.into_inner().id, order.id);
}

#[tokio::test]
async fn a_replay_comes_back_as_replayed() {
    let mut repository = MockPurchaseOrderRepository::new();
    repository
        .expect_place_once()
        .times(1)
        .returning(|order, _| Ok(Created::Replayed(sample_order(order))));
    let placed = service(repository)
        .place_once(
            CustomerId::generate(),
            DiscId::generate(),
            units(1),
            Some(idempotency_request("anonymous", "k")),
        )
        .await;
    assert!(matches!(placed, Ok(Created::Replayed(_))), "{placed:?}");
}

#[tokio::test]
async fn a_reused_key_surfaces_and_is_not_retried() {
    let mut repository = MockPurchaseOrderRepository::new();
    repository
        .expect_place_once()
        .times(1)
        .returning(|_, once| Err(IdempotentError::IdempotencyKeyReused(once.key.clone())));
    let result = service(repository)
        .place_once(
            CustomerId::generate(),
            DiscId::generate(),
            units(1),
            Some(idempotency_request("anonymous", "taken")),
        )
        .await;
    assert!(
        matches!(&result, Err(IdempotentError::IdempotencyKeyReused(key)) if key.as_str() == "taken"),
        "{result:?}"
    );
}

#[tokio::test]
async fn a_refusal_passes_through_without_a_retry() {
    let mut repository = MockPurchaseOrderRepository::new();
    repository
        .expect_place_once()
        .times(1)
        .returning(|order, _| {
            Err(PlaceOrderError::OutOfStock {
                disc_id: order.disc_id,
                available: 0,
                requested: order.quantity.get(),
            }
            .into())
        });
    let result = service(repository)
        .place_once(
            CustomerId::generate(),
            DiscId::generate(),
            units(3),
            Some(idempotency_request("anonymous", "k")),
        )
        .await;
    assert!(
        matches!(
            result,
            Err(IdempotentError::Create(PlaceOrderError::OutOfStock {
                requested: 3,
                ..
            }))
        ),
        "{result:?}"
    );
}

#[tokio::test]
async fn without_a_key_the_plain_placing_runs_and_is_new() {
    let mut repository = MockPurchaseOrderRepository::new();
    repository.expect_place_once().never();
    repository
        .expect_place()
        .times(1)
        .returning(|order| Ok(sample_order(order)));
    let placed = service(repository)
        .place_once(CustomerId::generate(), DiscId::generate(), units(1), None)
        .await;
    assert!(matches!(placed, Ok(Created::New(_))), "{placed:?}");
}

/// Two customers, two discs, three quantities: every combination is
/// another request.
fn order_from(customer: usize, disc: usize, quantity: i64) -> NewPurchaseOrder {
    const CUSTOMERS: [u128; 2] = [0x0192_0000_0000_7000_8000_0000_0000_0001, 2];
    const DISCS: [u128; 2] = [0x0192_0000_0000_7000_8000_0000_0000_0003, 4];
    NewPurchaseOrder {
        id: PurchaseOrderId::generate(),
        customer_id: CustomerId::from_uuid(uuid::Uuid::from_u128(CUSTOMERS[customer])),
        disc_id: DiscId::from_uuid(uuid::Uuid::from_u128(DISCS[disc])),
        quantity: units(quantity),
    }
}

proptest! {
    #[test]
    fn fingerprints_match_exactly_when_customer_disc_and_quantity_do(
        a in (0..2usize, 0..2usize, 1..4i64),
        b in (0..2usize, 0..2usize, 1..4i64),
    ) {
        let (first, second) = (order_from(a.0, a.1, a.2), order_from(b.0, b.1, b.2));
        prop_assert_ne!(first.id, second.id);
        prop_assert_eq!(first.fingerprint() == second.fingerprint(), a == b);
    }
}
