use std::sync::Arc;

use super::{
    Customer, CustomerError, CustomerFilter, CustomerId, CustomerPatch, CustomerRepository,
    NewCustomer,
};
use crate::StoreError;
use crate::idempotency::{Created, IdempotencyRequest, IdempotentCreate, IdempotentError};

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
    #[tracing::instrument(name = "customers.register", skip_all)]
    pub async fn register(&self, customer: NewCustomer) -> Result<Customer, CustomerError> {
        self.repository.insert(&customer).await
    }

    /// Registers a customer as [`register`](Self::register) does, at most
    /// once per idempotency key when `idempotency` is given: a repeat with
    /// the same request answers [`Created::Replayed`] with the customer as
    /// registered then (not `AlreadyExists`). Without a key, the customer is
    /// always [`Created::New`].
    ///
    /// # Errors
    /// [`IdempotentError::IdempotencyKeyReused`] when the key was used for a
    /// different registration; otherwise [`CustomerError`] inside
    /// [`IdempotentError::Create`].
    #[tracing::instrument(name = "customers.register_once", skip_all, fields(customer_id = %customer.id, keyed = idempotency.is_some()))]
    pub async fn register_once(
        &self,
        customer: NewCustomer,
        idempotency: Option<IdempotencyRequest>,
    ) -> Result<Created<Customer>, IdempotentError<CustomerError>> {
        let Some(request) = idempotency else {
            return self
                .register(customer)
                .await
                .map(Created::New)
                .map_err(IdempotentError::Create);
        };
        let once = IdempotentCreate::new(request, customer.fingerprint());
        self.repository.insert_once(&customer, &once).await
    }

    /// The customer with this id, active or not.
    ///
    /// # Errors
    /// [`CustomerError::NotFound`] when unknown.
    #[tracing::instrument(name = "customers.get", skip_all)]
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
    #[tracing::instrument(name = "customers.list", skip_all)]
    pub async fn list(&self, filter: &CustomerFilter) -> Result<Vec<Customer>, StoreError> {
        self.repository.list(filter).await
    }

    /// Applies a partial update; an empty patch answers the customer as is.
    ///
    /// # Errors
    /// [`CustomerError::NotFound`] when unknown;
    /// [`CustomerError::AlreadyExists`] when the new document or email is
    /// another customer's.
    #[tracing::instrument(name = "customers.update", skip_all)]
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
    #[tracing::instrument(name = "customers.deactivate", skip_all)]
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
    use crate::customer::{Document, Email, PersonName, Phone};
    use crate::testing::{idempotency_request, sample_customer, sample_new_customer};
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

    #[tokio::test]
    async fn a_keyed_registration_hands_the_store_its_key_and_fingerprint() {
        let new = sample_new_customer("keyed");
        let expected =
            IdempotentCreate::new(idempotency_request("staff:ops", "reg-1"), new.fingerprint());
        let mut repository = MockCustomerRepository::new();
        repository.expect_insert().never();
        repository
            .expect_insert_once()
            .with(eq(new.clone()), eq(expected))
            .times(1)
            .returning(|customer, _| {
                let mut stored = sample_customer();
                stored.id = customer.id;
                Ok(Created::Replayed(stored))
            });
        let result = service(repository)
            .register_once(new.clone(), Some(idempotency_request("staff:ops", "reg-1")))
            .await;
        assert!(
            matches!(&result, Ok(Created::Replayed(customer)) if customer.id == new.id),
            "{result:?}"
        );
    }

    #[tokio::test]
    async fn a_reused_registration_key_surfaces() {
        let mut repository = MockCustomerRepository::new();
        repository
            .expect_insert_once()
            .returning(|_, once| Err(IdempotentError::IdempotencyKeyReused(once.key.clone())));
        let result = service(repository)
            .register_once(
                sample_new_customer("2"),
                Some(idempotency_request("anonymous", "reg-2")),
            )
            .await;
        assert!(
            matches!(result, Err(IdempotentError::IdempotencyKeyReused(_))),
            "{result:?}"
        );
    }

    #[tokio::test]
    async fn an_unkeyed_registration_is_new() {
        let mut repository = MockCustomerRepository::new();
        repository.expect_insert_once().never();
        repository
            .expect_insert()
            .times(1)
            .returning(|_| Ok(sample_customer()));
        let result = service(repository)
            .register_once(sample_new_customer("3"), None)
            .await;
        assert!(matches!(result, Ok(Created::New(_))), "{result:?}");
    }

    #[test]
    fn a_registration_fingerprint_covers_every_field_but_the_id() {
        let base = sample_new_customer("fp");
        let mut other_id = base.clone();
        other_id.id = CustomerId::generate();
        assert_eq!(base.fingerprint(), other_id.fingerprint());

        let valid = |result: Result<NewCustomer, crate::InvalidValue>| {
            result.unwrap_or_else(|e| panic!("test value: {e}"))
        };
        let changes: [(&str, NewCustomer); 5] = [
            (
                "document",
                valid(Document::parse("doc-other").map(|document| NewCustomer {
                    document,
                    ..base.clone()
                })),
            ),
            (
                "name",
                valid(PersonName::parse("Jane Doe").map(|name| NewCustomer {
                    name,
                    ..base.clone()
                })),
            ),
            (
                "birth_date",
                valid(
                    crate::customer::BirthDate::parse("1999-12-31").map(|birth_date| NewCustomer {
                        birth_date,
                        ..base.clone()
                    }),
                ),
            ),
            (
                "email",
                valid(
                    Email::parse("JOHN.fp@example.com").map(|email| NewCustomer {
                        email,
                        ..base.clone()
                    }),
                ),
            ),
            (
                "phone",
                valid(Phone::parse("+1 555 0100").map(|phone| NewCustomer {
                    phone,
                    ..base.clone()
                })),
            ),
        ];
        for (field, changed) in changes {
            assert_ne!(base.fingerprint(), changed.fingerprint(), "{field}");
        }
        // Parsing trims, so the same value sent with spaces is the same request.
        let padded = valid(PersonName::parse("  John Doe ").map(|name| NewCustomer {
            name,
            ..base.clone()
        }));
        assert_eq!(base.fingerprint(), padded.fingerprint());
    }
}
