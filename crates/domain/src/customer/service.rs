use std::sync::Arc;

use super::{Customer, CustomerFilter, CustomerId, CustomerPatch, CustomerRepository, NewCustomer};
use crate::StoreError;

/// What can go wrong with a customer.
#[derive(Debug, thiserror::Error)]
pub enum CustomerError {
    #[error("customer {0} not found")]
    NotFound(CustomerId),
    /// Another customer already has this document or email.
    #[error("another customer already has this document or email")]
    AlreadyExists,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Registering, finding, editing and deactivating customers.
#[derive(Clone)]
pub struct CustomerService {
    repository: Arc<dyn CustomerRepository>,
}

impl CustomerService {
    /// Customers kept in `repository`.
    #[must_use]
    pub fn new(repository: Arc<dyn CustomerRepository>) -> Self {
        Self { repository }
    }

    /// Registers an active customer.
    ///
    /// # Errors
    /// [`CustomerError::AlreadyExists`] when the document or email is taken.
    pub async fn register(&self, customer: NewCustomer) -> Result<Customer, CustomerError> {
        self.repository.insert(&customer).await
    }

    /// The customer with this id, active or not.
    ///
    /// # Errors
    /// [`CustomerError::NotFound`] when unknown.
    pub async fn get(&self, id: CustomerId) -> Result<Customer, CustomerError> {
        self.repository
            .get(id)
            .await?
            .ok_or(CustomerError::NotFound(id))
    }

    /// One page of matching customers.
    ///
    /// # Errors
    /// [`StoreError`] when storage fails.
    pub async fn list(&self, filter: &CustomerFilter) -> Result<Vec<Customer>, StoreError> {
        self.repository.list(filter).await
    }

    /// Applies a partial update; an empty patch answers the customer as is.
    ///
    /// # Errors
    /// [`CustomerError::NotFound`] when unknown;
    /// [`CustomerError::AlreadyExists`] when the new document or email is
    /// another customer's.
    pub async fn update(
        &self,
        id: CustomerId,
        patch: CustomerPatch,
    ) -> Result<Customer, CustomerError> {
        if patch.is_empty() {
            return self.get(id).await;
        }
        self.repository
            .update(id, &patch)
            .await?
            .ok_or(CustomerError::NotFound(id))
    }

    /// Deactivates a customer: the record and orders stay, purchases stop.
    /// Deactivating an inactive customer succeeds and changes nothing else.
    ///
    /// # Errors
    /// [`CustomerError::NotFound`] when unknown.
    pub async fn deactivate(&self, id: CustomerId) -> Result<Customer, CustomerError> {
        let patch = CustomerPatch {
            is_active: Some(false),
            ..CustomerPatch::default()
        };
        self.update(id, patch).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::customer::MockCustomerRepository;
    use crate::testing::{sample_customer, sample_new_customer};
    use mockall::predicate::{eq, function};

    fn service(repository: MockCustomerRepository) -> CustomerService {
        CustomerService::new(Arc::new(repository))
    }

    #[tokio::test]
    async fn registering_a_taken_document_or_email_is_refused() {
        let mut repository = MockCustomerRepository::new();
        repository
            .expect_insert()
            .returning(|_| Err(CustomerError::AlreadyExists));
        let result = service(repository).register(sample_new_customer("1")).await;
        assert!(matches!(result, Err(CustomerError::AlreadyExists)));
    }

    #[tokio::test]
    async fn deactivation_sets_only_is_active() {
        let mut customer = sample_customer();
        customer.is_active = false;
        let id = customer.id;
        let mut repository = MockCustomerRepository::new();
        repository
            .expect_update()
            .with(
                eq(id),
                function(|patch: &CustomerPatch| {
                    *patch
                        == CustomerPatch {
                            is_active: Some(false),
                            ..CustomerPatch::default()
                        }
                }),
            )
            .times(1)
            .returning(move |_, _| Ok(Some(customer.clone())));
        let result = service(repository).deactivate(id).await;
        assert_eq!(result.map(|c| c.is_active).ok(), Some(false));
    }

    #[tokio::test]
    async fn deactivating_an_unknown_customer_is_not_found() {
        let mut repository = MockCustomerRepository::new();
        repository.expect_update().returning(|_, _| Ok(None));
        let result = service(repository).deactivate(CustomerId::generate()).await;
        assert!(matches!(result, Err(CustomerError::NotFound(_))));
    }

    #[tokio::test]
    async fn an_empty_patch_reads_without_writing() {
        let customer = sample_customer();
        let id = customer.id;
        let mut repository = MockCustomerRepository::new();
        repository.expect_update().never();
        repository
            .expect_get()
            .returning(move |_| Ok(Some(customer.clone())));
        let result = service(repository)
            .update(id, CustomerPatch::default())
            .await;
        assert_eq!(result.map(|c| c.id).ok(), Some(id));
    }

    #[tokio::test]
    async fn get_of_an_unknown_customer_is_not_found() {
        let mut repository = MockCustomerRepository::new();
        repository.expect_get().returning(|_| Ok(None));
        let result = service(repository).get(CustomerId::generate()).await;
        assert!(matches!(result, Err(CustomerError::NotFound(_))));
    }
}
