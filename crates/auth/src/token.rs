//! Minting and verifying HS256 tokens.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use recordshop_domain::customer::CustomerId;
use serde::{Deserialize, Serialize};

use crate::principal::{Principal, Role};

/// The `iss` of every token, required on verification.
pub const ISSUER: &str = "recordshop";

/// Clock skew tolerated between the clock that minted a token and the one
/// verifying it.
pub const LEEWAY: Duration = Duration::from_secs(30);

/// Shortest secret accepted: HS256's own output size. A shorter secret
/// makes the signature only as strong as the secret.
pub const MIN_SECRET_BYTES: usize = 32;

/// Longest lifetime a token may be minted with. There is no revocation,
/// so this bounds how long a leaked token stays useful.
pub const MAX_TTL: Duration = Duration::from_secs(30 * 24 * 60 * 60);

/// A secret that cannot sign safely.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// Fewer than [`MIN_SECRET_BYTES`] bytes.
    #[error(
        "the signing key has {0} bytes; at least {MIN_SECRET_BYTES} are needed \
         (e.g. `openssl rand -hex 32` or `head -c 48 /dev/urandom | base64`)"
    )]
    TooShort(usize),
}

/// Why a token was refused. The messages may be shown to the client that
/// sent the token: they say what is wrong, never anything about the key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Its `exp` is more than [`LEEWAY`] in the past.
    #[error("the token has expired")]
    Expired,
    /// Not signed with this server's key (or altered since).
    #[error("the token's signature does not verify")]
    BadSignature,
    /// Its `iss` is not [`ISSUER`].
    #[error("the token was not issued by {ISSUER}")]
    WrongIssuer,
    /// Signed with anything but HS256, `none` included.
    #[error("the token must be signed with HS256")]
    UnsupportedAlgorithm,
    /// Not three base64url parts of JSON.
    #[error("the token is not a well-formed JWT")]
    Malformed,
    /// Well signed, but its claims do not describe a principal.
    #[error("the token's claims are invalid: {0}")]
    InvalidClaims(&'static str),
}

/// A token that could not be minted.
#[derive(Debug, thiserror::Error)]
pub enum MintError {
    /// Zero (or under a second), or over [`MAX_TTL`].
    #[error("a token's lifetime must be from 1 second to 30 days, got {0:?}")]
    Lifetime(Duration),
    /// The clock reads before 1970.
    #[error("the system clock is before 1970")]
    Clock,
    /// The library failed to sign.
    #[error("signing the token failed")]
    Signing(#[source] jsonwebtoken::errors::Error),
}

/// What a token says. Every field is optional when read, so that a missing
/// claim is reported as such rather than as unreadable JSON.
#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: Option<String>,
    role: Option<String>,
    iat: Option<u64>,
    exp: Option<u64>,
    iss: Option<String>,
}

struct Keys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

/// The server's signing key: mints and verifies tokens. Cheap to clone.
#[derive(Clone)]
pub struct TokenKeys(Arc<Keys>);

/// Never shows the key.
impl fmt::Debug for TokenKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenKeys")
            .field("algorithm", &"HS256")
            .field("secret", &"<redacted>")
            .finish()
    }
}

impl TokenKeys {
    /// Keys over `secret`, used as raw bytes.
    ///
    /// # Errors
    /// [`KeyError::TooShort`] under [`MIN_SECRET_BYTES`] bytes.
    pub fn from_secret(secret: &[u8]) -> Result<Self, KeyError> {
        if secret.len() < MIN_SECRET_BYTES {
            return Err(KeyError::TooShort(secret.len()));
        }
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = LEEWAY.as_secs();
        validation.set_issuer(&[ISSUER]);
        validation.set_required_spec_claims(&["exp", "iss", "sub"]);
        Ok(Self(Arc::new(Keys {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
        })))
    }

    /// A token for `principal`, valid from now for `ttl`.
    ///
    /// # Errors
    /// [`MintError::Lifetime`] unless `ttl` is from 1 s to [`MAX_TTL`];
    /// [`MintError::Clock`] on a clock before 1970.
    pub fn mint(&self, principal: &Principal, ttl: Duration) -> Result<String, MintError> {
        self.mint_at(principal, SystemTime::now(), ttl)
    }

    /// A token for `principal` as if minted at `issued_at`: what tests use
    /// to make expired tokens, and tools whose clock is not the system's.
    ///
    /// # Errors
    /// As [`TokenKeys::mint`].
    pub fn mint_at(
        &self,
        principal: &Principal,
        issued_at: SystemTime,
        ttl: Duration,
    ) -> Result<String, MintError> {
        if ttl < Duration::from_secs(1) || ttl > MAX_TTL {
            return Err(MintError::Lifetime(ttl));
        }
        let iat = unix_seconds(issued_at).ok_or(MintError::Clock)?;
        let claims = Claims {
            sub: Some(principal.subject()),
            role: Some(principal.role().as_str().to_owned()),
            iat: Some(iat),
            exp: Some(iat + ttl.as_secs()),
            iss: Some(ISSUER.to_owned()),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.0.encoding)
            .map_err(MintError::Signing)
    }

    /// Who `token` speaks for, if this key signed it, it has not expired
    /// (beyond [`LEEWAY`]) and its claims name a principal: `role` staff
    /// with a plain subject, or customer with a customer id as subject.
    ///
    /// # Errors
    /// The [`TokenError`] that says why it was refused.
    pub fn verify(&self, token: &str) -> Result<Principal, TokenError> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.0.decoding, &self.0.validation)
            .map_err(|error| refusal(error.kind()))?;
        // The library has checked that exp, iss and sub are present.
        let Claims {
            sub: Some(sub),
            role: Some(role),
            iat: Some(iat),
            exp: Some(exp),
            ..
        } = data.claims
        else {
            return Err(TokenError::InvalidClaims("role and iat are required"));
        };
        if exp <= iat {
            return Err(TokenError::InvalidClaims("exp must come after iat"));
        }
        let now = unix_seconds(SystemTime::now()).unwrap_or(0);
        if iat > now + LEEWAY.as_secs() {
            return Err(TokenError::InvalidClaims("iat is in the future"));
        }
        let role: Role = role
            .parse()
            .map_err(|_| TokenError::InvalidClaims("role must be staff or customer"))?;
        match role {
            Role::Staff => Principal::staff_named(&sub)
                .map_err(|_| TokenError::InvalidClaims("the staff subject is not plain")),
            Role::Customer => sub
                .parse::<CustomerId>()
                .map(Principal::Customer)
                .map_err(|_| TokenError::InvalidClaims("a customer's subject must be a UUID")),
        }
    }
}

fn unix_seconds(at: SystemTime) -> Option<u64> {
    at.duration_since(UNIX_EPOCH)
        .ok()
        .map(|since| since.as_secs())
}

fn refusal(kind: &ErrorKind) -> TokenError {
    match kind {
        ErrorKind::ExpiredSignature => TokenError::Expired,
        ErrorKind::InvalidSignature => TokenError::BadSignature,
        ErrorKind::InvalidIssuer => TokenError::WrongIssuer,
        ErrorKind::InvalidAlgorithm
        | ErrorKind::InvalidAlgorithmName
        | ErrorKind::UnsupportedAlgorithm => TokenError::UnsupportedAlgorithm,
        ErrorKind::MissingRequiredClaim(_) => {
            TokenError::InvalidClaims("exp, iss and sub are required")
        }
        ErrorKind::InvalidClaimFormat(_) => {
            TokenError::InvalidClaims("a claim does not have the expected type")
        }
        ErrorKind::InvalidAudience | ErrorKind::InvalidSubject | ErrorKind::ImmatureSignature => {
            TokenError::InvalidClaims("the token is not meant for this service yet")
        }
        // Shape, base64, UTF-8 and JSON errors, and whatever a later
        // version of the library adds: none of them is a usable token.
        _ => TokenError::Malformed,
    }
}

/// A fresh random secret, 64 hex characters (244 random bits, from the
/// operating system's generator through UUIDv4), for tools and tests that
/// start a server of their own.
#[must_use]
pub fn random_secret() -> String {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use serde_json::json;

    const SECRET: &[u8] = b"a test secret that is long enough for HS256";
    const HOUR: Duration = Duration::from_secs(3600);

    fn keys() -> TokenKeys {
        TokenKeys::from_secret(SECRET).unwrap()
    }

    fn customer() -> Principal {
        Principal::Customer("0e92cf1e-7bc4-4f9e-8eb6-3c88627efecb".parse().unwrap())
    }

    fn now() -> u64 {
        unix_seconds(SystemTime::now()).unwrap()
    }

    /// A token with any claims and header, signed with `secret`.
    fn forged(header: &Header, claims: &serde_json::Value, secret: &[u8]) -> String {
        jsonwebtoken::encode(header, claims, &EncodingKey::from_secret(secret)).unwrap()
    }

    fn claims(role: &str, sub: &str) -> serde_json::Value {
        json!({"sub": sub, "role": role, "iat": now(), "exp": now() + 600, "iss": ISSUER})
    }

    #[test]
    fn short_secrets_are_refused() {
        assert_eq!(
            TokenKeys::from_secret(&[7; 31]).err(),
            Some(KeyError::TooShort(31))
        );
        assert!(TokenKeys::from_secret(&[7; 32]).is_ok());
        assert!(KeyError::TooShort(3).to_string().contains("at least 32"));
        assert!(random_secret().len() >= MIN_SECRET_BYTES);
        assert_ne!(random_secret(), random_secret());
    }

    #[test]
    fn tokens_round_trip() {
        let keys = keys();
        for principal in [
            Principal::staff(),
            Principal::staff_named("alice").unwrap(),
            customer(),
        ] {
            let token = keys.mint(&principal, HOUR).unwrap();
            assert_eq!(keys.verify(&token), Ok(principal));
        }
    }

    #[test]
    fn the_claims_are_the_documented_ones() {
        let token = keys().mint(&customer(), HOUR).unwrap();
        let payload = token.split('.').nth(1).unwrap();
        let claims: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
        assert_eq!(claims["sub"], "0e92cf1e-7bc4-4f9e-8eb6-3c88627efecb");
        assert_eq!(claims["role"], "customer");
        assert_eq!(claims["iss"], ISSUER);
        let (iat, exp) = (
            claims["iat"].as_u64().unwrap(),
            claims["exp"].as_u64().unwrap(),
        );
        assert_eq!(exp - iat, 3600);
        assert!(iat.abs_diff(now()) <= 2);
    }

    #[test]
    fn expired_beyond_the_leeway_is_refused_and_within_it_accepted() {
        let keys = keys();
        let long_ago = SystemTime::now() - 2 * HOUR;
        let expired = keys.mint_at(&Principal::staff(), long_ago, HOUR).unwrap();
        assert_eq!(keys.verify(&expired), Err(TokenError::Expired));

        // Expired 10 s ago: within the 30 s of skew tolerated.
        let recent = SystemTime::now() - HOUR - Duration::from_secs(10);
        let skewed = keys.mint_at(&Principal::staff(), recent, HOUR).unwrap();
        assert_eq!(keys.verify(&skewed), Ok(Principal::staff()));

        let just_beyond = SystemTime::now() - HOUR - Duration::from_secs(45);
        let late = keys
            .mint_at(&Principal::staff(), just_beyond, HOUR)
            .unwrap();
        assert_eq!(keys.verify(&late), Err(TokenError::Expired));
    }

    #[test]
    fn tokens_from_the_future_beyond_the_leeway_are_refused() {
        let keys = keys();
        let soon = SystemTime::now() + Duration::from_secs(10);
        assert!(
            keys.verify(&keys.mint_at(&customer(), soon, HOUR).unwrap())
                .is_ok()
        );
        let later = SystemTime::now() + Duration::from_secs(120);
        assert_eq!(
            keys.verify(&keys.mint_at(&customer(), later, HOUR).unwrap()),
            Err(TokenError::InvalidClaims("iat is in the future"))
        );
    }

    #[test]
    fn another_key_or_an_altered_token_is_a_bad_signature() {
        let other = TokenKeys::from_secret(b"another secret, also long enough for HS256").unwrap();
        let token = other.mint(&Principal::staff(), HOUR).unwrap();
        assert_eq!(keys().verify(&token), Err(TokenError::BadSignature));

        // A customer promoting itself: the payload changes, the signature not.
        let token = keys().mint(&customer(), HOUR).unwrap();
        let parts: Vec<&str> = token.split('.').collect();
        let promoted = URL_SAFE_NO_PAD.encode(claims("staff", "mallory").to_string());
        let altered = format!("{}.{promoted}.{}", parts[0], parts[2]);
        assert_eq!(keys().verify(&altered), Err(TokenError::BadSignature));
    }

    #[test]
    fn another_issuer_is_refused() {
        let mut claims = claims("staff", "alice");
        claims["iss"] = json!("someone-else");
        let token = forged(&Header::new(Algorithm::HS256), &claims, SECRET);
        assert_eq!(keys().verify(&token), Err(TokenError::WrongIssuer));
    }

    #[test]
    fn only_hs256_is_accepted() {
        let claims = claims("staff", "alice");
        for algorithm in [Algorithm::HS384, Algorithm::HS512] {
            let token = forged(&Header::new(algorithm), &claims, SECRET);
            assert_eq!(
                keys().verify(&token),
                Err(TokenError::UnsupportedAlgorithm),
                "{algorithm:?}"
            );
        }
        // `alg: none`, no signature: written by hand, no library makes one.
        for alg in ["none", "None", "NONE"] {
            let header = URL_SAFE_NO_PAD.encode(json!({"alg": alg, "typ": "JWT"}).to_string());
            let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
            for token in [
                format!("{header}.{payload}."),
                format!("{header}.{payload}"),
            ] {
                assert!(keys().verify(&token).is_err(), "{alg}: {token}");
            }
        }
    }

    #[test]
    fn malformed_tokens_are_refused() {
        let keys = keys();
        for token in ["", "abc", "a.b.c", "...", "Bearer x.y.z", "eyJ.eyJ.sig"] {
            assert_eq!(keys.verify(token), Err(TokenError::Malformed), "{token:?}");
        }
    }

    #[test]
    fn claims_that_name_no_principal_are_refused() {
        let keys = keys();
        let header = Header::new(Algorithm::HS256);
        let cases = [
            (claims("admin", "alice"), "role must be staff or customer"),
            (
                claims("customer", "not-a-uuid"),
                "a customer's subject must be a UUID",
            ),
            (
                claims("staff", "alice\nforged log line"),
                "the staff subject is not plain",
            ),
        ];
        for (claims, reason) in cases {
            let token = forged(&header, &claims, SECRET);
            assert_eq!(keys.verify(&token), Err(TokenError::InvalidClaims(reason)));
        }
        for missing in ["exp", "iss", "sub", "role", "iat"] {
            let mut claims = claims("staff", "alice");
            claims.as_object_mut().unwrap().remove(missing);
            let token = forged(&header, &claims, SECRET);
            assert!(
                matches!(keys.verify(&token), Err(TokenError::InvalidClaims(_))),
                "without {missing}"
            );
        }
    }

    #[test]
    fn lifetimes_are_bounded() {
        let keys = keys();
        for ttl in [Duration::ZERO, Duration::from_millis(999), MAX_TTL + HOUR] {
            assert!(matches!(
                keys.mint(&Principal::staff(), ttl),
                Err(MintError::Lifetime(_))
            ));
        }
        assert!(keys.mint(&Principal::staff(), MAX_TTL).is_ok());
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let shown = format!("{:?}", keys());
        assert!(!shown.contains("long enough"), "{shown}");
        assert!(shown.contains("redacted"), "{shown}");
    }
}
