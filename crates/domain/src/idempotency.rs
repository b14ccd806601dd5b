//! Idempotency keys: a client that is unsure whether a create went through
//! (a timeout, a dropped connection, a 503) sends it again with the same key
//! and gets the first attempt's answer instead of a second order, customer or
//! disc.
//!
//! - **Scope.** A key belongs to one [`KeyOwner`] and one operation (placing
//!   an order, registering a customer, adding a disc). The same key sent by
//!   two callers, or to two operations, names two unrelated requests.
//! - **Anonymous callers** all share one identity, so their keys are scoped
//!   by the request as well ([`KeyOwner::is_anonymous`]): only the same key
//!   with the same request replays; the same key with another request is a
//!   request of its own, never [`IdempotentError::IdempotencyKeyReused`],
//!   so a prober cannot learn which keys were used. What a replay to an
//!   anonymous caller may show is the edge's decision (a sign-up's replay
//!   carries no token: an anonymous repeat proves nothing about who sends
//!   it).
//! - **Only effects are remembered.** The store claims the key in the same
//!   unit of work as the create's effect and records the created resource
//!   there, so key and effect commit together or not at all. A create that
//!   is refused (out of stock, customer inactive or unknown, customer
//!   exists, …) rolls its claim back with everything else: sending the key
//!   again evaluates the request again, and it may succeed once the stock is
//!   back. Requests that fail validation never reach a service, so they
//!   claim nothing either.
//! - **Replays.** A repeat with the same key and the same request (equal
//!   [`Fingerprint`]) answers [`Created::Replayed`] with the resource as it
//!   was right after the create (a snapshot kept with the key, not the
//!   resource as it is now), so the edge can answer it exactly as the first
//!   time: 201 and the same body. A repeat with a different request is
//!   [`IdempotentError::IdempotencyKeyReused`] and changes nothing.
//! - **Concurrent repeats.** A repeat that arrives while the first attempt
//!   is still running waits for it, bounded by the store's statement and
//!   transaction timeouts, then replays its result, or runs itself if the
//!   first was refused.
//! - **Expiry.** A record lives for a time the store is configured with
//!   (24 h by default) and is purged afterwards; an expired key is free for
//!   a new request.

use std::fmt;
use std::fmt::Write as _;

use sha2::{Digest, Sha256};

use crate::InvalidValue;
use crate::retry::MaybeConflict;

/// A client's `Idempotency-Key`: 1 to 255 visible ASCII characters
/// (`!` to `~`; no spaces, no control characters), compared exactly.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    /// The longest key accepted.
    pub const MAX_CHARS: usize = 255;

    /// Accepts `raw` as it is: it is not trimmed, because a key is an opaque
    /// token and two tokens that differ by a space are two keys.
    ///
    /// # Errors
    /// [`InvalidValue`] when empty, longer than [`Self::MAX_CHARS`], or
    /// holding anything but visible ASCII.
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        if !raw.chars().all(|c| c.is_ascii_graphic()) {
            return Err(InvalidValue::new(
                "may hold only visible ASCII characters, without spaces",
            ));
        }
        // All ASCII by now, so bytes are characters.
        if (1..=Self::MAX_CHARS).contains(&raw.len()) {
            Ok(Self(raw.to_owned()))
        } else {
            Err(InvalidValue::new(format!(
                "must be 1 to {} characters, got {}",
                Self::MAX_CHARS,
                raw.len()
            )))
        }
    }

    /// The key, as sent.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for IdempotencyKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Whose key it is. Keys of different owners never meet, so one caller can
/// neither replay nor block another's request by guessing its key.
///
/// Built by the edge from the caller's identity (`anonymous`, `staff:ops`,
/// `customer:<uuid>`); the domain only compares it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct KeyOwner(String);

impl KeyOwner {
    /// What every anonymous caller is named.
    pub const ANONYMOUS: &'static str = "anonymous";

    /// The owner named `owner`.
    #[must_use]
    pub fn new(owner: impl Into<String>) -> Self {
        Self(owner.into())
    }

    /// Whether this is the one identity every anonymous caller shares.
    #[must_use]
    pub fn is_anonymous(&self) -> bool {
        self.0 == Self::ANONYMOUS
    }

    /// The owner's name.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What a request asked for, as the hex SHA-256 of its command's canonical
/// text: the validated fields, without the ids and timestamps the service
/// generates. Two sends of the same request have the same fingerprint; a
/// different request under the same key is told apart by it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Fingerprint(String);

impl Fingerprint {
    /// 64 lowercase hex digits.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The canonical text of a command, built field by field, and its
/// [`Fingerprint`].
///
/// Each field is a line `name=<byte length>:<value>`. The length makes the
/// text unambiguous whatever the values hold: a title containing a newline
/// and `artist=` cannot pass for two fields, and `("ab", "c")` and
/// `("a", "bc")` differ. The stored fingerprints depend on this form, so
/// changing it (or a command's fields) makes keys recorded before the
/// change answer `IdempotencyKeyReused` until they expire.
pub(crate) struct Canonical(String);

impl Canonical {
    /// The text of a `command` (its name is the first field, so two
    /// commands with the same fields never share a fingerprint).
    pub(crate) fn new(command: &str) -> Self {
        Self(String::new()).field("command", command)
    }

    /// Appends a field.
    pub(crate) fn field(mut self, name: &str, value: impl fmt::Display) -> Self {
        let value = value.to_string();
        self.0
            .push_str(&format!("{name}={}:{value}\n", value.len()));
        self
    }

    /// The fingerprint of the text so far.
    pub(crate) fn fingerprint(&self) -> Fingerprint {
        let digest = Sha256::digest(self.0.as_bytes());
        let hex = digest
            .iter()
            .fold(String::with_capacity(64), |mut hex, byte| {
                // Writing to a String cannot fail.
                let _ = write!(hex, "{byte:02x}");
                hex
            });
        Fingerprint(hex)
    }
}

/// A key as the edge received it: who sent it, and the key itself. The
/// service adds the fingerprint of the command it builds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyRequest {
    pub owner: KeyOwner,
    pub key: IdempotencyKey,
}

/// What a store needs to make a create happen at most once per owner,
/// operation and key (the operation is the repository method it is given
/// to).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotentCreate {
    pub owner: KeyOwner,
    pub key: IdempotencyKey,
    /// The request the key was sent with.
    pub fingerprint: Fingerprint,
}

impl IdempotentCreate {
    /// `request`'s key, for the command whose fingerprint is `fingerprint`.
    /// An anonymous owner is narrowed to `anonymous:<fingerprint>`: see the
    /// module's rule for anonymous callers.
    #[must_use]
    pub fn new(request: IdempotencyRequest, fingerprint: Fingerprint) -> Self {
        let owner = if request.owner.is_anonymous() {
            KeyOwner::new(format!("{}:{}", KeyOwner::ANONYMOUS, fingerprint.as_str()))
        } else {
            request.owner
        };
        Self {
            owner,
            key: request.key,
            fingerprint,
        }
    }
}

/// The result of a create that may have happened before: made now, or the
/// first attempt's result replayed for a repeated key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Created<T> {
    /// Created by this request.
    New(T),
    /// Created by an earlier request with the same key and fingerprint; the
    /// resource as it was right after that create.
    Replayed(T),
}

impl<T> Created<T> {
    /// The resource, new or replayed.
    pub fn into_inner(self) -> T {
        match self {
            Self::New(inner) | Self::Replayed(inner) => inner,
        }
    }

    /// The resource, borrowed.
    pub const fn as_inner(&self) -> &T {
        match self {
            Self::New(inner) | Self::Replayed(inner) => inner,
        }
    }

    /// True when an earlier request created it.
    pub const fn is_replayed(&self) -> bool {
        matches!(self, Self::Replayed(_))
    }

    /// Converts the resource, keeping whether it was replayed.
    pub fn map<U>(self, convert: impl FnOnce(T) -> U) -> Created<U> {
        match self {
            Self::New(inner) => Created::New(convert(inner)),
            Self::Replayed(inner) => Created::Replayed(convert(inner)),
        }
    }
}

/// Why a create sent with an idempotency key failed: the key was taken by
/// another request, or the create failed as it would have without a key
/// (`E` is the create's own error).
///
/// A wrapper rather than a variant in each create's error, so creates sent
/// without a key keep errors that cannot hold this case.
#[derive(Debug, thiserror::Error)]
pub enum IdempotentError<E> {
    /// The key's record was made by a request with another fingerprint.
    #[error("idempotency key {0} was used with a different request")]
    IdempotencyKeyReused(IdempotencyKey),
    /// The create itself failed; nothing was recorded under the key.
    #[error(transparent)]
    Create(#[from] E),
}

impl<E: MaybeConflict> MaybeConflict for IdempotentError<E> {
    fn is_conflict(&self) -> bool {
        matches!(self, Self::Create(error) if error.is_conflict())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::StoreError;
    use proptest::prelude::*;

    #[test]
    fn anonymous_keys_are_scoped_by_the_request_and_named_ones_by_the_caller() {
        let request = |owner: &str| IdempotencyRequest {
            owner: KeyOwner::new(owner),
            key: IdempotencyKey::parse("k").unwrap(),
        };
        let first = Canonical::new("register")
            .field("name", "Ada")
            .fingerprint();
        let other = Canonical::new("register")
            .field("name", "Bob")
            .fingerprint();
        let anonymous = IdempotentCreate::new(request(KeyOwner::ANONYMOUS), first.clone());
        assert_eq!(
            anonymous.owner.as_str(),
            format!("anonymous:{}", first.as_str())
        );
        let again = IdempotentCreate::new(request(KeyOwner::ANONYMOUS), first.clone());
        assert_eq!(again.owner, anonymous.owner, "the same request replays");
        let changed = IdempotentCreate::new(request(KeyOwner::ANONYMOUS), other.clone());
        assert_ne!(changed.owner, anonymous.owner, "another request is its own");
        let staff = IdempotentCreate::new(request("staff:ops"), other);
        assert_eq!(staff.owner, KeyOwner::new("staff:ops"));
    }

    #[test]
    fn keys_are_visible_ascii_of_1_to_255_characters() {
        assert!(IdempotencyKey::parse("").is_err());
        assert!(IdempotencyKey::parse("a").is_ok());
        assert!(IdempotencyKey::parse(&"k".repeat(255)).is_ok());
        assert!(IdempotencyKey::parse(&"k".repeat(256)).is_err());
        assert!(IdempotencyKey::parse("!~").is_ok());
        for bad in [
            "two words",
            " lead",
            "tab\tkey",
            "caf\u{e9}",
            "new\nline",
            "\u{7f}",
        ] {
            assert!(IdempotencyKey::parse(bad).is_err(), "{bad:?}");
        }
    }

    proptest! {
        #[test]
        fn a_key_is_accepted_exactly_when_visible_ascii_and_short_enough(raw in "\\PC{0,300}|[ -\u{7f}]{0,300}") {
            let expected = (1..=255).contains(&raw.chars().count())
                && raw.chars().all(|c| ('!'..='~').contains(&c));
            let parsed = IdempotencyKey::parse(&raw);
            prop_assert_eq!(parsed.is_ok(), expected);
            if let Ok(key) = parsed {
                prop_assert_eq!(key.as_str(), raw.as_str());
            }
        }
    }

    #[test]
    fn fingerprints_are_hex_sha256_of_the_canonical_text() {
        let fingerprint = Canonical::new("probe").field("n", 1).fingerprint();
        assert_eq!(fingerprint.as_str().len(), 64);
        assert!(
            fingerprint
                .as_str()
                .chars()
                .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
        );
        // The SHA-256 of "command=5:probe\nn=1:1\n".
        assert_eq!(
            fingerprint.as_str(),
            "0bf89088cd36c9082a3a5f53c902505b5958562728c54ab9a03fcc9dc7b86891"
        );
    }

    #[test]
    fn field_boundaries_are_part_of_the_canonical_text() {
        let split = |a: &str, b: &str| {
            Canonical::new("c")
                .field("x", a)
                .field("y", b)
                .fingerprint()
        };
        assert_ne!(split("ab", "c"), split("a", "bc"));
        assert_ne!(split("a\ny=1:b", ""), split("a", "b"));
        assert_ne!(
            Canonical::new("one").field("x", 1).fingerprint(),
            Canonical::new("two").field("x", 1).fingerprint(),
            "the command is part of the text"
        );
    }

    #[test]
    fn created_keeps_whether_it_was_replayed() {
        let new = Created::New(2).map(|n| n * 10);
        let replayed = Created::Replayed(3).map(|n| n * 10);
        assert_eq!(new, Created::New(20));
        assert!(!new.is_replayed());
        assert!(replayed.is_replayed());
        assert_eq!(replayed.as_inner(), &30);
        assert_eq!(replayed.into_inner(), 30);
    }

    #[test]
    fn only_a_conflict_of_the_create_itself_is_retried() {
        let key = IdempotencyKey::parse("k").unwrap_or_else(|e| panic!("{e}"));
        let conflict: IdempotentError<StoreError> = StoreError::Conflict.into();
        let reused: IdempotentError<StoreError> = IdempotentError::IdempotencyKeyReused(key);
        assert!(conflict.is_conflict());
        assert!(!reused.is_conflict());
        assert_eq!(
            reused.to_string(),
            "idempotency key k was used with a different request"
        );
    }
}
