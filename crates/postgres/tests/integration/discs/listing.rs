//! Listing the catalog: filters, LIKE escaping, order and pages.

use recordshop_domain::Page;
use recordshop_domain::disc::{Disc, DiscFilter, DiscId, DiscRepository};
use recordshop_postgres::{ConcurrencyStrategy, PgDiscRepository};

use crate::support::{Harness, SMALL_POOL, new_disc};

/// A filter with the fields `set` sets, the others off.
fn with(set: impl FnOnce(&mut DiscFilter)) -> DiscFilter {
    let mut filter = DiscFilter::default();
    set(&mut filter);
    filter
}

/// The catalog of the filter tests: (name, artist, year, genre, quantity).
const CATALOG: [(&str, &str, i64, &str, i64); 6] = [
    ("Abbey Road", "The Beatles", 1969, "Rock", 5),
    ("Kind of Blue", "Miles Davis", 1959, "Jazz", 0),
    ("Blue Train", "John Coltrane", 1958, "Jazz", 3),
    ("Blue", "Joni Mitchell", 1971, "Folk", 1),
    ("Rumours", "Fleetwood Mac", 1977, "Soft Rock", 0),
    // No name starts with a word that a space-ignoring collation would
    // order differently from a bytewise one.
    ("Love Supreme", "John Coltrane", 1965, "Jazz", 2),
];

async fn seeded(harness: &Harness) -> PgDiscRepository {
    let repository = harness.discs(ConcurrencyStrategy::Pessimistic);
    for (name, artist, year, genre, quantity) in CATALOG {
        repository
            .insert(&new_disc(name, artist, year, genre, quantity))
            .await
            .unwrap();
    }
    repository
}

fn names(discs: &[Disc]) -> Vec<&str> {
    discs.iter().map(|disc| disc.name.as_str()).collect()
}

async fn list_names(repository: &PgDiscRepository, filter: DiscFilter) -> Vec<String> {
    let discs = repository.list(&filter).await.unwrap();
    names(&discs).into_iter().map(str::to_owned).collect()
}

#[tokio::test]
async fn every_filter_alone() {
    let harness = Harness::new(SMALL_POOL).await;
    let repository = seeded(&harness).await;
    let cases: Vec<(&str, DiscFilter, Vec<&str>)> = vec![
        (
            "no filter",
            DiscFilter::default(),
            vec![
                "Abbey Road",
                "Blue",
                "Blue Train",
                "Kind of Blue",
                "Love Supreme",
                "Rumours",
            ],
        ),
        (
            "name contains, any case",
            with(|f| f.name_contains = Some("bLUe".into())),
            vec!["Blue", "Blue Train", "Kind of Blue"],
        ),
        (
            "artist contains",
            with(|f| f.artist_contains = Some("coltrane".into())),
            vec!["Blue Train", "Love Supreme"],
        ),
        (
            "genre contains",
            with(|f| f.genre_contains = Some("ROCK".into())),
            vec!["Abbey Road", "Rumours"],
        ),
        (
            "name exact",
            with(|f| f.name_exact = Some("Blue".into())),
            vec!["Blue"],
        ),
        (
            "name exact is case-sensitive",
            with(|f| f.name_exact = Some("blue".into())),
            vec![],
        ),
        (
            "artist exact",
            with(|f| f.artist_exact = Some("John Coltrane".into())),
            vec!["Blue Train", "Love Supreme"],
        ),
        (
            "artist exact is case-sensitive",
            with(|f| f.artist_exact = Some("john coltrane".into())),
            vec![],
        ),
        (
            "genre exact",
            with(|f| f.genre_exact = Some("Rock".into())),
            vec!["Abbey Road"],
        ),
        (
            "year min, inclusive",
            with(|f| f.year_of_release_min = Some(1969)),
            vec!["Abbey Road", "Blue", "Rumours"],
        ),
        (
            "year max, inclusive",
            with(|f| f.year_of_release_max = Some(1959)),
            vec!["Blue Train", "Kind of Blue"],
        ),
        (
            "in stock",
            with(|f| f.in_stock = Some(true)),
            vec!["Abbey Road", "Blue", "Blue Train", "Love Supreme"],
        ),
        (
            "sold out",
            with(|f| f.in_stock = Some(false)),
            vec!["Kind of Blue", "Rumours"],
        ),
    ];
    for (case, filter, expected) in cases {
        assert_eq!(list_names(&repository, filter).await, expected, "{case}");
    }
}

#[tokio::test]
async fn filters_combine_with_and() {
    let harness = Harness::new(SMALL_POOL).await;
    let repository = seeded(&harness).await;
    let jazz_in_stock_before_1960 = DiscFilter {
        genre_exact: Some("Jazz".into()),
        in_stock: Some(true),
        year_of_release_max: Some(1960),
        ..DiscFilter::default()
    };
    assert_eq!(
        list_names(&repository, jazz_in_stock_before_1960).await,
        ["Blue Train"]
    );
    let blue_by_coltrane_in_the_sixties = DiscFilter {
        name_contains: Some("blue".into()),
        artist_contains: Some("coltrane".into()),
        year_of_release_min: Some(1960),
        year_of_release_max: Some(1969),
        ..DiscFilter::default()
    };
    assert!(
        list_names(&repository, blue_by_coltrane_in_the_sixties)
            .await
            .is_empty()
    );
    let exact_and_contains = DiscFilter {
        name_contains: Some("love".into()),
        artist_exact: Some("John Coltrane".into()),
        genre_contains: Some("jaz".into()),
        year_of_release_min: Some(1965),
        year_of_release_max: Some(1965),
        in_stock: Some(true),
        ..DiscFilter::default()
    };
    assert_eq!(
        list_names(&repository, exact_and_contains).await,
        ["Love Supreme"]
    );
}

#[tokio::test]
async fn substring_filters_match_like_wildcards_literally() {
    let harness = Harness::new(SMALL_POOL).await;
    let repository = harness.discs(ConcurrencyStrategy::Pessimistic);
    for name in [
        "50% Off",
        "500 Miles",
        "a_b",
        "axb",
        r"back\slash",
        "backslash",
    ] {
        repository
            .insert(&new_disc(name, "Various", 2000, "Pop", 1))
            .await
            .unwrap();
    }
    let by_name = |text: &str| with(|f| f.name_contains = Some(text.to_owned()));
    assert_eq!(list_names(&repository, by_name("50%")).await, ["50% Off"]);
    assert_eq!(list_names(&repository, by_name("%")).await, ["50% Off"]);
    assert_eq!(list_names(&repository, by_name("a_b")).await, ["a_b"]);
    assert_eq!(list_names(&repository, by_name("_")).await, ["a_b"]);
    assert_eq!(
        list_names(&repository, by_name(r"k\s")).await,
        [r"back\slash"]
    );
    assert_eq!(
        list_names(&repository, by_name(r"\")).await,
        [r"back\slash"]
    );
}

#[tokio::test]
async fn listing_orders_by_name_then_id_and_pages() {
    let harness = Harness::new(SMALL_POOL).await;
    let repository = harness.discs(ConcurrencyStrategy::Pessimistic);
    let mut expected = Vec::new();
    for name in [
        "Delta", "Alpha", "Charlie", "Bravo", "Alpha", "Charlie", "Alpha",
    ] {
        let disc = repository
            .insert(&new_disc(name, "Various", 2000, "Pop", 1))
            .await
            .unwrap();
        expected.push((name, disc.id));
    }
    expected.sort_by_key(|(name, id)| (*name, id.as_uuid()));

    let all = repository.list(&DiscFilter::default()).await.unwrap();
    let listed: Vec<(&str, DiscId)> = all
        .iter()
        .map(|disc| (disc.name.as_str(), disc.id))
        .collect();
    assert_eq!(listed, expected);

    let page = |limit, offset| with(|f| f.page = Page::new(Some(limit), Some(offset)).unwrap());
    let ids = |discs: Vec<Disc>| discs.into_iter().map(|disc| disc.id).collect::<Vec<_>>();
    let expected_ids: Vec<DiscId> = expected.iter().map(|(_, id)| *id).collect();
    assert_eq!(
        ids(repository.list(&page(3, 0)).await.unwrap()),
        expected_ids[0..3]
    );
    assert_eq!(
        ids(repository.list(&page(3, 3)).await.unwrap()),
        expected_ids[3..6]
    );
    assert_eq!(
        ids(repository.list(&page(3, 6)).await.unwrap()),
        expected_ids[6..7]
    );
    assert!(repository.list(&page(3, 7)).await.unwrap().is_empty());
    assert!(repository.list(&page(0, 0)).await.unwrap().is_empty());
}
