use std::sync::Arc;

use super::{Disc, DiscFilter, DiscId, DiscPatch, DiscRepository, NewDisc};
use crate::retry::{MaybeConflict, retry_on_conflict};
use crate::{RetryPolicy, StoreError};

/// What can go wrong with a disc that exists or should.
#[derive(Debug, thiserror::Error)]
pub enum DiscError {
    #[error("disc {0} not found")]
    NotFound(DiscId),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl MaybeConflict for DiscError {
    fn is_conflict(&self) -> bool {
        matches!(self, Self::Store(error) if error.is_conflict())
    }
}

/// The catalog: adding, finding, editing, restocking and removing discs.
#[derive(Clone)]
pub struct DiscService {
    repository: Arc<dyn DiscRepository>,
    retry: RetryPolicy,
}

impl DiscService {
    /// A catalog over `repository`, retrying conflicting updates per `retry`.
    #[must_use]
    pub fn new(repository: Arc<dyn DiscRepository>, retry: RetryPolicy) -> Self {
        Self { repository, retry }
    }

    /// Adds a disc to the catalog under a fresh id.
    ///
    /// # Errors
    /// [`StoreError`] when storage fails.
    pub async fn create(&self, disc: NewDisc) -> Result<Disc, StoreError> {
        self.repository.insert(&disc).await
    }

    /// The disc with this id.
    ///
    /// # Errors
    /// [`DiscError::NotFound`] when unknown or deleted.
    pub async fn get(&self, id: DiscId) -> Result<Disc, DiscError> {
        self.repository
            .get(id)
            .await?
            .ok_or(DiscError::NotFound(id))
    }

    /// One page of matching discs.
    ///
    /// # Errors
    /// [`StoreError`] when storage fails.
    pub async fn list(&self, filter: &DiscFilter) -> Result<Vec<Disc>, StoreError> {
        self.repository.list(filter).await
    }

    /// Applies a partial update; an empty patch changes nothing and answers
    /// the disc as it is.
    ///
    /// # Errors
    /// [`DiscError::NotFound`] when unknown or deleted;
    /// [`StoreError::Conflict`] when concurrent writers kept winning for the
    /// whole retry policy.
    pub async fn update(&self, id: DiscId, patch: DiscPatch) -> Result<Disc, DiscError> {
        if patch.is_empty() {
            return self.get(id).await;
        }
        retry_on_conflict(&self.retry, || async {
            self.repository
                .update(id, &patch)
                .await?
                .ok_or(DiscError::NotFound(id))
        })
        .await
    }

    /// Removes a disc from the catalog; its orders keep their history.
    ///
    /// # Errors
    /// [`DiscError::NotFound`] when unknown or already deleted.
    pub async fn delete(&self, id: DiscId) -> Result<(), DiscError> {
        if self.repository.delete(id).await? {
            Ok(())
        } else {
            Err(DiscError::NotFound(id))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::disc::{MockDiscRepository, StockQuantity};
    use crate::testing::sample_disc;
    use mockall::predicate::eq;

    fn service(repository: MockDiscRepository) -> DiscService {
        DiscService::new(Arc::new(repository), RetryPolicy::default())
    }

    #[tokio::test]
    async fn get_of_an_unknown_disc_is_not_found() {
        let mut repository = MockDiscRepository::new();
        repository.expect_get().returning(|_| Ok(None));
        let id = DiscId::generate();
        let result = service(repository).get(id).await;
        assert!(matches!(result, Err(DiscError::NotFound(missing)) if missing == id));
    }

    #[tokio::test]
    async fn an_empty_patch_reads_without_writing() {
        let disc = sample_disc(3);
        let id = disc.id;
        let mut repository = MockDiscRepository::new();
        repository.expect_update().never();
        repository
            .expect_get()
            .with(eq(id))
            .returning(move |_| Ok(Some(disc.clone())));
        let updated = service(repository).update(id, DiscPatch::default()).await;
        assert_eq!(updated.map(|d| d.id).ok(), Some(id));
    }

    #[tokio::test(start_paused = true)]
    async fn a_restock_that_conflicts_is_retried() {
        let disc = sample_disc(10);
        let id = disc.id;
        let mut repository = MockDiscRepository::new();
        let mut seq = mockall::Sequence::new();
        repository
            .expect_update()
            .times(2)
            .in_sequence(&mut seq)
            .returning(|_, _| Err(StoreError::Conflict));
        repository
            .expect_update()
            .times(1)
            .in_sequence(&mut seq)
            .returning(move |_, _| Ok(Some(disc.clone())));
        let patch = DiscPatch {
            quantity: StockQuantity::parse(10).ok(),
            ..DiscPatch::default()
        };
        let updated = service(repository).update(id, patch).await;
        assert_eq!(updated.map(|d| d.quantity.get()).ok(), Some(10));
    }

    #[tokio::test]
    async fn updating_an_unknown_disc_is_not_found() {
        let mut repository = MockDiscRepository::new();
        repository.expect_update().returning(|_, _| Ok(None));
        let patch = DiscPatch {
            quantity: StockQuantity::parse(1).ok(),
            ..DiscPatch::default()
        };
        let result = service(repository).update(DiscId::generate(), patch).await;
        assert!(matches!(result, Err(DiscError::NotFound(_))));
    }

    #[tokio::test]
    async fn deleting_twice_is_not_found_the_second_time() {
        let mut repository = MockDiscRepository::new();
        let mut seq = mockall::Sequence::new();
        repository
            .expect_delete()
            .times(1)
            .in_sequence(&mut seq)
            .returning(|_| Ok(true));
        repository
            .expect_delete()
            .times(1)
            .in_sequence(&mut seq)
            .returning(|_| Ok(false));
        let service = service(repository);
        let id = DiscId::generate();
        assert!(service.delete(id).await.is_ok());
        assert!(matches!(
            service.delete(id).await,
            Err(DiscError::NotFound(_))
        ));
    }

    #[tokio::test]
    async fn storage_failures_pass_through_unchanged() {
        let mut repository = MockDiscRepository::new();
        repository.expect_list().returning(|_| {
            Err(StoreError::Unavailable(anyhow::anyhow!(
                "connection refused"
            )))
        });
        let result = service(repository).list(&DiscFilter::default()).await;
        assert!(matches!(result, Err(StoreError::Unavailable(_))));
    }
}
