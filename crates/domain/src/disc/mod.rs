//! The disc catalog.

mod error;
mod port;
mod service;
mod values;

use chrono::{DateTime, Utc};

pub use crate::id::DiscId;
use crate::idempotency::{Canonical, Fingerprint};
use crate::{InvalidValue, Page};
pub use error::DiscError;
pub use port::DiscRepository;
#[cfg(any(test, feature = "mocks"))]
pub use port::MockDiscRepository;
pub use service::DiscService;
pub use values::{ArtistName, DiscName, Genre, ReleaseYear, StockQuantity};

/// A disc of the catalog and its stock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Disc {
    pub id: DiscId,
    pub name: DiscName,
    pub artist: ArtistName,
    pub year_of_release: ReleaseYear,
    pub genre: Genre,
    /// Units in stock.
    pub quantity: StockQuantity,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A disc as plain values, for the adapters that keep or send one (a table
/// row, an order's snapshot, a cache entry) and read it back with
/// [`Disc::from_record`], which applies every rule again: what comes back
/// from outside is checked like input.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct DiscRecord {
    pub id: uuid::Uuid,
    pub name: String,
    pub artist: String,
    pub year_of_release: i32,
    pub genre: String,
    pub quantity: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<&Disc> for DiscRecord {
    fn from(disc: &Disc) -> Self {
        Self {
            id: disc.id.as_uuid(),
            name: disc.name.as_str().to_owned(),
            artist: disc.artist.as_str().to_owned(),
            year_of_release: disc.year_of_release.get(),
            genre: disc.genre.as_str().to_owned(),
            quantity: disc.quantity.get(),
            created_at: disc.created_at,
            updated_at: disc.updated_at,
        }
    }
}

impl Disc {
    /// The disc `record` describes.
    ///
    /// # Errors
    /// [`InvalidValue`], naming the field, when a value breaks its rule.
    pub fn from_record(record: DiscRecord) -> Result<Self, InvalidValue> {
        fn field(what: &'static str) -> impl Fn(InvalidValue) -> InvalidValue {
            move |invalid| InvalidValue(format!("{what}: {}", invalid.0))
        }
        Ok(Self {
            id: DiscId::from_uuid(record.id),
            name: DiscName::parse(&record.name).map_err(field("disc name"))?,
            artist: ArtistName::parse(&record.artist).map_err(field("artist"))?,
            year_of_release: ReleaseYear::parse(i64::from(record.year_of_release))
                .map_err(field("year of release"))?,
            genre: Genre::parse(&record.genre).map_err(field("genre"))?,
            quantity: StockQuantity::from_stored(record.quantity).map_err(field("stock"))?,
            created_at: record.created_at,
            updated_at: record.updated_at,
        })
    }
}

/// A disc about to enter the catalog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDisc {
    pub id: DiscId,
    pub name: DiscName,
    pub artist: ArtistName,
    pub year_of_release: ReleaseYear,
    pub genre: Genre,
    /// Initial stock.
    pub quantity: StockQuantity,
}

impl NewDisc {
    /// What the new disc is: every field as validated (trimmed). Not the id,
    /// which each request generates anew.
    #[must_use]
    pub fn fingerprint(&self) -> Fingerprint {
        Canonical::new("disc")
            .field("name", self.name.as_str())
            .field("artist", self.artist.as_str())
            .field("year_of_release", self.year_of_release.get())
            .field("genre", self.genre.as_str())
            .field("quantity", self.quantity.get())
            .fingerprint()
    }
}

/// A partial update: `None` keeps the current value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DiscPatch {
    pub name: Option<DiscName>,
    pub artist: Option<ArtistName>,
    pub year_of_release: Option<ReleaseYear>,
    pub genre: Option<Genre>,
    /// Sets the stock (a restock, or a correction downwards). Stores apply
    /// it under the same discipline as purchases so no sale is lost.
    pub quantity: Option<StockQuantity>,
}

impl DiscPatch {
    /// True when the patch changes nothing.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// Which discs a listing returns. Every filter is optional; set filters
/// combine with AND. Results are ordered by name, then id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DiscFilter {
    /// Case-insensitive substring of the name.
    pub name_contains: Option<String>,
    /// Case-insensitive substring of the artist.
    pub artist_contains: Option<String>,
    /// Case-insensitive substring of the genre.
    pub genre_contains: Option<String>,
    /// Exact, case-sensitive name.
    pub name_exact: Option<String>,
    /// Exact, case-sensitive artist.
    pub artist_exact: Option<String>,
    /// Exact, case-sensitive genre.
    pub genre_exact: Option<String>,
    /// Earliest year of release, inclusive.
    pub year_of_release_min: Option<i32>,
    /// Latest year of release, inclusive.
    pub year_of_release_max: Option<i32>,
    /// `Some(true)`: only discs in stock; `Some(false)`: only sold-out discs.
    pub in_stock: Option<bool>,
    pub page: Page,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::sample_disc;

    #[test]
    fn a_disc_survives_its_record() {
        let disc = sample_disc(4);
        assert_eq!(Disc::from_record(DiscRecord::from(&disc)).ok(), Some(disc));
    }

    #[test]
    fn a_record_breaking_a_rule_names_the_field() {
        let mut record = DiscRecord::from(&sample_disc(4));
        record.genre = " ".to_owned();
        let refused = Disc::from_record(record).map(|_| ()).unwrap_err();
        assert!(refused.0.starts_with("genre: "), "{}", refused.0);
        let mut record = DiscRecord::from(&sample_disc(4));
        record.quantity = -1;
        assert!(Disc::from_record(record).is_err());
    }
}
