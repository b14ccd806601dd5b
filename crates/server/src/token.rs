//! `recordshop token`: mints a bearer token for an operator, with the
//! server's own secret, without a database or a running server.

use std::time::Duration;

use anyhow::{Context, bail};
use clap::ValueEnum;
use recordshop_auth::Principal;
use recordshop_domain::customer::CustomerId;

use crate::secrets::SigningSettings;

/// Who the token is for, and for how long.
#[derive(Debug, Clone, PartialEq, Eq, clap::Args)]
pub struct TokenArgs {
    /// `staff` (everything) or `customer` (one customer's own record and
    /// orders; give --customer).
    #[arg(long, value_enum)]
    role: Option<Role>,
    /// The customer the token acts for (implies --role customer).
    #[arg(long, value_name = "ID", value_parser = customer_id, conflicts_with = "subject")]
    customer: Option<CustomerId>,
    /// The staff member's name, shown in logs: letters, digits, `._@-`
    /// [default: staff].
    #[arg(long, value_name = "NAME")]
    subject: Option<String>,
    /// How long the token lasts: `30m`, `1h`, `12h`, `7days`; at most 30 days.
    #[arg(long, value_name = "DURATION", default_value = "1h", value_parser = humantime::parse_duration)]
    ttl: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Role {
    Staff,
    Customer,
}

fn customer_id(raw: &str) -> Result<CustomerId, String> {
    raw.trim()
        .parse()
        .map_err(|_| "expected a customer id (a UUID)".to_owned())
}

impl TokenArgs {
    fn principal(&self) -> anyhow::Result<Principal> {
        match (self.role, self.customer) {
            (Some(Role::Staff), Some(_)) => {
                bail!("--customer makes a customer token; leave out --role staff")
            }
            (None | Some(Role::Customer), Some(id)) => Ok(Principal::Customer(id)),
            (Some(Role::Customer), None) => bail!("a customer token needs --customer ID"),
            (Some(Role::Staff), None) => match &self.subject {
                Some(subject) => Ok(Principal::staff_named(subject)?),
                None => Ok(Principal::staff()),
            },
            (None, None) => bail!("say who the token is for: --role staff, or --customer ID"),
        }
    }
}

/// A token for `args`, signed with the secret the settings name.
///
/// # Errors
/// When no secret is configured or it is unusable, the arguments do not
/// name one principal, or the lifetime is out of bounds.
pub fn mint(args: &TokenArgs, settings: &SigningSettings) -> anyhow::Result<String> {
    let principal = args.principal()?;
    let Some(keys) = settings.signing_key()? else {
        bail!(
            "no signing key: set JWT_SECRET or JWT_SECRET_FILE to the secret the server uses \
             (AUTH_DISABLED servers need no token)"
        );
    };
    keys.mint(&principal, args.ttl)
        .context("minting the token failed")
}
