//! Access control for the record shop: who a caller is ([`Principal`]) and
//! the bearer tokens that say so ([`TokenKeys`]).
//!
//! # Roles
//! - **staff** may do everything. Its subject names the operator
//!   (`"staff"` unless `recordshop token --subject` says otherwise) and is
//!   only logged, never checked.
//! - **customer** acts for one customer: the token's subject is that
//!   customer's id. What a customer may do is the HTTP layer's policy
//!   (`crates/http/src/auth/`); this crate only proves who is calling.
//!
//! # Tokens
//! JWTs signed with HS256 under one shared secret of at least
//! [`MIN_SECRET_BYTES`] bytes, which the server reads from `JWT_SECRET` or
//! `JWT_SECRET_FILE` and never from code. HS256 rather than EdDSA because
//! the only verifier is the server that also mints (sign-up answers with a
//! token); one secret is simpler to provision than a key pair and nothing
//! outside needs to verify on its own.
//!
//! Claims: `sub`, `role` (`staff` | `customer`), `iat`, `exp`, and `iss`,
//! which must be [`ISSUER`]. Verification accepts HS256 only (so neither
//! `alg: none` nor a key-confusion trick gets through), requires `exp`,
//! `iss` and `sub`, and tolerates [`LEEWAY`] of clock skew between the
//! minting and the verifying clock, in both directions: a token is still
//! accepted up to 30 s after its `exp`, and one issued up to 30 s "in the
//! future" is not refused. There is no revocation: lifetimes are short
//! (an hour by default, at most [`MAX_TTL`]) and rotating the secret
//! invalidates every token at once.

mod principal;
mod token;

pub use principal::{InvalidSubject, Principal, Role};
pub use token::{
    ISSUER, KeyError, LEEWAY, MAX_TTL, MIN_SECRET_BYTES, MintError, TokenError, TokenKeys,
    random_secret,
};
