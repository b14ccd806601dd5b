use std::sync::Arc;

use std::time::Duration;

use super::{
    NewPurchaseOrder, OrderError, OrderEvent, OrderStatus, PlaceOrderError, PurchaseOrder,
    PurchaseOrderFilter, PurchaseOrderId, PurchaseOrderRepository, SalesQuery, SalesWindow,
};
use crate::customer::CustomerId;
use crate::disc::DiscId;
use crate::idempotency::{Created, IdempotencyRequest, IdempotentCreate, IdempotentError};
use crate::retry::retry_on_conflict;
use crate::{RetryPolicy, StoreError};

/// Placing, finding and canceling purchase orders.
#[derive(Clone)]
pub struct PurchaseOrderService {
    repository: Arc<dyn PurchaseOrderRepository>,
    retry: RetryPolicy,
}

impl PurchaseOrderService {
    /// Orders kept in `repository`; units of work the store aborts for
    /// contention are retried per `retry`.
    #[must_use]
    pub fn new(repository: Arc<dyn PurchaseOrderRepository>, retry: RetryPolicy) -> Self {
        Self { repository, retry }
    }

    /// Places an order under a fresh id. Every retry re-reads the customer
    /// and the disc, so the rules are always checked against current state.
    ///
    /// # Errors
    /// See [`PlaceOrderError`]; [`StoreError::Conflict`] only once the retry
    /// policy is exhausted.
    #[tracing::instrument(name = "orders.place", skip(self), fields(order_id))]
    pub async fn place(
        &self,
        customer_id: CustomerId,
        disc_id: DiscId,
        quantity: super::OrderQuantity,
    ) -> Result<PurchaseOrder, PlaceOrderError> {
        let order = new_order(customer_id, disc_id, quantity);
        retry_on_conflict(&self.retry, || self.repository.place(&order)).await
    }

    /// Places an order as [`place`](Self::place) does, at most once per
    /// idempotency key when `idempotency` is given: a repeat with the same
    /// request answers [`Created::Replayed`] with the first order, as it was
    /// when placed. Every retry of a conflicting unit of work carries the
    /// same key and fingerprint, so it replays if a concurrent request with
    /// the key won. Without a key, the order is always [`Created::New`].
    ///
    /// # Errors
    /// [`IdempotentError::IdempotencyKeyReused`] when the key was used for a
    /// different purchase; otherwise [`PlaceOrderError`] inside
    /// [`IdempotentError::Create`].
    #[tracing::instrument(name = "orders.place_once", skip(self, idempotency), fields(order_id, keyed = idempotency.is_some()))]
    pub async fn place_once(
        &self,
        customer_id: CustomerId,
        disc_id: DiscId,
        quantity: super::OrderQuantity,
        idempotency: Option<IdempotencyRequest>,
    ) -> Result<Created<PurchaseOrder>, IdempotentError<PlaceOrderError>> {
        let order = new_order(customer_id, disc_id, quantity);
        let Some(request) = idempotency else {
            return retry_on_conflict(&self.retry, || self.repository.place(&order))
                .await
                .map(Created::New)
                .map_err(IdempotentError::Create);
        };
        let once = IdempotentCreate::new(request, order.fingerprint());
        retry_on_conflict(&self.retry, || self.repository.place_once(&order, &once)).await
    }

    /// The order with this id.
    ///
    /// # Errors
    /// [`OrderError::NotFound`] when unknown.
    #[tracing::instrument(name = "orders.get", skip_all)]
    pub async fn get(&self, id: PurchaseOrderId) -> Result<PurchaseOrder, OrderError> {
        self.repository
            .get(id)
            .await?
            .ok_or(OrderError::NotFound(id))
    }

    /// The order once it is decided (no longer pending), or as it is after
    /// `within`: what a client that prefers to wait for the outcome gets.
    ///
    /// # Errors
    /// [`OrderError::NotFound`] when unknown.
    #[tracing::instrument(name = "orders.get_decided", skip(self))]
    pub async fn get_decided(
        &self,
        id: PurchaseOrderId,
        within: Duration,
    ) -> Result<PurchaseOrder, OrderError> {
        self.repository
            .get_decided(id, within)
            .await?
            .ok_or(OrderError::NotFound(id))
    }

    /// The order's history, oldest first.
    ///
    /// # Errors
    /// [`StoreError`] when storage fails.
    #[tracing::instrument(name = "orders.events", skip_all)]
    pub async fn events(&self, id: PurchaseOrderId) -> Result<Vec<OrderEvent>, StoreError> {
        self.repository.events(id).await
    }

    /// One page of matching orders, newest first.
    ///
    /// # Errors
    /// [`StoreError`] when storage fails.
    #[tracing::instrument(name = "orders.list", skip_all)]
    pub async fn list(
        &self,
        filter: &PurchaseOrderFilter,
    ) -> Result<Vec<PurchaseOrder>, StoreError> {
        self.repository.list(filter).await
    }

    /// The sales report `query` asks for.
    ///
    /// # Errors
    /// [`StoreError`] when storage fails.
    #[tracing::instrument(name = "orders.sales", skip_all)]
    pub async fn sales(&self, query: &SalesQuery) -> Result<Vec<SalesWindow>, StoreError> {
        self.repository.sales(query).await
    }

    /// Cancels an order, returning its units to stock; cancelling a canceled
    /// order answers it unchanged.
    ///
    /// # Errors
    /// [`OrderError::NotFound`] when unknown; [`OrderError::NotCancelable`]
    /// when it is pending or rejected; [`StoreError::Conflict`] once the
    /// retry policy is exhausted.
    #[tracing::instrument(name = "orders.cancel", skip(self))]
    pub async fn cancel(&self, id: PurchaseOrderId) -> Result<PurchaseOrder, OrderError> {
        let order = retry_on_conflict(&self.retry, || async {
            self.repository
                .cancel(id)
                .await?
                .ok_or(OrderError::NotFound(id))
        })
        .await?;
        match order.status {
            OrderStatus::Canceled => Ok(order),
            status @ (OrderStatus::Pending | OrderStatus::Rejected | OrderStatus::Confirmed) => {
                Err(OrderError::NotCancelable { id, status })
            }
        }
    }
}

/// The order a request places, under a fresh id that every retry keeps.
fn new_order(
    customer_id: CustomerId,
    disc_id: DiscId,
    quantity: super::OrderQuantity,
) -> NewPurchaseOrder {
    let order = NewPurchaseOrder {
        id: PurchaseOrderId::generate(),
        customer_id,
        disc_id,
        quantity,
    };
    tracing::Span::current().record("order_id", tracing::field::display(order.id));
    order
}

#[cfg(test)]
mod idempotency_tests;

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::time::Duration;

    use super::*;
    use crate::disc::StockQuantity;
    use crate::order::{MockPurchaseOrderRepository, OrderQuantity, RejectionReason};
    use crate::testing::{sample_customer, sample_disc, sample_order};

    fn units(n: i64) -> OrderQuantity {
        OrderQuantity::parse(n).unwrap_or_else(|e| panic!("test quantity {n}: {e}"))
    }

    fn new_order(quantity: i64) -> NewPurchaseOrder {
        NewPurchaseOrder {
            id: PurchaseOrderId::generate(),
            customer_id: CustomerId::generate(),
            disc_id: DiscId::generate(),
            quantity: units(quantity),
        }
    }

    #[test]
    fn check_returns_the_stock_left_after_the_sale() {
        let order = new_order(3);
        let left = order.check(Some(&sample_customer()), Some(&sample_disc(5)));
        assert_eq!(left.ok().map(StockQuantity::get), Some(2));
    }

    #[test]
    fn check_sells_the_last_units() {
        let left = new_order(5).check(Some(&sample_customer()), Some(&sample_disc(5)));
        assert_eq!(left.ok().map(StockQuantity::get), Some(0));
    }

    #[test]
    fn check_refuses_more_than_the_stock() {
        let result = new_order(6).check(Some(&sample_customer()), Some(&sample_disc(5)));
        assert!(matches!(
            result,
            Err(PlaceOrderError::OutOfStock {
                available: 5,
                requested: 6,
                ..
            })
        ));
    }

    #[test]
    fn check_refuses_an_unknown_customer_before_looking_at_the_disc() {
        let result = new_order(1).check(None, None);
        assert!(matches!(result, Err(PlaceOrderError::CustomerNotFound(_))));
    }

    #[test]
    fn check_refuses_an_inactive_customer() {
        let mut customer = sample_customer();
        customer.is_active = false;
        let result = new_order(1).check(Some(&customer), Some(&sample_disc(5)));
        assert!(matches!(result, Err(PlaceOrderError::CustomerInactive(_))));
    }

    #[test]
    fn check_refuses_an_unknown_or_deleted_disc() {
        let result = new_order(1).check(Some(&sample_customer()), None);
        assert!(matches!(result, Err(PlaceOrderError::DiscNotFound(_))));
    }

    fn service(
        repository: MockPurchaseOrderRepository,
        retry: RetryPolicy,
    ) -> PurchaseOrderService {
        PurchaseOrderService::new(Arc::new(repository), retry)
    }

    #[tokio::test(start_paused = true)]
    async fn a_purchase_that_conflicts_n_times_is_retried_with_the_same_order() {
        const CONFLICTS: u32 = 4;
        let calls = Arc::new(AtomicU32::new(0));
        let seen_ids = Arc::new(std::sync::Mutex::new(Vec::new()));
        let mut repository = MockPurchaseOrderRepository::new();
        {
            let calls = Arc::clone(&calls);
            let seen_ids = Arc::clone(&seen_ids);
            repository.expect_place().returning(move |order| {
                if let Ok(mut ids) = seen_ids.lock() {
                    ids.push(order.id);
                }
                if calls.fetch_add(1, Ordering::SeqCst) < CONFLICTS {
                    Err(PlaceOrderError::Store(StoreError::Conflict))
                } else {
                    Ok(sample_order(order))
                }
            });
        }
        let placed = service(repository, RetryPolicy::default())
            .place(CustomerId::generate(), DiscId::generate(), units(1))
            .await;
        assert!(placed.is_ok());
        assert_eq!(calls.load(Ordering::SeqCst), CONFLICTS + 1);
        let ids = seen_ids.lock().map(|ids| ids.clone()).unwrap_or_default();
        assert!(
            ids.windows(2).all(|pair| pair[0] == pair[1]),
            "every retry places the same order id"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn exhausted_retries_surface_the_conflict() {
        let mut repository = MockPurchaseOrderRepository::new();
        repository
            .expect_place()
            .times(3)
            .returning(|_| Err(PlaceOrderError::Store(StoreError::Conflict)));
        let policy = RetryPolicy {
            max_attempts: 3,
            budget: Duration::from_secs(60),
            ..RetryPolicy::default()
        };
        let result = service(repository, policy)
            .place(CustomerId::generate(), DiscId::generate(), units(1))
            .await;
        assert!(matches!(
            result,
            Err(PlaceOrderError::Store(StoreError::Conflict))
        ));
    }

    #[tokio::test]
    async fn out_of_stock_is_final_and_not_retried() {
        let mut repository = MockPurchaseOrderRepository::new();
        repository.expect_place().times(1).returning(|order| {
            Err(PlaceOrderError::OutOfStock {
                disc_id: order.disc_id,
                available: 0,
                requested: order.quantity.get(),
            })
        });
        let result = service(repository, RetryPolicy::default())
            .place(CustomerId::generate(), DiscId::generate(), units(2))
            .await;
        assert!(matches!(
            result,
            Err(PlaceOrderError::OutOfStock { requested: 2, .. })
        ));
    }

    #[tokio::test(start_paused = true)]
    async fn a_cancel_that_conflicts_is_retried() {
        let mut repository = MockPurchaseOrderRepository::new();
        let mut seq = mockall::Sequence::new();
        repository
            .expect_cancel()
            .times(1)
            .in_sequence(&mut seq)
            .returning(|_| Err(StoreError::Conflict));
        repository
            .expect_cancel()
            .times(1)
            .in_sequence(&mut seq)
            .returning(|_| {
                let mut order = sample_order(&new_order(1));
                order.status = OrderStatus::Canceled;
                Ok(Some(order))
            });
        let result = service(repository, RetryPolicy::default())
            .cancel(PurchaseOrderId::generate())
            .await;
        assert_eq!(result.map(|o| o.status).ok(), Some(OrderStatus::Canceled));
    }

    #[tokio::test]
    async fn cancelling_an_unknown_order_is_not_found() {
        let mut repository = MockPurchaseOrderRepository::new();
        repository.expect_cancel().returning(|_| Ok(None));
        let result = service(repository, RetryPolicy::default())
            .cancel(PurchaseOrderId::generate())
            .await;
        assert!(matches!(result, Err(OrderError::NotFound(_))));
    }

    #[tokio::test]
    async fn a_pending_or_rejected_order_is_not_cancelable() {
        for status in [OrderStatus::Pending, OrderStatus::Rejected] {
            let mut repository = MockPurchaseOrderRepository::new();
            repository.expect_cancel().times(1).returning(move |_| {
                let mut order = sample_order(&new_order(1));
                order.status = status;
                Ok(Some(order))
            });
            let result = service(repository, RetryPolicy::default())
                .cancel(PurchaseOrderId::generate())
                .await;
            assert!(
                matches!(result, Err(OrderError::NotCancelable { status: s, .. }) if s == status),
                "{status}: {result:?}"
            );
        }
    }

    #[test]
    fn a_rejected_order_is_the_refusal_its_reason_names() {
        let mut order = sample_order(&new_order(1));
        assert!(order.clone().into_outcome().is_ok());
        order.status = OrderStatus::Rejected;
        order.rejection_reason = Some(RejectionReason::OutOfStock);
        assert!(matches!(
            order.into_outcome(),
            Err(PlaceOrderError::Rejected {
                reason: RejectionReason::OutOfStock,
                ..
            })
        ));
    }

    #[tokio::test]
    async fn waiting_for_an_unknown_order_is_not_found() {
        let mut repository = MockPurchaseOrderRepository::new();
        repository.expect_get_decided().returning(|_, _| Ok(None));
        let result = service(repository, RetryPolicy::default())
            .get_decided(PurchaseOrderId::generate(), Duration::from_secs(1))
            .await;
        assert!(matches!(result, Err(OrderError::NotFound(_))));
    }

    #[tokio::test]
    async fn get_of_an_unknown_order_is_not_found() {
        let mut repository = MockPurchaseOrderRepository::new();
        repository.expect_get().returning(|_| Ok(None));
        let result = service(repository, RetryPolicy::default())
            .get(PurchaseOrderId::generate())
            .await;
        assert!(matches!(result, Err(OrderError::NotFound(_))));
    }
}
