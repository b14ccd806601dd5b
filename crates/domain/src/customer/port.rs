use async_trait::async_trait;

use super::{Customer, CustomerError, CustomerFilter, CustomerId, CustomerPatch, NewCustomer};
use crate::StoreError;
use crate::idempotency::{Created, IdempotentCreate, IdempotentError};

/// Storage of customers. Customers are never deleted.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait CustomerRepository: Send + Sync + 'static {
    /// Stores a new, active customer.
    ///
    /// # Errors
    /// [`CustomerError::AlreadyExists`] when another customer has the same
    /// document, or the same email compared case-insensitively.
    async fn insert(&self, customer: &NewCustomer) -> Result<Customer, CustomerError>;

    /// Stores `customer` at most once per owner and key of `once`: claims
    /// the key, inserts as [`insert`](Self::insert) does and records the
    /// customer with the key, in one unit of work. A concurrent holder of
    /// the key is waited for (bounded by the store's timeouts).
    ///
    /// When a live record already holds the key, nothing is inserted: the
    /// customer as recorded comes back as [`Created::Replayed`] if `once`'s
    /// fingerprint is the record's. A refused insert records nothing.
    ///
    /// # Errors
    /// [`IdempotentError::IdempotencyKeyReused`] when the record has another
    /// fingerprint; otherwise the errors of [`insert`](Self::insert) inside
    /// [`IdempotentError::Create`].
    async fn insert_once(
        &self,
        customer: &NewCustomer,
        once: &IdempotentCreate,
    ) -> Result<Created<Customer>, IdempotentError<CustomerError>>;

    /// The customer with this id, active or not.
    ///
    /// # Errors
    /// [`StoreError`] only.
    async fn get(&self, id: CustomerId) -> Result<Option<Customer>, StoreError>;

    /// One page of the customers that match `filter`, ordered by name then id.
    ///
    /// # Errors
    /// [`StoreError`] only.
    async fn list(&self, filter: &CustomerFilter) -> Result<Vec<Customer>, StoreError>;

    /// Applies `patch`; `None` when the customer is unknown.
    ///
    /// # Errors
    /// [`CustomerError::AlreadyExists`] when the new document or email is
    /// another customer's.
    async fn update(
        &self,
        id: CustomerId,
        patch: &CustomerPatch,
    ) -> Result<Option<Customer>, CustomerError>;
}
