//! What every handler can reach.

use std::sync::Arc;

use recordshop_domain::customer::CustomerService;
use recordshop_domain::disc::DiscService;
use recordshop_domain::health::StoreHealth;
use recordshop_domain::order::PurchaseOrderService;
use recordshop_domain::order::breaker::CircuitBreaker;

use crate::admission::Admission;
use crate::credentials::Authenticator;

/// What every handler can reach: the domain services and the store's health.
#[derive(Clone)]
pub struct AppState {
    /// The catalog.
    pub discs: DiscService,
    /// Customers.
    pub customers: CustomerService,
    /// Purchase orders.
    pub orders: PurchaseOrderService,
    /// Readiness of the store behind the services.
    pub health: Arc<dyn StoreHealth>,
    /// Name of the store's concurrency strategy, reported by `GET /health`
    /// and as a metrics label (static: a label copied per purchase costs).
    pub strategy: &'static str,
    /// The hybrid strategy's breaker, whose state `GET /health` reports;
    /// `None` under the other strategies.
    pub breaker: Option<CircuitBreaker>,
    /// How callers prove who they are; `GET /health` reports whether it is
    /// enabled.
    pub authenticator: Authenticator,
    /// How many purchases may be in flight at once.
    pub admission: Admission,
}
