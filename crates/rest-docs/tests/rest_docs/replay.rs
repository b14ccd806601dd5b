//! The committed Insomnia export, replayed against the real service.

use recordshop_rest_docs::service::{self, Service};
use recordshop_rest_docs::template::Context;
use recordshop_rest_docs::{files, insomnia, runner};
use recordshop_testdb::TestDatabase;

#[actix_web::test]
async fn the_committed_insomnia_export_answers_every_documented_status() {
    let export = std::fs::read_to_string(files::default_dir().join(files::INSOMNIA_FILE)).unwrap();
    let collection = insomnia::parse(&serde_json::from_str(&export).unwrap()).unwrap();
    assert!(!collection.steps.is_empty());

    let db = TestDatabase::create().await.expect("test database");
    service::seed(db.config(), &files::default_seed())
        .await
        .unwrap();
    let service = Service::start(db.config().clone()).await.unwrap();
    let mut context = Context {
        environment: collection.environment,
        ..Context::default()
    };
    context
        .environment
        .insert("base_url".to_owned(), service.base_url());
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
}
