use std::time::Duration;

use recordshop_domain::StoreError;
use recordshop_domain::health::StoreHealth;
use recordshop_postgres::{PgStoreHealth, PoolSettings, create_pool};

use crate::support::{Harness, SMALL_POOL};

#[tokio::test]
async fn ping_answers_when_the_database_is_up() {
    let harness = Harness::new(SMALL_POOL).await;
    PgStoreHealth::new(harness.pool.clone())
        .ping()
        .await
        .unwrap();
}

#[tokio::test]
async fn ping_is_unavailable_when_the_database_is_unreachable() {
    let mut config = tokio_postgres::Config::new();
    // Port 1 on loopback: nothing listens there, the connection is refused.
    config
        .host("127.0.0.1")
        .port(1)
        .user("postgres")
        .dbname("postgres");
    let settings = PoolSettings {
        max_size: 1,
        wait_timeout: Duration::from_secs(2),
    };
    let pool = create_pool(config, settings).unwrap();
    let result = PgStoreHealth::new(pool).ping().await;
    assert!(
        matches!(result, Err(StoreError::Unavailable(_))),
        "{result:?}"
    );
}
