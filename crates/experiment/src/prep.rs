//! Scenario data, created through the server's own API so every disc gets
//! its initial stock adjustment exactly as a real client's would.

use anyhow::Context;
use futures_util::{StreamExt, TryStreamExt, stream};
use uuid::Uuid;

use crate::scenario::{Plan, disc_fields};
use recordshop_harness::api::{Api, NewCustomer, NewDisc};

/// The ids the load draws from.
#[derive(Clone, Debug, Default)]
pub struct Prepared {
    pub customers: Vec<Uuid>,
    pub discs: Vec<Uuid>,
}

/// Set-up requests in flight at once: quick, without competing with itself.
const PARALLEL: usize = 8;

pub async fn prepare(api: &Api, plan: &Plan, tag: &str) -> anyhow::Result<Prepared> {
    Ok(Prepared {
        discs: discs(api, plan.discs, plan.stock_per_disc).await?,
        customers: customers(api, plan.customers, tag).await?,
    })
}

/// `count` discs of a generated catalog, `stock` units each.
pub async fn discs(api: &Api, count: usize, stock: i64) -> anyhow::Result<Vec<Uuid>> {
    stream::iter(0..count)
        .map(|i| async move {
            api.create_disc(&new_disc(i, stock))
                .await
                .with_context(|| format!("creating disc {i}"))
        })
        .buffered(PARALLEL)
        .try_collect()
        .await
}

/// `count` customers, unique to run `tag`.
pub async fn customers(api: &Api, count: usize, tag: &str) -> anyhow::Result<Vec<Uuid>> {
    stream::iter(0..count)
        .map(|i| async move {
            api.create_customer(&new_customer(i, tag))
                .await
                .with_context(|| format!("creating customer {i}"))
        })
        .buffered(PARALLEL)
        .try_collect()
        .await
}

fn new_disc(i: usize, quantity: i64) -> NewDisc {
    let (name, artist, year_of_release, genre) = disc_fields(i);
    NewDisc {
        name,
        artist: artist.to_owned(),
        year_of_release,
        genre: genre.to_owned(),
        quantity,
    }
}

/// Customer `i` of run `tag`: document and email are unique per run.
fn new_customer(i: usize, tag: &str) -> NewCustomer {
    NewCustomer {
        document: format!("exp-{tag}-{i:05}"),
        name: format!("Load Client {i}"),
        birth_date: format!("{}-{:02}-{:02}", 1950 + i % 50, 1 + i % 12, 1 + i % 28),
        email: format!("client{i}.{tag}@example.com"),
        phone: format!("+55 11 9{:04}-{:04}", i % 10_000, (i * 37) % 10_000),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn customers_satisfy_the_api_rules() {
        let customer = new_customer(12_345, "a1b2c3d4");
        assert!(customer.document.chars().count() <= 32);
        assert!(customer.email.contains('@'));
        assert!(
            customer
                .phone
                .chars()
                .all(|c| c.is_ascii_digit() || " +-()".contains(c))
        );
        assert_eq!(customer.birth_date.len(), 10);
    }
}
