use std::sync::Arc;

use super::{Disc, DiscError, DiscFilter, DiscId, DiscPatch, DiscRepository, NewDisc};
use crate::idempotency::{Created, IdempotencyRequest, IdempotentCreate, IdempotentError};
use crate::retry::retry_on_conflict;
use crate::{RetryPolicy, StoreError};

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
    #[tracing::instrument(name = "discs.create", skip_all)]
    pub async fn create(&self, disc: NewDisc) -> Result<Disc, StoreError> {
        self.repository.insert(&disc).await
    }

    /// Adds a disc as [`create`](Self::create) does, at most once per
    /// idempotency key when `idempotency` is given: a repeat with the same
    /// request answers [`Created::Replayed`] with the disc as it was when
    /// created (its stock then included). Without a key, the disc is always
    /// [`Created::New`].
    ///
    /// # Errors
    /// [`IdempotentError::IdempotencyKeyReused`] when the key was used for a
    /// different disc; otherwise [`StoreError`] inside
    /// [`IdempotentError::Create`].
    #[tracing::instrument(name = "discs.create_once", skip_all, fields(disc_id = %disc.id, keyed = idempotency.is_some()))]
    pub async fn create_once(
        &self,
        disc: NewDisc,
        idempotency: Option<IdempotencyRequest>,
    ) -> Result<Created<Disc>, IdempotentError<StoreError>> {
        let Some(request) = idempotency else {
            return self
                .create(disc)
                .await
                .map(Created::New)
                .map_err(IdempotentError::Create);
        };
        let once = IdempotentCreate::new(request, disc.fingerprint());
        self.repository.insert_once(&disc, &once).await
    }

    /// The disc with this id.
    ///
    /// # Errors
    /// [`DiscError::NotFound`] when unknown or deleted.
    #[tracing::instrument(name = "discs.get", skip_all)]
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
    #[tracing::instrument(name = "discs.list", skip_all)]
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
    #[tracing::instrument(name = "discs.update", skip_all)]
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
    #[tracing::instrument(name = "discs.delete", skip_all)]
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
    use crate::disc::{
        ArtistName, DiscName, Genre, MockDiscRepository, ReleaseYear, StockQuantity,
    };
    use crate::testing::{idempotency_request, sample_disc};
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

    fn new_disc() -> NewDisc {
        let disc = sample_disc(7);
        NewDisc {
            id: DiscId::generate(),
            name: disc.name,
            artist: disc.artist,
            year_of_release: disc.year_of_release,
            genre: disc.genre,
            quantity: disc.quantity,
        }
    }

    #[tokio::test]
    async fn a_keyed_create_hands_the_store_its_key_and_fingerprint() {
        let new = new_disc();
        let expected = IdempotentCreate::new(
            idempotency_request("staff:ops", "disc-1"),
            new.fingerprint(),
        );
        let mut repository = MockDiscRepository::new();
        repository.expect_insert().never();
        repository
            .expect_insert_once()
            .with(eq(new.clone()), eq(expected))
            .times(1)
            .returning(|disc, _| {
                let mut stored = sample_disc(7);
                stored.id = disc.id;
                Ok(Created::New(stored))
            });
        let result = service(repository)
            .create_once(
                new.clone(),
                Some(idempotency_request("staff:ops", "disc-1")),
            )
            .await;
        assert!(
            matches!(&result, Ok(Created::New(disc)) if disc.id == new.id),
            "{result:?}"
        );
    }

    #[tokio::test]
    async fn an_unkeyed_create_is_new() {
        let mut repository = MockDiscRepository::new();
        repository.expect_insert_once().never();
        repository
            .expect_insert()
            .times(1)
            .returning(|_| Ok(sample_disc(1)));
        let result = service(repository).create_once(new_disc(), None).await;
        assert!(matches!(result, Ok(Created::New(_))), "{result:?}");
    }

    #[test]
    fn a_disc_fingerprint_covers_every_field_but_the_id() {
        let base = new_disc();
        let mut other_id = base.clone();
        other_id.id = DiscId::generate();
        assert_eq!(base.fingerprint(), other_id.fingerprint());

        let valid = |result: Result<NewDisc, crate::InvalidValue>| {
            result.unwrap_or_else(|e| panic!("test value: {e}"))
        };
        let changes: [(&str, NewDisc); 5] = [
            (
                "name",
                valid(DiscName::parse("Other").map(|name| NewDisc {
                    name,
                    ..base.clone()
                })),
            ),
            (
                "artist",
                valid(ArtistName::parse("Other").map(|artist| NewDisc {
                    artist,
                    ..base.clone()
                })),
            ),
            (
                "year",
                valid(
                    ReleaseYear::parse_in(1999, 2026).map(|year_of_release| NewDisc {
                        year_of_release,
                        ..base.clone()
                    }),
                ),
            ),
            (
                "genre",
                valid(Genre::parse("Other").map(|genre| NewDisc {
                    genre,
                    ..base.clone()
                })),
            ),
            (
                "quantity",
                valid(StockQuantity::parse(8).map(|quantity| NewDisc {
                    quantity,
                    ..base.clone()
                })),
            ),
        ];
        for (field, changed) in changes {
            assert_ne!(base.fingerprint(), changed.fingerprint(), "{field}");
        }
    }
}
