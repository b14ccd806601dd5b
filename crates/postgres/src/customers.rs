//! Customers: [`CustomerRepository`] over the `customers` table.

use async_trait::async_trait;
use deadpool_postgres::{GenericClient, Pool};
use recordshop_domain::StoreError;
use recordshop_domain::customer::{
    Customer, CustomerError, CustomerFilter, CustomerId, CustomerPatch, CustomerRepository,
    NewCustomer,
};
use recordshop_domain::idempotency::{Created, IdempotentCreate, IdempotentError};
use tokio_postgres::IsolationLevel;
use tokio_postgres::types::Type;

use crate::discs::like_escape;
use crate::error::{CUSTOMER_UNIQUE_CONSTRAINTS, store_error, unique_violation};
use crate::idempotency::{CUSTOMERS, Claim, IdempotencySettings, claim, record};
use crate::rows;
use crate::sql::{Statement, begin, connection, query_opt, query_planned_for_values};

/// [`CustomerRepository`] on PostgreSQL. Uniqueness of document and email is
/// the database's unique indexes, so two concurrent registrations cannot
/// both win. A keyed registration is a transaction: claim, insert, record.
#[derive(Clone)]
pub struct PgCustomerRepository {
    pool: Pool,
    idempotency: IdempotencySettings,
}

impl PgCustomerRepository {
    /// Customers stored through `pool`.
    #[must_use]
    pub fn new(pool: Pool) -> Self {
        Self {
            pool,
            idempotency: IdempotencySettings::default(),
        }
    }

    /// The same repository, keeping idempotency keys per `settings`.
    #[must_use]
    pub fn with_idempotency_settings(self, settings: IdempotencySettings) -> Self {
        Self {
            idempotency: settings,
            ..self
        }
    }
}

const INSERT_CUSTOMER: Statement = Statement::new(
    "insert_customer",
    "
    INSERT INTO customers (id, document, name, birth_date, email, phone)
    VALUES ($1, $2, $3, $4, $5, $6)
    RETURNING id, document, name, birth_date, email, phone, is_active, created_at, updated_at",
);

const SELECT_CUSTOMER: Statement = Statement::new(
    "select_customer",
    "
    SELECT id, document, name, birth_date, email, phone, is_active, created_at, updated_at
    FROM customers
    WHERE id = $1",
);

/// Optional filters as in `discs::LIST_DISCS`. `lower(email)` matches the
/// expression of the unique index `customers_email_key`, which serves it.
const LIST_CUSTOMERS: Statement = Statement::new(
    "list_customers",
    "
    SELECT id, document, name, birth_date, email, phone, is_active, created_at, updated_at
    FROM customers
    WHERE ($1::text IS NULL OR document = $1)
      AND ($2::text IS NULL OR lower(email) = lower($2))
      AND ($3::text IS NULL OR name ILIKE '%' || $3 || '%')
      AND ($4::boolean IS NULL OR is_active = $4)
    ORDER BY name, id
    LIMIT $5 OFFSET $6",
);

const UPDATE_CUSTOMER: Statement = Statement::new(
    "update_customer",
    "
    UPDATE customers SET
        document = COALESCE($2, document),
        name = COALESCE($3, name),
        birth_date = COALESCE($4, birth_date),
        email = COALESCE($5, email),
        phone = COALESCE($6, phone),
        is_active = COALESCE($7, is_active),
        updated_at = now()
    WHERE id = $1
    RETURNING id, document, name, birth_date, email, phone, is_active, created_at, updated_at",
);

/// A write's error: a taken document or email, or a storage failure.
fn write_error(error: tokio_postgres::Error) -> CustomerError {
    match unique_violation(&error) {
        Some(constraint) if CUSTOMER_UNIQUE_CONSTRAINTS.contains(&constraint) => {
            CustomerError::AlreadyExists
        }
        _ => CustomerError::Store(store_error(error)),
    }
}

/// Inserts `customer`, on a connection or inside a unit of work.
async fn insert_customer(
    client: &impl GenericClient,
    customer: &NewCustomer,
) -> Result<Customer, CustomerError> {
    let row = query_opt(
        client,
        &INSERT_CUSTOMER,
        &[
            &customer.id.as_uuid(),
            &customer.document.as_str(),
            &customer.name.as_str(),
            &customer.birth_date.get(),
            &customer.email.as_str(),
            &customer.phone.as_str(),
        ],
    )
    .await
    .map_err(write_error)?;
    let row = row
        .ok_or_else(|| StoreError::Unexpected(anyhow::anyhow!("INSERT … RETURNING gave no row")))?;
    Ok(rows::customer(&row)?)
}

/// The customer with this id, on a connection or inside a unit of work.
pub(crate) async fn find_customer(
    client: &impl GenericClient,
    id: CustomerId,
) -> Result<Option<Customer>, StoreError> {
    let row = query_opt(client, &SELECT_CUSTOMER, &[&id.as_uuid()])
        .await
        .map_err(store_error)?;
    row.as_ref().map(rows::customer).transpose()
}

#[async_trait]
impl CustomerRepository for PgCustomerRepository {
    #[tracing::instrument(level = "debug", skip_all, fields(customer_id = %customer.id))]
    async fn insert(&self, customer: &NewCustomer) -> Result<Customer, CustomerError> {
        let client = connection(&self.pool).await?;
        insert_customer(&client, customer).await
    }

    #[tracing::instrument(level = "debug", skip_all, fields(customer_id = %customer.id, key = %once.key))]
    async fn insert_once(
        &self,
        customer: &NewCustomer,
        once: &IdempotentCreate,
    ) -> Result<Created<Customer>, IdempotentError<CustomerError>> {
        let mut client = connection(&self.pool).await?;
        let tx = begin(&mut client, IsolationLevel::ReadCommitted).await?;
        // A taken document or email fails the insert and so drops the
        // transaction: the claim goes with it.
        if let Claim::Taken(recorded) = claim(&tx, &CUSTOMERS, once, self.idempotency).await? {
            return recorded.answer(once, rows::customer);
        }
        let stored = insert_customer(&tx, customer).await?;
        record(&tx, &CUSTOMERS, once, stored.id.as_uuid()).await?;
        tx.commit().await.map_err(store_error)?;
        Ok(Created::New(stored))
    }

    #[tracing::instrument(level = "debug", skip(self))]
    async fn get(&self, id: CustomerId) -> Result<Option<Customer>, StoreError> {
        let client = connection(&self.pool).await?;
        find_customer(&client, id).await
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn list(&self, filter: &CustomerFilter) -> Result<Vec<Customer>, StoreError> {
        let client = connection(&self.pool).await?;
        let rows = query_planned_for_values(
            &client,
            &LIST_CUSTOMERS,
            &[
                (&filter.document, Type::TEXT),
                (&filter.email, Type::TEXT),
                (
                    &filter.name_contains.as_deref().map(like_escape),
                    Type::TEXT,
                ),
                (&filter.is_active, Type::BOOL),
                (&filter.page.limit(), Type::INT8),
                (&filter.page.offset(), Type::INT8),
            ],
        )
        .await
        .map_err(store_error)?;
        rows::all(&rows, rows::customer)
    }

    #[tracing::instrument(level = "debug", skip(self, patch))]
    async fn update(
        &self,
        id: CustomerId,
        patch: &CustomerPatch,
    ) -> Result<Option<Customer>, CustomerError> {
        let client = connection(&self.pool).await?;
        let row = query_opt(
            &client,
            &UPDATE_CUSTOMER,
            &[
                &id.as_uuid(),
                &patch.document.as_ref().map(|document| document.as_str()),
                &patch.name.as_ref().map(|name| name.as_str()),
                &patch.birth_date.map(|date| date.get()),
                &patch.email.as_ref().map(|email| email.as_str()),
                &patch.phone.as_ref().map(|phone| phone.as_str()),
                &patch.is_active,
            ],
        )
        .await
        .map_err(write_error)?;
        Ok(row.as_ref().map(rows::customer).transpose()?)
    }
}
