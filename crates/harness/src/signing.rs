//! The key a server verifies bearer tokens with, and the tokens a tool
//! mints under it to call that server.
//!
//! A tool either makes a key for the servers it starts ([`SigningKey::random`]:
//! nobody else needs it, and it dies with the tool) or uses a key kept in a
//! file ([`SigningKey::load_or_create`], `cargo xtask run`), which the
//! server then reads through `JWT_SECRET_FILE`, keeping the secret out of
//! its environment and of `ps`. The secret itself never prints.

use std::fmt;
use std::fs;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use recordshop_auth::{Principal, TokenKeys};
use recordshop_domain::customer::CustomerId;
use secrecy::{ExposeSecret, SecretString};
use uuid::Uuid;

/// A signing secret, the keys made from it, and where the server reads it.
#[derive(Clone)]
pub struct SigningKey {
    secret: SecretString,
    keys: TokenKeys,
    /// The file it was read from, handed to servers as `JWT_SECRET_FILE`.
    file: Option<PathBuf>,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("secret", &"<redacted>")
            .field("file", &self.file)
            .finish()
    }
}

impl SigningKey {
    /// A fresh random key (see [`recordshop_auth::random_secret`]).
    ///
    /// # Panics
    /// Never: a random secret is always long enough.
    #[must_use]
    pub fn random() -> Self {
        Self::from_secret(SecretString::from(recordshop_auth::random_secret()), None)
            .unwrap_or_else(|error| unreachable!("a random secret is usable: {error:#}"))
    }

    /// The key in `path`, made there first (random, mode 0600, never over
    /// an existing file) when the file does not exist yet.
    ///
    /// # Errors
    /// When the file cannot be made or read, or holds an unusable secret.
    pub fn load_or_create(path: &Path) -> anyhow::Result<Self> {
        if !path.exists() {
            let mut file = fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(path)
                .with_context(|| format!("creating {}", path.display()))?;
            writeln!(file, "{}", recordshop_auth::random_secret())
                .with_context(|| format!("writing {}", path.display()))?;
        }
        let text =
            fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        // The server drops trailing newlines from JWT_SECRET_FILE the same way.
        let secret = text.trim_end_matches(['\n', '\r']).to_owned();
        Self::from_secret(SecretString::from(secret), Some(path.to_path_buf()))
    }

    fn from_secret(secret: SecretString, file: Option<PathBuf>) -> anyhow::Result<Self> {
        let keys = TokenKeys::from_secret(secret.expose_secret().as_bytes())
            .context("not a usable signing secret")?;
        Ok(Self { secret, keys, file })
    }

    /// The variable that gives a server this key, and its value:
    /// `JWT_SECRET_FILE` when the key lives in a file, else `JWT_SECRET`.
    #[must_use]
    pub fn server_setting(&self) -> (&'static str, String) {
        match &self.file {
            Some(file) => ("JWT_SECRET_FILE", file.display().to_string()),
            None => ("JWT_SECRET", self.secret.expose_secret().to_owned()),
        }
    }

    /// The secret, for a configuration built in-process (`rest-docs`).
    #[must_use]
    pub fn expose_secret(&self) -> &str {
        self.secret.expose_secret()
    }

    /// A token for `principal`, valid for `ttl`.
    ///
    /// # Errors
    /// When `ttl` is out of the bounds tokens allow, or the clock is
    /// before 1970.
    pub fn mint(&self, principal: &Principal, ttl: Duration) -> anyhow::Result<String> {
        self.keys
            .mint(principal, ttl)
            .context("minting a token failed")
    }

    /// A staff token whose subject (shown in the server's logs) is `subject`.
    ///
    /// # Errors
    /// As [`SigningKey::mint`], or when `subject` is not a valid subject.
    pub fn staff_token(&self, subject: &str, ttl: Duration) -> anyhow::Result<String> {
        self.mint(&Principal::staff_named(subject)?, ttl)
    }

    /// A token acting for the customer with this id.
    ///
    /// # Errors
    /// As [`SigningKey::mint`].
    pub fn customer_token(&self, id: Uuid, ttl: Duration) -> anyhow::Result<String> {
        self.mint(&Principal::Customer(CustomerId::from_uuid(id)), ttl)
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn the_secret_never_prints() {
        let key = SigningKey::random();
        let printed = format!("{key:?}");
        assert!(!printed.contains(key.expose_secret()), "{printed}");
        let (name, value) = key.server_setting();
        assert_eq!((name, value.as_str()), ("JWT_SECRET", key.expose_secret()));
    }

    #[test]
    fn a_key_file_is_made_once_private_and_kept() {
        let dir = std::env::temp_dir().join(format!("harness-key-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("jwt-secret");
        let made = SigningKey::load_or_create(&path).unwrap();
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let again = SigningKey::load_or_create(&path).unwrap();
        assert_eq!(made.expose_secret(), again.expose_secret());
        assert_eq!(
            again.server_setting(),
            ("JWT_SECRET_FILE", path.display().to_string())
        );
        assert_ne!(SigningKey::random().expose_secret(), made.expose_secret());
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn tokens_verify_under_the_same_key_only() {
        let key = SigningKey::random();
        let token = key.staff_token("harness", Duration::from_secs(60)).unwrap();
        assert_eq!(
            key.keys.verify(&token).unwrap(),
            Principal::staff_named("harness").unwrap()
        );
        assert!(SigningKey::random().keys.verify(&token).is_err());
    }
}
