//! The value parsers of the settings: each says, in its error, what the
//! setting accepts; clap prefixes the message with the setting's name.

use std::str::FromStr;
use std::time::Duration;

use recordshop_postgres::BatchSettings;
use secrecy::SecretString;

pub(crate) fn port(raw: &str) -> Result<u16, String> {
    raw.trim()
        .parse()
        .map_err(|_| "expected a port number from 0 to 65535".to_owned())
}

pub(crate) fn at_least_one<T: FromStr + PartialOrd + From<u8>>(raw: &str) -> Result<T, String> {
    match raw.trim().parse::<T>() {
        Ok(value) if value >= T::from(1) => Ok(value),
        _ => Err("expected a whole number of at least 1".to_owned()),
    }
}

pub(crate) fn positive_duration(raw: &str) -> Result<Duration, String> {
    match humantime::parse_duration(raw.trim()) {
        Ok(duration) if !duration.is_zero() => Ok(duration),
        _ => Err("expected a positive duration such as 24h, 90m or 3600s".to_owned()),
    }
}

pub(crate) fn default_batch_wait_ms() -> u64 {
    duration_ms(BatchSettings::default().max_wait)
}

/// A default duration as the whole milliseconds of a `*_MS` setting.
pub(crate) fn duration_ms(duration: std::time::Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// A listen address, `host:port`; empty means none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenAddress(pub Option<std::net::SocketAddr>);

pub(crate) fn listen_address(raw: &str) -> Result<ListenAddress, String> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(ListenAddress(None));
    }
    raw.parse()
        .map(|address| ListenAddress(Some(address)))
        .map_err(|_| "expected an address such as 127.0.0.1:9464, or nothing".to_owned())
}

/// `true`/`1`/`yes`/`on` or `false`/`0`/`no`/`off`, in any case.
pub(crate) fn boolean(raw: &str) -> Result<bool, String> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err("expected true or false".to_owned()),
    }
}

/// A setting that is a secret, kept out of sight from here on.
#[allow(clippy::unnecessary_wraps)] // clap's value parsers return a Result.
pub(crate) fn secret(raw: &str) -> Result<SecretString, String> {
    Ok(SecretString::from(raw))
}
