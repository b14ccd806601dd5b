//! The four load shapes and what each needs: how many clients, how they
//! pause, which catalog, and which request a client sends next.

use std::time::Duration;

use serde::Serialize;
use uuid::Uuid;

use recordshop_harness::api::Request;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scenario {
    /// Purchases refused before the database (quantity 0, 400): what HTTP,
    /// JSON and validation alone allow a purchase, the ceiling the
    /// strategies are also shown against. Runs once.
    HttpCeiling,
    /// One disc with 500 units, 90 clients pausing 0–1 s (`siege -d1 -c90`).
    Launch,
    /// One disc that never sells out, closed-loop clients.
    Hot,
    /// Like `hot` over 1,000 discs chosen at random per purchase.
    Spread,
    /// A shopper: mostly browsing the catalog, some purchases, short pauses.
    Mixed,
    /// Disc pages: `GET /discs/{id}` of 1,000 discs chosen at random,
    /// closed-loop clients. Reads never touch a strategy, so it runs once.
    Read,
    /// Filtered catalog listings (a genre, an artist fragment, a decade, a
    /// word of the name, or in stock; 20 a page), closed-loop clients.
    List,
}

impl Scenario {
    pub fn name(self) -> &'static str {
        match self {
            Scenario::HttpCeiling => "http-ceiling",
            Scenario::Launch => "launch",
            Scenario::Hot => "hot",
            Scenario::Spread => "spread",
            Scenario::Mixed => "mixed",
            Scenario::Read => "read",
            Scenario::List => "list",
        }
    }

    /// Whether the strategies can differ here; a scenario without a
    /// purchase runs under the first strategy only.
    pub fn depends_on_strategy(self) -> bool {
        !matches!(
            self,
            Scenario::Read | Scenario::List | Scenario::HttpCeiling
        )
    }

    /// Whether throughput is best read as orders/s (every request is a
    /// purchase) or as requests/s (browsing dominates).
    pub fn measures_orders(self) -> bool {
        !matches!(
            self,
            Scenario::Mixed | Scenario::Read | Scenario::List | Scenario::HttpCeiling
        )
    }
}

/// The most units a disc may hold through the API: stock that never runs out.
pub const UNLIMITED_STOCK: i64 = 1_000_000_000;

/// How the run is sized, from the command line.
#[derive(Clone, Debug)]
pub struct Sizing {
    pub duration: Option<Duration>,
    pub clients: Option<usize>,
    pub launch_clients: usize,
    pub quick: bool,
}

/// Everything about one scenario that does not depend on the strategy.
#[derive(Clone, Debug, Serialize)]
pub struct Plan {
    pub scenario: Scenario,
    pub clients: usize,
    #[serde(rename = "duration_s", serialize_with = "as_secs")]
    pub duration: Duration,
    /// Each client pauses uniformly between 0 and this before each request.
    #[serde(rename = "think_max_s", serialize_with = "opt_as_secs")]
    pub think: Option<Duration>,
    pub discs: usize,
    pub stock_per_disc: i64,
    pub customers: usize,
}

pub const DEFAULT_DURATION: Duration = Duration::from_secs(60);
const QUICK_DURATION: Duration = Duration::from_secs(5);
/// Enough clients to keep every strategy busy on two cores: the closed
/// loop's ceiling is reached here (the `curve` study shows the rest).
pub const DEFAULT_CLIENTS: usize = 128;
const CATALOG_DISCS: usize = 1_000;

impl Plan {
    pub fn new(scenario: Scenario, sizing: &Sizing) -> Self {
        let duration = sizing.duration.unwrap_or(if sizing.quick {
            QUICK_DURATION
        } else {
            DEFAULT_DURATION
        });
        let clients = match scenario {
            Scenario::Launch => sizing.launch_clients,
            _ => sizing.clients.unwrap_or(DEFAULT_CLIENTS),
        }
        .max(1);
        let (think, discs, stock_per_disc) = match scenario {
            Scenario::Launch => (Some(Duration::from_secs(1)), 1, 500),
            Scenario::Hot => (None, 1, UNLIMITED_STOCK),
            Scenario::Spread => (None, CATALOG_DISCS, UNLIMITED_STOCK),
            // Enough stock that browsing, not selling out, shapes the run.
            Scenario::Mixed => (Some(Duration::from_millis(200)), CATALOG_DISCS, 10_000),
            Scenario::Read | Scenario::List => (None, CATALOG_DISCS, 10_000),
            Scenario::HttpCeiling => (None, 1, 1),
        };
        Plan {
            scenario,
            clients,
            duration,
            think,
            discs,
            stock_per_disc,
            // One customer per client, as distinct shoppers would be.
            customers: clients,
        }
    }

    /// Idle connections the load keeps open: none for `launch`, which opens
    /// a connection per request as `siege` does, one per client otherwise.
    pub fn keep_alive_connections(&self) -> usize {
        match self.scenario {
            Scenario::Launch => 0,
            _ => self.clients + 8,
        }
    }

    /// The next request of client `client`, given the prepared ids.
    pub fn next_request(
        &self,
        rng: &mut fastrand::Rng,
        client: usize,
        customers: &[Uuid],
        discs: &[Uuid],
    ) -> Option<Request> {
        let customer = *customers.get(client % customers.len().max(1))?;
        let any_disc =
            |rng: &mut fastrand::Rng| discs.get(rng.usize(..discs.len().max(1))).copied();
        match self.scenario {
            Scenario::Launch | Scenario::Hot | Scenario::Spread => {
                Some(Request::purchase(customer, any_disc(rng)?))
            }
            Scenario::HttpCeiling => Some(Request::Purchase {
                customer,
                disc: any_disc(rng)?,
                quantity: 0,
                key: None,
            }),
            Scenario::Mixed => Some(match rng.u32(0..100) {
                // A Locust-style shopper: browse, look closer, sometimes buy.
                0..45 => Request::ListDiscs {
                    query: browse_query(rng),
                },
                45..85 => Request::GetDisc {
                    disc: any_disc(rng)?,
                },
                _ => Request::purchase(customer, any_disc(rng)?),
            }),
            Scenario::Read => Some(Request::GetDisc {
                disc: any_disc(rng)?,
            }),
            Scenario::List => Some(Request::ListDiscs {
                query: browse_query(rng),
            }),
        }
    }
}

pub const GENRES: [&str; 8] = [
    "Jazz",
    "Rock",
    "Soul",
    "Blues",
    "Funk",
    "Reggae",
    "Samba",
    "Electronic",
];
pub const ARTISTS: [&str; 12] = [
    "Miles Davis",
    "Nina Simone",
    "Elis Regina",
    "John Coltrane",
    "Aretha Franklin",
    "Tim Maia",
    "Bob Marley",
    "Kraftwerk",
    "Jorge Ben",
    "Etta James",
    "Fela Kuti",
    "Gal Costa",
];
const WORDS: [&str; 10] = [
    "Blue", "Night", "Train", "Love", "River", "Sun", "Dream", "Street", "Fire", "Moon",
];

/// A catalog listing a shopper might ask for: one filter, a small page.
fn browse_query(rng: &mut fastrand::Rng) -> String {
    let offset = rng.usize(0..3) * 20;
    let filter = match rng.u32(0..5) {
        0 => format!("genre_exact={}", GENRES[rng.usize(..GENRES.len())]),
        1 => {
            // A case-insensitive fragment of an artist's name.
            let artist = ARTISTS[rng.usize(..ARTISTS.len())];
            let fragment: String = artist.chars().take(4).collect();
            format!("artist={}", fragment.to_lowercase().replace(' ', "%20"))
        }
        2 => {
            let decade = 1950 + rng.i32(0..7) * 10;
            format!(
                "year_of_release_min={decade}&year_of_release_max={}",
                decade + 9
            )
        }
        3 => format!("name={}", WORDS[rng.usize(..WORDS.len())].to_lowercase()),
        _ => "in_stock=true".to_owned(),
    };
    format!("{filter}&limit=20&offset={offset}")
}

/// The `i`-th disc of a generated catalog: varied enough that every browse
/// filter above matches something.
pub fn disc_fields(i: usize) -> (String, &'static str, i32, &'static str) {
    let name = format!(
        "{} {} {i:04}",
        WORDS[i % WORDS.len()],
        WORDS[(i / WORDS.len()) % WORDS.len()]
    );
    let artist = ARTISTS[i % ARTISTS.len()];
    let year = 1950 + (i as i32 * 7) % 75;
    let genre = GENRES[(i / 3) % GENRES.len()];
    (name, artist, year, genre)
}

pub(crate) fn as_secs<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

fn opt_as_secs<S: serde::Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => s.serialize_some(&d.as_secs_f64()),
        None => s.serialize_none(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sizing() -> Sizing {
        Sizing {
            duration: None,
            clients: None,
            launch_clients: 90,
            quick: false,
        }
    }

    #[test]
    fn launch_is_the_original_siege_shape() {
        let plan = Plan::new(Scenario::Launch, &sizing());
        assert_eq!(plan.clients, 90);
        assert_eq!(plan.duration, Duration::from_secs(60));
        assert_eq!(plan.think, Some(Duration::from_secs(1)));
        assert_eq!((plan.discs, plan.stock_per_disc), (1, 500));
    }

    #[test]
    fn clients_apply_to_closed_loop_scenarios_and_quick_shortens() {
        let sizing = Sizing {
            clients: Some(8),
            quick: true,
            ..sizing()
        };
        let hot = Plan::new(Scenario::Hot, &sizing);
        assert_eq!(hot.clients, 8);
        assert_eq!(hot.duration, QUICK_DURATION);
        assert_eq!(Plan::new(Scenario::Launch, &sizing).clients, 90);
        assert_eq!(Plan::new(Scenario::Spread, &sizing).discs, 1_000);
    }

    #[test]
    fn mixed_mostly_browses_and_sometimes_buys() {
        let plan = Plan::new(Scenario::Mixed, &sizing());
        let customers = [Uuid::from_u128(1)];
        let discs = [Uuid::from_u128(2), Uuid::from_u128(3)];
        let mut rng = fastrand::Rng::with_seed(7);
        let mut purchases = 0;
        for _ in 0..1_000 {
            match plan.next_request(&mut rng, 0, &customers, &discs) {
                Some(Request::Purchase { .. }) => purchases += 1,
                Some(_) => {}
                None => panic!("no request"),
            }
        }
        assert!((100..200).contains(&purchases), "{purchases}");
    }

    #[test]
    fn generated_discs_satisfy_the_api_rules() {
        for i in 0..2_000 {
            let (name, artist, year, genre) = disc_fields(i);
            assert!((1..=200).contains(&name.chars().count()));
            assert!(!artist.is_empty() && !genre.is_empty());
            assert!((1877..=2026).contains(&year));
        }
    }
}
