use std::sync::Arc;

use chrono::NaiveDate;
use recordshop_domain::Page;
use recordshop_domain::customer::{
    BirthDate, Customer, CustomerError, CustomerFilter, CustomerId, CustomerPatch,
    CustomerRepository, Document, Email, PersonName, Phone,
};
use tokio::sync::Barrier;

use crate::support::{Harness, SMALL_POOL, new_customer, tagged_customer};

/// A filter with the fields `set` sets, the others off.
fn with(set: impl FnOnce(&mut CustomerFilter)) -> CustomerFilter {
    let mut filter = CustomerFilter::default();
    set(&mut filter);
    filter
}

fn names(customers: &[Customer]) -> Vec<&str> {
    customers
        .iter()
        .map(|customer| customer.name.as_str())
        .collect()
}

#[tokio::test]
async fn insert_stores_an_active_customer() {
    let harness = Harness::new(SMALL_POOL).await;
    let repository = harness.customers();
    let new = new_customer("Ada Lovelace", "123.456.789-00", "Ada@Example.com");
    let stored = repository.insert(&new).await.unwrap();
    assert_eq!(stored.id, new.id);
    assert_eq!(stored.document, new.document);
    assert_eq!(stored.name, new.name);
    assert_eq!(stored.birth_date, new.birth_date);
    assert_eq!(stored.email.as_str(), "Ada@Example.com", "kept as written");
    assert_eq!(stored.phone, new.phone);
    assert!(stored.is_active);
    assert_eq!(stored.created_at, stored.updated_at);
    assert_eq!(repository.get(new.id).await.unwrap(), Some(stored));
    assert_eq!(repository.get(CustomerId::generate()).await.unwrap(), None);
}

#[tokio::test]
async fn filters_ordering_and_paging() {
    let harness = Harness::new(SMALL_POOL).await;
    let repository = harness.customers();
    let people = [
        ("Maria Silva", "111", "maria@example.com"),
        ("Joao Souza", "222", "joao@example.com"),
        ("Ana Maria Costa", "333", "ANA.costa@Example.org"),
        ("Pedro 100% Real", "444", "pedro@example.com"),
        ("Carla_Dias", "555", "carla@example.com"),
    ];
    let mut ids = Vec::new();
    for (name, document, email) in people {
        ids.push(
            repository
                .insert(&new_customer(name, document, email))
                .await
                .unwrap()
                .id,
        );
    }
    // Deactivate Joao.
    let deactivate = CustomerPatch {
        is_active: Some(false),
        ..CustomerPatch::default()
    };
    repository
        .update(ids[1], &deactivate)
        .await
        .unwrap()
        .unwrap();

    let list = |filter: CustomerFilter| {
        let repository = repository.clone();
        async move { repository.list(&filter).await.unwrap() }
    };
    let all = list(CustomerFilter::default()).await;
    assert_eq!(
        names(&all),
        [
            "Ana Maria Costa",
            "Carla_Dias",
            "Joao Souza",
            "Maria Silva",
            "Pedro 100% Real"
        ]
    );

    let cases: Vec<(&str, CustomerFilter, Vec<&str>)> = vec![
        (
            "document exact",
            with(|f| f.document = Some("333".into())),
            vec!["Ana Maria Costa"],
        ),
        (
            "document is not a substring match",
            with(|f| f.document = Some("33".into())),
            vec![],
        ),
        (
            "email ignores case",
            with(|f| f.email = Some("ana.COSTA@example.ORG".into())),
            vec!["Ana Maria Costa"],
        ),
        (
            "email is exact",
            with(|f| f.email = Some("costa@example.org".into())),
            vec![],
        ),
        (
            "name contains, any case",
            with(|f| f.name_contains = Some("MARIA".into())),
            vec!["Ana Maria Costa", "Maria Silva"],
        ),
        (
            "name % is literal",
            with(|f| f.name_contains = Some("0%".into())),
            vec!["Pedro 100% Real"],
        ),
        (
            "name _ is literal",
            with(|f| f.name_contains = Some("_".into())),
            vec!["Carla_Dias"],
        ),
        (
            "inactive only",
            with(|f| f.is_active = Some(false)),
            vec!["Joao Souza"],
        ),
        (
            "active only",
            with(|f| f.is_active = Some(true)),
            vec![
                "Ana Maria Costa",
                "Carla_Dias",
                "Maria Silva",
                "Pedro 100% Real",
            ],
        ),
        (
            "combined",
            CustomerFilter {
                name_contains: Some("o".into()),
                is_active: Some(true),
                email: Some("PEDRO@example.com".into()),
                ..CustomerFilter::default()
            },
            vec!["Pedro 100% Real"],
        ),
    ];
    for (case, filter, expected) in cases {
        assert_eq!(names(&list(filter).await), expected, "{case}");
    }

    let page = |limit, offset| with(|f| f.page = Page::new(Some(limit), Some(offset)).unwrap());
    assert_eq!(
        names(&list(page(2, 0)).await),
        ["Ana Maria Costa", "Carla_Dias"]
    );
    assert_eq!(
        names(&list(page(2, 2)).await),
        ["Joao Souza", "Maria Silva"]
    );
    assert_eq!(names(&list(page(2, 4)).await), ["Pedro 100% Real"]);
}

#[tokio::test]
async fn customers_with_the_same_name_are_ordered_by_id() {
    let harness = Harness::new(SMALL_POOL).await;
    let repository = harness.customers();
    let mut ids = Vec::new();
    for tag in ["c", "a", "b"] {
        ids.push(repository.insert(&tagged_customer(tag)).await.unwrap().id);
    }
    ids.sort_by_key(CustomerId::as_uuid);
    let listed: Vec<CustomerId> = repository
        .list(&CustomerFilter::default())
        .await
        .unwrap()
        .iter()
        .map(|customer| customer.id)
        .collect();
    assert_eq!(listed, ids);
}

#[tokio::test]
async fn update_changes_only_the_given_fields() {
    let harness = Harness::new(SMALL_POOL).await;
    let repository = harness.customers();
    let before = repository.insert(&tagged_customer("1")).await.unwrap();
    let born = NaiveDate::from_ymd_opt(1985, 1, 31).unwrap();
    let patch = CustomerPatch {
        name: Some(PersonName::parse("John Q. Doe").unwrap()),
        birth_date: Some(BirthDate::new(born, born).unwrap()),
        phone: Some(Phone::parse("555 0100").unwrap()),
        ..CustomerPatch::default()
    };
    let after = repository.update(before.id, &patch).await.unwrap().unwrap();
    assert_eq!(after.name.as_str(), "John Q. Doe");
    assert_eq!(after.birth_date.get(), born);
    assert_eq!(after.phone.as_str(), "555 0100");
    assert_eq!(after.document, before.document);
    assert_eq!(after.email, before.email);
    assert!(after.is_active);
    assert_eq!(after.created_at, before.created_at);
    assert!(after.updated_at > before.updated_at);
    assert_eq!(repository.get(before.id).await.unwrap(), Some(after));

    let deactivate = CustomerPatch {
        is_active: Some(false),
        ..CustomerPatch::default()
    };
    assert!(
        !repository
            .update(before.id, &deactivate)
            .await
            .unwrap()
            .unwrap()
            .is_active
    );
    let reactivate = CustomerPatch {
        is_active: Some(true),
        ..CustomerPatch::default()
    };
    assert!(
        repository
            .update(before.id, &reactivate)
            .await
            .unwrap()
            .unwrap()
            .is_active
    );
    assert!(
        repository
            .update(CustomerId::generate(), &reactivate)
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn document_and_email_are_unique_on_insert() {
    let harness = Harness::new(SMALL_POOL).await;
    let repository = harness.customers();
    repository
        .insert(&new_customer("First", "DOC-1", "first@example.com"))
        .await
        .unwrap();
    let same_document = repository
        .insert(&new_customer("Second", "DOC-1", "second@example.com"))
        .await;
    assert!(
        matches!(same_document, Err(CustomerError::AlreadyExists)),
        "{same_document:?}"
    );
    let same_email_other_case = repository
        .insert(&new_customer("Third", "DOC-3", "First@EXAMPLE.com"))
        .await;
    assert!(
        matches!(same_email_other_case, Err(CustomerError::AlreadyExists)),
        "{same_email_other_case:?}"
    );
    // Documents are compared exactly.
    repository
        .insert(&new_customer("Fourth", "doc-1", "fourth@example.com"))
        .await
        .unwrap();
    assert_eq!(
        repository
            .list(&CustomerFilter::default())
            .await
            .unwrap()
            .len(),
        2
    );
}

#[tokio::test]
async fn document_and_email_are_unique_on_update() {
    let harness = Harness::new(SMALL_POOL).await;
    let repository = harness.customers();
    let first = repository.insert(&tagged_customer("1")).await.unwrap();
    let second = repository.insert(&tagged_customer("2")).await.unwrap();

    let take_document = CustomerPatch {
        document: Some(first.document.clone()),
        ..CustomerPatch::default()
    };
    let result = repository.update(second.id, &take_document).await;
    assert!(
        matches!(result, Err(CustomerError::AlreadyExists)),
        "{result:?}"
    );

    let take_email = CustomerPatch {
        email: Some(Email::parse(&first.email.as_str().to_uppercase()).unwrap()),
        ..CustomerPatch::default()
    };
    let result = repository.update(second.id, &take_email).await;
    assert!(
        matches!(result, Err(CustomerError::AlreadyExists)),
        "{result:?}"
    );
    assert_eq!(
        repository.get(second.id).await.unwrap(),
        Some(second.clone()),
        "nothing changed"
    );

    // A customer may change the case of their own email, or keep their document.
    let own = CustomerPatch {
        email: Some(Email::parse(&first.email.as_str().to_uppercase()).unwrap()),
        document: Some(Document::parse(first.document.as_str()).unwrap()),
        ..CustomerPatch::default()
    };
    let updated = repository.update(first.id, &own).await.unwrap().unwrap();
    assert_eq!(updated.email.as_str(), first.email.as_str().to_uppercase());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_registrations_with_one_email_let_exactly_one_in() {
    let harness = Harness::new(SMALL_POOL).await;
    let repository = harness.customers();
    for round in 0..10 {
        let barrier = Arc::new(Barrier::new(2));
        let racers = [
            new_customer(
                "Racer A",
                &format!("A-{round}"),
                &format!("racer{round}@example.com"),
            ),
            new_customer(
                "Racer B",
                &format!("B-{round}"),
                &format!("RACER{round}@example.com"),
            ),
        ]
        .map(|customer| {
            let repository = repository.clone();
            let barrier = Arc::clone(&barrier);
            tokio::spawn(async move {
                barrier.wait().await;
                repository.insert(&customer).await
            })
        });
        let mut registered = 0;
        let mut refused = 0;
        for racer in racers {
            match racer.await.unwrap() {
                Ok(_) => registered += 1,
                Err(CustomerError::AlreadyExists) => refused += 1,
                Err(other) => panic!("round {round}: unexpected {other:?}"),
            }
        }
        assert_eq!((registered, refused), (1, 1), "round {round}");
    }
    assert_eq!(
        repository
            .list(&CustomerFilter::default())
            .await
            .unwrap()
            .len(),
        10
    );
}
