//! The JSON shapes of `/discs`, and their translation to and from the
//! domain.

use recordshop_domain::disc::{
    ArtistName, Disc, DiscFilter, DiscId, DiscName, DiscPatch, Genre, NewDisc, ReleaseYear,
    StockQuantity,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::ApiError;
use crate::json::timestamp;
use crate::params;
use crate::validation::Fields;

/// Body of `POST /discs`. Every field is optional here so that missing
/// ones are reported together with the invalid ones.
#[derive(Debug, Deserialize)]
pub(super) struct CreateDisc {
    name: Option<String>,
    artist: Option<String>,
    year_of_release: Option<i64>,
    genre: Option<String>,
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
#[derive(Debug, Deserialize)]
pub(super) struct UpdateDisc {
    name: Option<String>,
    artist: Option<String>,
    year_of_release: Option<i64>,
    genre: Option<String>,
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

/// Query of `GET /discs`.
#[derive(Debug, Deserialize)]
pub(super) struct DiscQuery {
    name: Option<String>,
    artist: Option<String>,
    genre: Option<String>,
    name_exact: Option<String>,
    artist_exact: Option<String>,
    genre_exact: Option<String>,
    year_of_release_min: Option<String>,
    year_of_release_max: Option<String>,
    in_stock: Option<String>,
    limit: Option<String>,
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
            name_contains: self.name,
            artist_contains: self.artist,
            genre_contains: self.genre,
            name_exact: self.name_exact,
            artist_exact: self.artist_exact,
            genre_exact: self.genre_exact,
        })
    }
}

/// A disc as the API shows it.
#[derive(Debug, Serialize)]
pub(crate) struct DiscResponse {
    id: Uuid,
    name: String,
    artist: String,
    year_of_release: i32,
    genre: String,
    quantity: i64,
    created_at: String,
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
