//! Gathering every field error of a request body before answering, so a
//! client fixes its request in one round trip instead of one per field.

use recordshop_domain::InvalidValue;

use crate::error::{ApiError, FieldError};

/// The message for a required field the body left out (or sent as `null`).
const REQUIRED: &str = "is required";

/// Collects field errors while a DTO is turned into domain values.
#[derive(Debug, Default)]
pub(crate) struct Fields {
    errors: Vec<FieldError>,
}

impl Fields {
    /// Parses a field the body must carry; records "is required" when absent.
    pub(crate) fn required<R, T>(
        &mut self,
        field: &'static str,
        raw: Option<R>,
        parse: impl FnOnce(R) -> Result<T, InvalidValue>,
    ) -> Option<T> {
        if raw.is_none() {
            self.reject(field, REQUIRED);
        }
        self.optional(field, raw, parse)
    }

    /// Parses a field the body may leave out.
    pub(crate) fn optional<R, T>(
        &mut self,
        field: &'static str,
        raw: Option<R>,
        parse: impl FnOnce(R) -> Result<T, InvalidValue>,
    ) -> Option<T> {
        match parse(raw?) {
            Ok(value) => Some(value),
            Err(InvalidValue(message)) => {
                self.reject(field, message);
                None
            }
        }
    }

    fn reject(&mut self, field: &'static str, message: impl Into<String>) {
        self.errors.push(FieldError {
            field,
            message: message.into(),
        });
    }

    /// `Ok` when no field failed.
    pub(crate) fn finish(self) -> Result<(), ApiError> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(self.into_error())
        }
    }

    /// The 422 listing every failing field.
    pub(crate) fn into_error(self) -> ApiError {
        ApiError::Validation(self.errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn positive(n: i64) -> Result<i64, InvalidValue> {
        if n > 0 {
            Ok(n)
        } else {
            Err(InvalidValue("must be positive".to_owned()))
        }
    }

    #[test]
    fn gathers_every_failure_in_field_order() {
        let mut fields = Fields::default();
        assert_eq!(fields.required("a", None::<i64>, positive), None);
        assert_eq!(fields.required("b", Some(-1), positive), None);
        assert_eq!(fields.optional("c", None::<i64>, positive), None);
        assert_eq!(fields.optional("d", Some(2), positive), Some(2));
        let Err(ApiError::Validation(errors)) = fields.finish() else {
            panic!("expected a validation error");
        };
        let listed: Vec<(&str, &str)> = errors
            .iter()
            .map(|e| (e.field, e.message.as_str()))
            .collect();
        assert_eq!(listed, [("a", "is required"), ("b", "must be positive")]);
    }
}
