//! The broker's address as a value that never prints its password.

use std::fmt;

use lapin::uri::AMQPUri;

/// An `amqp://user:password@host:port/vhost` URL, parsed once. `Debug` and
/// `Display` show it with the password replaced by `***`, so a log line or
/// an error cannot leak it.
#[derive(Clone)]
pub struct BrokerUrl {
    uri: AMQPUri,
    redacted: String,
}

/// A broker URL that does not parse; the message never repeats the URL.
#[derive(Debug, thiserror::Error)]
#[error("not an AMQP URL (amqp://user:password@host:port/vhost): {reason}")]
pub struct InvalidBrokerUrl {
    reason: String,
}

impl BrokerUrl {
    /// Parses `url` (`amqp://guest:guest@127.0.0.1:5672/%2f`; the vhost
    /// percent-encoded, `%2f` being RabbitMQ's default `/`).
    ///
    /// # Errors
    /// When it is not an AMQP URL.
    pub fn parse(url: &str) -> Result<Self, InvalidBrokerUrl> {
        let mut uri: AMQPUri = url.parse().map_err(|reason: String| InvalidBrokerUrl {
            // The parser quotes the whole input in some messages.
            reason: if reason.contains(url) {
                "not a URL".to_owned()
            } else {
                reason
            },
        })?;
        // amq-protocol-uri 10.6 takes the host from `Url::domain`, which is
        // empty for an IP address, and then falls back to `localhost`: an
        // `amqp://10.0.0.5/` would connect to this machine. The host is
        // taken from the URL itself instead.
        if let Some(host) = host_of(url) {
            uri.authority.host = host.to_owned();
        }
        Ok(Self {
            uri,
            redacted: redact(url),
        })
    }

    /// The parsed URL, password included: for connecting only.
    pub(crate) fn uri(&self) -> &AMQPUri {
        &self.uri
    }
}

impl fmt::Debug for BrokerUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted)
    }
}

impl fmt::Display for BrokerUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted)
    }
}

/// The authority of `scheme://authority/path?query`.
fn authority_of(url: &str) -> Option<&str> {
    let (_, rest) = url.split_once("://")?;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    Some(&rest[..end])
}

/// The host of the authority: after the user info, before the port,
/// brackets of an IPv6 literal removed.
fn host_of(url: &str) -> Option<&str> {
    let authority = authority_of(url)?;
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, hp)| hp);
    let host = if let Some(bracketed) = host_port.strip_prefix('[') {
        bracketed.split_once(']')?.0
    } else {
        host_port
            .split_once(':')
            .map_or(host_port, |(host, _)| host)
    };
    (!host.is_empty()).then_some(host)
}

/// `url` with the password of its user info replaced by `***`.
fn redact(url: &str) -> String {
    let Some(authority) = authority_of(url) else {
        return "<unparsable URL>".to_owned();
    };
    let Some((user_info, host_port)) = authority.rsplit_once('@') else {
        return url.to_owned();
    };
    let user = user_info
        .split_once(':')
        .map_or(user_info, |(user, _)| user);
    let start = url.len() - url.split_once("://").map_or("", |(_, rest)| rest).len();
    format!(
        "{}{user}:***@{host_port}{}",
        &url[..start],
        &url[start + authority.len()..]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_shows_the_password() {
        let url = BrokerUrl::parse("amqp://relay:s3cret@broker.internal:5672/%2f").unwrap();
        assert_eq!(url.to_string(), "amqp://relay:***@broker.internal:5672/%2f");
        assert_eq!(
            format!("{url:?}"),
            "amqp://relay:***@broker.internal:5672/%2f"
        );
        assert_eq!(url.uri().authority.userinfo.password, "s3cret");
        let error = BrokerUrl::parse("relay:s3cret@broker").unwrap_err();
        assert!(!error.to_string().contains("s3cret"), "{error}");
        assert_eq!(redact("amqp://broker:5672"), "amqp://broker:5672");
        assert_eq!(redact("amqp://u@h/v"), "amqp://u:***@h/v");
    }

    #[test]
    fn an_ip_address_is_the_host_not_localhost() {
        let url = BrokerUrl::parse("amqp://guest:guest@10.1.2.3:5673/%2f").unwrap();
        assert_eq!(url.uri().authority.host, "10.1.2.3");
        assert_eq!(url.uri().authority.port, 5673);
        assert_eq!(url.uri().vhost, "/");
        let v6 = BrokerUrl::parse("amqp://[::1]:5672/%2f").unwrap();
        assert_eq!(v6.uri().authority.host, "::1");
        let name = BrokerUrl::parse("amqp://rabbit/").unwrap();
        assert_eq!(name.uri().authority.host, "rabbit");
        assert_eq!(name.uri().authority.port, 5672);
    }
}
