//! The disc catalog.

mod error;
mod port;
mod service;
mod values;

use chrono::{DateTime, Utc};

use crate::Page;
pub use crate::id::DiscId;
use crate::idempotency::{Canonical, Fingerprint};
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
