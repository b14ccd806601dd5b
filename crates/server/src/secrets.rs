//! The settings that hold secrets, and reading them.
//!
//! # Authentication: secure by default
//! The server signs and verifies bearer tokens with one secret of at least
//! 32 bytes, from `JWT_SECRET` or from the file `JWT_SECRET_FILE` names
//! (its trailing newline dropped; the file keeps the secret out of the
//! process environment and of `ps`). Without a secret the server refuses
//! to start (exit 2), unless `AUTH_DISABLED=true` says explicitly to run
//! with every caller treated as staff — for local experiments only; the
//! server then warns at start and `/health` reports `"auth": "disabled"`.
//! A secret together with `AUTH_DISABLED=true`, or both `JWT_SECRET` and
//! `JWT_SECRET_FILE`, is a contradiction and refused too. An empty variable
//! counts as unset, as compose files often leave them.
//!
//! Secrets (the signing secret, the database password and the URL that may
//! carry one) are held as [`SecretString`] from the moment they are parsed,
//! so no `Debug`, log line or error message can show them by accident.

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::Args;
use recordshop_auth::TokenKeys;
use secrecy::{ExposeSecret, SecretString};

use crate::values::{boolean, secret};

/// Where the token signing key comes from, or that there is none.
#[derive(Args)]
pub struct SigningSettings {
    /// The secret tokens are signed with, at least 32 bytes. Prefer
    /// JWT_SECRET_FILE: a flag shows in `ps`.
    #[arg(
        long,
        env = "JWT_SECRET",
        value_name = "JWT_SECRET",
        hide_env_values = true,
        value_parser = secret,
        global = true
    )]
    pub(crate) jwt_secret: Option<SecretString>,
    /// A file holding the signing secret (trailing newline ignored).
    #[arg(
        long,
        env = "JWT_SECRET_FILE",
        value_name = "JWT_SECRET_FILE",
        global = true
    )]
    pub(crate) jwt_secret_file: Option<PathBuf>,
    /// true: no authentication, every caller is staff. Local experiments only.
    #[arg(long, env = "AUTH_DISABLED", value_name = "AUTH_DISABLED", default_value = "false", value_parser = boolean, action = clap::ArgAction::Set, global = true)]
    pub(crate) auth_disabled: bool,
}

impl SigningSettings {
    /// The signing keys from `JWT_SECRET` or `JWT_SECRET_FILE`; `None`
    /// when neither is set (an empty variable counts as unset).
    ///
    /// # Errors
    /// When both are set, the file cannot be read, or the secret is under
    /// 32 bytes; each message names the variable.
    pub fn signing_key(&self) -> anyhow::Result<Option<TokenKeys>> {
        let secret = self
            .jwt_secret
            .as_ref()
            .filter(|secret| !secret.expose_secret().is_empty());
        let file = self
            .jwt_secret_file
            .as_deref()
            .filter(|path| !path.as_os_str().is_empty());
        let (variable, secret) = match (secret, file) {
            (Some(_), Some(_)) => {
                bail!("JWT_SECRET and JWT_SECRET_FILE are both set; set only one of them")
            }
            (None, None) => return Ok(None),
            (Some(secret), None) => ("JWT_SECRET", secret.expose_secret().as_bytes().to_vec()),
            (None, Some(path)) => {
                let mut bytes = std::fs::read(path)
                    .with_context(|| format!("JWT_SECRET_FILE: cannot read {}", path.display()))?;
                // Editors and `echo` end files with a newline that nobody
                // means as part of the secret.
                while bytes.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
                    bytes.pop();
                }
                ("JWT_SECRET_FILE", bytes)
            }
        };
        TokenKeys::from_secret(&secret)
            .map(Some)
            .with_context(|| format!("{variable} is not a usable signing key"))
    }
}
