//! The JSON shapes of `/discs`, and their translation to and from the
//! domain.

use recordshop_domain::disc::{
    ArtistName, Disc, DiscFilter, DiscId, DiscName, DiscPatch, Genre, NewDisc, ReleaseYear,
    StockQuantity,
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::error::ApiError;
use crate::json::timestamp;
use crate::params;
use crate::validation::Fields;

/// Body of `POST /discs`. Every field is optional here so that missing
/// ones are reported together with the invalid ones; the schema shows what
/// a client must send.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(
    description = "A disc to add to the catalog. Text is stored trimmed; unknown fields are ignored.",
    example = json!({"name": "Kind of Blue", "artist": "Miles Davis", "year_of_release": 1959, "genre": "Jazz", "quantity": 20})
)]
pub(super) struct CreateDisc {
    /// 1 to 200 characters after trimming.
    #[schema(value_type = String, required = true, min_length = 1, max_length = 200, example = "Kind of Blue")]
    name: Option<String>,
    /// 1 to 200 characters after trimming.
    #[schema(value_type = String, required = true, min_length = 1, max_length = 200, example = "Miles Davis")]
    artist: Option<String>,
    /// From 1877 (the phonograph) to next year.
    #[schema(value_type = i32, required = true, minimum = 1877, example = 1959)]
    year_of_release: Option<i64>,
    /// 1 to 200 characters after trimming.
    #[schema(value_type = String, required = true, min_length = 1, max_length = 200, example = "Jazz")]
    genre: Option<String>,
    /// Units in stock, 0 to 1,000,000,000.
    #[schema(value_type = i64, required = true, minimum = 0, maximum = 1_000_000_000, example = 20)]
    quantity: Option<i64>,
}

impl CreateDisc {
    /// A disc for the catalog under a fresh id, or a 422 listing every
    /// missing or invalid field.
    pub(super) fn try_into_domain(self) -> Result<NewDisc, ApiError> {
        let mut fields = Fields::default();
        let name = fields.required("name", self.name, |raw| DiscName::parse(&raw));
        let artist = fields.required("artist", self.artist, |raw| ArtistName::parse(&raw));
        let year_of_release =
            fields.required("year_of_release", self.year_of_release, ReleaseYear::parse);
        let genre = fields.required("genre", self.genre, |raw| Genre::parse(&raw));
        let quantity = fields.required("quantity", self.quantity, StockQuantity::parse);
        let (Some(name), Some(artist), Some(year_of_release), Some(genre), Some(quantity)) =
            (name, artist, year_of_release, genre, quantity)
        else {
            return Err(fields.into_error());
        };
        Ok(NewDisc {
            id: DiscId::generate(),
            name,
            artist,
            year_of_release,
            genre,
            quantity,
        })
    }
}

/// Body of `PUT` / `PATCH /discs/{id}`: any subset of the create fields;
/// absent or `null` keeps the current value.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(
    description = "Any subset of a disc's fields, same rules as on create; an absent or `null` field keeps its value. Setting `quantity` sets the stock (a restock).",
    example = json!({"quantity": 50})
)]
pub(super) struct UpdateDisc {
    /// 1 to 200 characters after trimming.
    #[schema(min_length = 1, max_length = 200)]
    name: Option<String>,
    /// 1 to 200 characters after trimming.
    #[schema(min_length = 1, max_length = 200)]
    artist: Option<String>,
    /// From 1877 to next year.
    #[schema(value_type = Option<i32>, minimum = 1877)]
    year_of_release: Option<i64>,
    /// 1 to 200 characters after trimming.
    #[schema(min_length = 1, max_length = 200)]
    genre: Option<String>,
    /// The new stock, 0 to 1,000,000,000.
    #[schema(minimum = 0, maximum = 1_000_000_000)]
    quantity: Option<i64>,
}

impl UpdateDisc {
    /// The patch, or a 422 listing every invalid field.
    pub(super) fn try_into_domain(self) -> Result<DiscPatch, ApiError> {
        let mut fields = Fields::default();
        let patch = DiscPatch {
            name: fields.optional("name", self.name, |raw| DiscName::parse(&raw)),
            artist: fields.optional("artist", self.artist, |raw| ArtistName::parse(&raw)),
            year_of_release: fields.optional(
                "year_of_release",
                self.year_of_release,
                ReleaseYear::parse,
            ),
            genre: fields.optional("genre", self.genre, |raw| Genre::parse(&raw)),
            quantity: fields.optional("quantity", self.quantity, StockQuantity::parse),
        };
        fields.finish().map(|()| patch)
    }
}

/// Query of `GET /discs`. Numbers and booleans arrive as text and are
/// parsed by hand (see `params`); the documented types are what they must
/// parse as.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct DiscQuery {
    /// Case-insensitive substring of the name.
    #[param(example = "blue")]
    name: Option<String>,
    /// Case-insensitive substring of the artist.
    artist: Option<String>,
    /// Case-insensitive substring of the genre.
    #[param(example = "jazz")]
    genre: Option<String>,
    /// Exact name, case-sensitive.
    name_exact: Option<String>,
    /// Exact artist, case-sensitive.
    artist_exact: Option<String>,
    /// Exact genre, case-sensitive.
    genre_exact: Option<String>,
    /// Released in this year or later.
    #[param(value_type = Option<i32>, example = 1955)]
    year_of_release_min: Option<String>,
    /// Released in this year or earlier.
    #[param(value_type = Option<i32>, example = 1965)]
    year_of_release_max: Option<String>,
    /// `true`: only discs with stock left; `false` or absent: all.
    #[param(value_type = Option<bool>)]
    in_stock: Option<String>,
    /// Page size, 0 to 100 (larger values are capped at 100); default 100.
    #[param(value_type = Option<i64>, minimum = 0)]
    limit: Option<String>,
    /// Items to skip; default 0.
    #[param(value_type = Option<i64>, minimum = 0)]
    offset: Option<String>,
}

impl DiscQuery {
    /// The filter, or a 400 naming the first bad parameter.
    pub(super) fn try_into_domain(self) -> Result<DiscFilter, ApiError> {
        Ok(DiscFilter {
            year_of_release_min: params::integer(
                "year_of_release_min",
                self.year_of_release_min.as_deref(),
            )?,
            year_of_release_max: params::integer(
                "year_of_release_max",
                self.year_of_release_max.as_deref(),
            )?,
            in_stock: params::boolean("in_stock", self.in_stock.as_deref())?,
            page: params::page(self.limit.as_deref(), self.offset.as_deref())?,
            name_contains: params::text("name", self.name)?,
            artist_contains: params::text("artist", self.artist)?,
            genre_contains: params::text("genre", self.genre)?,
            name_exact: params::text("name_exact", self.name_exact)?,
            artist_exact: params::text("artist_exact", self.artist_exact)?,
            genre_exact: params::text("genre_exact", self.genre_exact)?,
        })
    }
}

/// A disc as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Disc, description = "A disc of the catalog.")]
pub(crate) struct DiscResponse {
    #[schema(example = "bcd8a0e9-dc0a-4ae7-a783-458542e2cc39")]
    id: Uuid,
    #[schema(example = "We are Reactive")]
    name: String,
    #[schema(example = "Hohpe")]
    artist: String,
    #[schema(example = 2022)]
    year_of_release: i32,
    #[schema(example = "Indie")]
    genre: String,
    /// Units in stock.
    #[schema(example = 500)]
    quantity: i64,
    /// RFC 3339, UTC, milliseconds.
    #[schema(format = DateTime, example = "2026-11-22T10:15:30.123Z")]
    created_at: String,
    /// RFC 3339, UTC, milliseconds.
    #[schema(format = DateTime, example = "2026-11-22T10:15:30.123Z")]
    updated_at: String,
}

impl From<&Disc> for DiscResponse {
    fn from(disc: &Disc) -> Self {
        Self {
            id: disc.id.as_uuid(),
            name: disc.name.as_str().to_owned(),
            artist: disc.artist.as_str().to_owned(),
            year_of_release: disc.year_of_release.get(),
            genre: disc.genre.as_str().to_owned(),
            quantity: disc.quantity.get(),
            created_at: timestamp(&disc.created_at),
            updated_at: timestamp(&disc.updated_at),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::FieldError;

    #[test]
    fn an_empty_create_lists_every_field_as_required() {
        let body: CreateDisc = serde_json::from_str("{}").unwrap();
        let Err(ApiError::Validation(errors)) = body.try_into_domain() else {
            panic!("expected a validation error");
        };
        let fields: Vec<&str> = errors
            .iter()
            .map(|FieldError { field, .. }| *field)
            .collect();
        assert_eq!(
            fields,
            ["name", "artist", "year_of_release", "genre", "quantity"]
        );
        assert!(errors.iter().all(|e| e.message == "is required"));
    }

    #[test]
    fn null_in_an_update_keeps_the_value() {
        let body: UpdateDisc = serde_json::from_str(r#"{"name": null, "quantity": 3}"#).unwrap();
        let patch = body.try_into_domain().unwrap();
        assert!(patch.name.is_none());
        assert_eq!(patch.quantity.map(StockQuantity::get), Some(3));
    }
}
