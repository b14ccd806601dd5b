//! Bounded, trimmed text: the shape of most text fields in the contract.

use crate::InvalidValue;

/// The rule broken by text holding a control character.
pub(crate) const NO_CONTROL_CHARACTERS: &str = "must not contain control characters";

/// Trims `raw`, refuses control characters (`char::is_control`: NUL, tabs,
/// line breaks, DEL, C1) and checks its length in characters (not bytes).
///
/// Control characters are refused because no name, document or phone holds
/// one, and NUL cannot be stored at all (PostgreSQL refuses it in text).
/// Trimming comes first, so a trailing newline is trimmed away, not refused.
pub(crate) fn bounded_trimmed(raw: &str, min: usize, max: usize) -> Result<String, InvalidValue> {
    let trimmed = raw.trim();
    if trimmed.chars().any(char::is_control) {
        return Err(InvalidValue::new(NO_CONTROL_CHARACTERS));
    }
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

            /// Trims `raw` and accepts it when its length is within bounds
            /// and it holds no control character.
            ///
            /// # Errors
            /// [`InvalidValue`](crate::InvalidValue) when it is too short, too
            /// long, or holds a control character.
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

    #[test]
    fn control_characters_are_refused_with_their_rule() {
        for raw in [
            "\u{0}?WBt",
            "EP\u{fe}\u{0}",
            "a\tb",
            "a\nb",
            "a\rb",
            "a\u{7f}b",
            "a\u{85}b",
            "a\u{9f}b",
        ] {
            assert_eq!(
                bounded_trimmed(raw, 1, 10),
                Err(InvalidValue::new(NO_CONTROL_CHARACTERS)),
                "{raw:?}"
            );
        }
    }

    #[test]
    fn surrounding_white_space_controls_are_trimmed_not_refused() {
        assert_eq!(
            bounded_trimmed("\tKind of Blue\r\n", 1, 20).as_deref(),
            Ok("Kind of Blue")
        );
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

        #[test]
        fn accepted_text_holds_no_control_character(raw in "(\\PC|\\p{Cc}){0,40}") {
            match bounded_trimmed(&raw, 0, 40) {
                Ok(text) => prop_assert!(!text.chars().any(char::is_control)),
                Err(_) => prop_assert!(raw.trim().chars().any(char::is_control)),
            }
        }

        #[test]
        fn a_control_character_inside_is_refused(
            before in "\\PC{1,10}",
            control in "\\p{Cc}",
            after in "\\PC{1,10}",
        ) {
            // Surrounded by visible text, so trimming cannot remove it.
            let raw = format!("x{before}{control}{after}x");
            prop_assert_eq!(
                bounded_trimmed(&raw, 1, 40),
                Err(InvalidValue::new(NO_CONTROL_CHARACTERS))
            );
        }
    }
}
