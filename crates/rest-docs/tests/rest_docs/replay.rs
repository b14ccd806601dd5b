//! The committed Insomnia export, replayed against the real service.

use std::collections::HashMap;

use recordshop_rest_docs::service::Service;
use recordshop_rest_docs::template::Context;
use recordshop_rest_docs::{files, insomnia, runner};
use recordshop_testdb::TestDatabase;

#[actix_web::test]
async fn the_committed_insomnia_export_answers_every_documented_status() {
    let export = std::fs::read_to_string(files::default_dir().join(files::INSOMNIA_FILE)).unwrap();
    let collection = insomnia::parse(&serde_json::from_str(&export).unwrap()).unwrap();
    assert!(!collection.steps.is_empty());

    let db = TestDatabase::create().await.expect("test database");
    recordshop_harness::seed::load(db.url()).await.unwrap();
    let service = Service::start(db.url()).await.unwrap();
    let mut context = Context {
        environment: collection.environment,
        ..Context::default()
    };
    context
        .environment
        .insert("base_url".to_owned(), service.base_url());
    context
        .environment
        .extend(service.token_environment().unwrap());
    let run = runner::run(&runner::client().unwrap(), &collection.steps, context).await;
    service.stop().await;

    let failures = run.failures();
    assert!(
        failures.is_empty(),
        "the service no longer answers as rest-docs/insomnia.json documents \
         (fix the service, or the catalog and then `{}`):\n  {}",
        files::REGENERATE,
        failures.join("\n  ")
    );
    assert_eq!(run.exchanges.len(), collection.steps.len());
    keyed_repeats_replay_the_first_answer(&run.exchanges);
}

/// The creates the export sends with an `Idempotency-Key` and that answer
/// 201: the first with a key creates, and every later one with the same
/// key answers the same body, marked `Idempotent-Replayed: true`. Checks
/// that the export's headers are sent, which the statuses alone would not
/// show of a replay.
fn keyed_repeats_replay_the_first_answer(exchanges: &[runner::Exchange]) {
    let header = |headers: &[(String, String)], name: &str| {
        headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.clone())
    };
    let mut first: HashMap<String, &runner::Exchange> = HashMap::new();
    let mut replays = 0;
    for exchange in exchanges.iter().filter(|exchange| exchange.status == 201) {
        let Some(key) = header(&exchange.request_headers, "Idempotency-Key") else {
            continue;
        };
        let replayed = header(&exchange.response_headers, "Idempotent-Replayed");
        match first.get(&key) {
            None => {
                assert_eq!(replayed, None, "{}: not a replay", exchange.step.name);
                first.insert(key, exchange);
            }
            Some(original) => {
                replays += 1;
                assert_eq!(
                    replayed.as_deref(),
                    Some("true"),
                    "{}: a replay",
                    exchange.step.name
                );
                assert_eq!(
                    exchange.response_body, original.response_body,
                    "{} answers what {} answered",
                    exchange.step.name, original.step.name
                );
            }
        }
    }
    assert!(
        replays > 0,
        "the export replays no create with an Idempotency-Key"
    );
}
