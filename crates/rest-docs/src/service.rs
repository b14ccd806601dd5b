//! The real service, started in-process on a free port over a seeded
//! database: what the HAR is recorded from and the replay runs against.

use std::time::Duration;

use actix_web::dev::ServerHandle;
use anyhow::Context as _;
use recordshop::{Application, Config};
use recordshop_harness::postgres::DatabaseUrl;
use recordshop_harness::signing::SigningKey;
use recordshop_harness::{net, seed};

/// How long the tokens of a recording or a replay last: longer than any
/// run of the catalog.
const TOKEN_TTL: Duration = Duration::from_secs(15 * 60);

/// A running service; stop it with [`Service::stop`].
pub struct Service {
    port: u16,
    key: SigningKey,
    handle: ServerHandle,
    task: actix_web::rt::task::JoinHandle<std::io::Result<()>>,
}

impl Service {
    /// Applies the migrations to `database` (a no-op when already applied)
    /// and serves on 127.0.0.1 on a free port, with a signing secret of
    /// its own (fresh and random) and the default configuration otherwise.
    /// Must run inside an actix system (`#[actix_web::test]`,
    /// `actix_web::rt::System`).
    ///
    /// # Errors
    /// When the migrations fail or the server cannot start.
    pub async fn start(database: &DatabaseUrl) -> anyhow::Result<Self> {
        let key = SigningKey::random();
        let (_, mut config) = Config::parse_from([
            "recordshop".to_owned(),
            "--host=127.0.0.1".to_owned(),
            "--port=0".to_owned(),
            "--http-workers=1".to_owned(),
            format!("--jwt-secret={}", key.expose_secret()),
        ])
        .context("configuring the service")?;
        config.database = database.config().clone();
        recordshop::migrate(&config).await?;
        let application = Application::build(&config).await?;
        let port = application.port();
        let handle = application.handle();
        let task = actix_web::rt::spawn(application.run_until_stopped());
        Ok(Self {
            port,
            key,
            handle,
            task,
        })
    }

    /// The environment variables the catalog's requests read their tokens
    /// from (`staff_token`, `customer_token` for the seed's customer),
    /// with tokens this service accepts.
    ///
    /// # Errors
    /// When a token cannot be minted (a clock before 1970).
    pub fn token_environment(&self) -> anyhow::Result<[(String, String); 2]> {
        let customer = seed::CUSTOMER.parse().context("the seed customer's id")?;
        Ok([
            (
                "staff_token".to_owned(),
                self.key.staff_token("staff", TOKEN_TTL)?,
            ),
            (
                "customer_token".to_owned(),
                self.key.customer_token(customer, TOKEN_TTL)?,
            ),
        ])
    }

    /// `http://127.0.0.1:{port}`.
    #[must_use]
    pub fn base_url(&self) -> String {
        net::http_base("127.0.0.1", self.port)
    }

    /// Stops the server, letting in-flight requests finish.
    pub async fn stop(self) {
        self.handle.stop(true).await;
        if let Ok(Err(error)) = self.task.await {
            eprintln!("warning: the service stopped with an error: {error}");
        }
    }
}
