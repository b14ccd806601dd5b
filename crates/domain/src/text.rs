//! Bounded, trimmed text: the shape of most text fields in the contract.

use crate::InvalidValue;

/// Trims `raw` and checks its length in characters (not bytes).
pub(crate) fn bounded_trimmed(raw: &str, min: usize, max: usize) -> Result<String, InvalidValue> {
    let trimmed = raw.trim();
    let length = trimmed.chars().count();
    if (min..=max).contains(&length) {
        Ok(trimmed.to_owned())
    } else {
        Err(InvalidValue::new(format!(
            "must be {min} to {max} characters after trimming, got {length}"
        )))
    }
}

/// Declares a newtype over `String` whose only constructor is
/// [`bounded_trimmed`] with the given bounds.
macro_rules! bounded_text {
    ($(#[$doc:meta])* $name:ident, $min:expr, $max:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct $name(String);

        impl $name {
            /// Fewest characters allowed, after trimming.
            pub const MIN_CHARS: usize = $min;
            /// Most characters allowed, after trimming.
            pub const MAX_CHARS: usize = $max;

            /// Trims `raw` and accepts it when its length is within bounds.
            ///
            /// # Errors
            /// [`InvalidValue`](crate::InvalidValue) when it is too short or too long.
            pub fn parse(raw: &str) -> Result<Self, crate::InvalidValue> {
                crate::text::bounded_trimmed(raw, $min, $max).map(Self)
            }

            /// The text, as stored.
            #[must_use]
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

pub(crate) use bounded_text;

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn counts_characters_not_bytes() {
        assert_eq!(bounded_trimmed("ção", 3, 3).as_deref(), Ok("ção"));
    }

    #[test]
    fn whitespace_only_is_empty() {
        assert!(bounded_trimmed("   \t", 1, 10).is_err());
    }

    proptest! {
        #[test]
        fn accepted_text_is_trimmed_and_within_bounds(raw in "\\PC{0,40}") {
            if let Ok(text) = bounded_trimmed(&raw, 1, 20) {
                prop_assert_eq!(text.trim(), text.as_str());
                let chars = text.chars().count();
                prop_assert!((1..=20).contains(&chars));
            } else {
                let chars = raw.trim().chars().count();
                prop_assert!(chars == 0 || chars > 20);
            }
        }
    }
}
