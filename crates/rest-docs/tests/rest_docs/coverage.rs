//! Every operation of the OpenAPI document has a request in the committed
//! collection, and every request is a documented operation.

use std::collections::BTreeSet;

use recordshop_rest_docs::{catalog, files, insomnia};
use serde_json::Value;

fn read(file: &str) -> Value {
    let path = files::default_dir().join(file);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|error| panic!("{}: {error}", path.display()));
    serde_json::from_str(&text).unwrap()
}

/// Whether the concrete `path` fits the OpenAPI `template`.
fn fits(template: &str, path: &str) -> bool {
    let template: Vec<&str> = template.split('/').collect();
    let path: Vec<&str> = path.split('/').collect();
    template.len() == path.len()
        && template
            .iter()
            .zip(&path)
            .all(|(t, p)| (t.starts_with('{') && t.ends_with('}')) || t == p)
}

#[test]
fn the_collection_covers_every_documented_operation() {
    let openapi = read(files::OPENAPI_FILE);
    let collection = insomnia::parse(&read(files::INSOMNIA_FILE)).unwrap();
    let operations: BTreeSet<(String, String)> = openapi["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .unwrap()
                .keys()
                .map(move |method| (method.to_uppercase(), path.clone()))
        })
        .collect();

    let mut covered = BTreeSet::new();
    for step in &collection.steps {
        // Templates stand for one path segment each; the query goes.
        let url = step.url.replace("{{ _.base_url }}", "");
        let path = url.split('?').next().unwrap_or_default();
        let operation = operations
            .iter()
            .find(|(method, template)| *method == step.method && fits(template, path))
            .unwrap_or_else(|| {
                panic!(
                    "{} ({} {path}) is no documented operation",
                    step.name, step.method
                )
            });
        covered.insert(operation.clone());
    }
    let missing: Vec<_> = operations.difference(&covered).collect();
    assert!(
        missing.is_empty(),
        "no request in the collection for {missing:?}"
    );
}

/// Generic clients (Postman, Bruno, generated SDKs) call `{id}` routes with
/// the parameter's example: each must name a record of the seed, so a
/// freshly seeded service answers them instead of 404. They also find the
/// service at the document's `servers`.
#[test]
fn every_path_parameter_example_names_a_seed_record() {
    let openapi = read(files::OPENAPI_FILE);
    let seed = std::fs::read_to_string(recordshop_harness::seed::file()).unwrap();
    let mut checked = 0;
    for (path, item) in openapi["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let parameters = operation["parameters"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            for parameter in parameters.iter().filter(|p| p["in"] == "path") {
                let example = parameter["example"].as_str().unwrap_or_else(|| {
                    panic!(
                        "{method} {path}: path parameter {} has no example",
                        parameter["name"]
                    )
                });
                assert!(
                    seed.contains(example),
                    "{method} {path}: example {example} is not in the seed"
                );
                checked += 1;
            }
        }
    }
    assert!(checked >= 10, "only {checked} path parameters");
    assert_eq!(openapi["servers"][0]["url"], catalog::BASE_URL);
}

/// List envelopes refer to the named item schemas, so generated clients
/// get one `Disc`, `Customer` and `PurchaseOrder` class each.
#[test]
fn list_envelopes_refer_to_the_item_schemas() {
    let openapi = read(files::OPENAPI_FILE);
    let schemas = &openapi["components"]["schemas"];
    for (list, item) in [
        ("Listing_Disc", "Disc"),
        ("Listing_Customer", "Customer"),
        ("Listing_PurchaseOrder", "PurchaseOrder"),
    ] {
        assert_eq!(
            schemas[list]["properties"]["data"]["items"]["$ref"],
            format!("#/components/schemas/{item}"),
            "{list}"
        );
        assert!(schemas[item].is_object(), "{item}");
    }
}
