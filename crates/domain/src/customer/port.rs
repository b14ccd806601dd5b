use async_trait::async_trait;

use super::{Customer, CustomerError, CustomerFilter, CustomerId, CustomerPatch, NewCustomer};
use crate::StoreError;

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
