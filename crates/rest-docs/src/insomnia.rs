//! The Insomnia v4 export (`"__export_format": 4`): written from the
//! catalog, and read back by the replay, which must work from the
//! committed file alone.

use std::collections::BTreeMap;

use anyhow::{Context as _, anyhow, bail};
use serde_json::{Value, json};

use crate::catalog::{self, EXPECTED_STATUS_PREFIX, Folder};
use crate::step::Step;

const WORKSPACE_ID: &str = "wrk_recordshop";
const ENVIRONMENT_ID: &str = "env_recordshop_base";

/// A fixed instant for Insomnia's `created` / `modified` fields, so that
/// regenerating an unchanged catalog changes nothing.
const TIMESTAMP_MS: i64 = 1_767_225_600_000;

/// The export of the whole catalog.
#[must_use]
pub fn export(folders: &[Folder]) -> Value {
    let environment = catalog::environment();
    let mut resources = vec![
        json!({
            "_id": WORKSPACE_ID,
            "_type": "workspace",
            "parentId": null,
            "modified": TIMESTAMP_MS,
            "created": TIMESTAMP_MS,
            "name": catalog::TITLE,
            "description": "Every route of the record shop's API, and the instructive failures. \
                Run top to bottom on a freshly seeded database (`cargo xtask run --fresh`): \
                each request's description ends with the status it answers then.",
            "scope": "collection",
        }),
        json!({
            "_id": ENVIRONMENT_ID,
            "_type": "environment",
            "parentId": WORKSPACE_ID,
            "modified": TIMESTAMP_MS,
            "created": TIMESTAMP_MS,
            "name": "Base Environment",
            "data": environment.iter().map(|(k, v)| ((*k).to_owned(), json!(v))).collect::<serde_json::Map<_, _>>(),
            "dataPropertyOrder": {"&": environment.iter().map(|(k, _)| *k).collect::<Vec<_>>()},
            "color": null,
            "isPrivate": false,
            "metaSortKey": 0,
        }),
    ];
    let mut sort_key = 0_i64;
    for folder in folders {
        sort_key += 1;
        resources.push(json!({
            "_id": folder.id,
            "_type": "request_group",
            "parentId": WORKSPACE_ID,
            "modified": TIMESTAMP_MS,
            "created": TIMESTAMP_MS,
            "name": folder.name,
            "description": folder.description,
            "environment": {},
            "environmentPropertyOrder": null,
            "metaSortKey": sort_key,
        }));
        for request in &folder.requests {
            sort_key += 1;
            let (body, mut headers) = match &request.body {
                Some(text) => (
                    json!({"mimeType": "application/json", "text": text}),
                    vec![json!({"name": "Content-Type", "value": "application/json"})],
                ),
                None => (json!({}), Vec::new()),
            };
            headers.extend(
                request
                    .headers
                    .iter()
                    .map(|(name, value)| json!({"name": name, "value": value})),
            );
            resources.push(json!({
                "_id": request.id,
                "_type": "request",
                "parentId": folder.id,
                "modified": TIMESTAMP_MS,
                "created": TIMESTAMP_MS,
                "url": request.url,
                "name": request.name,
                "description": request.description(),
                "method": request.method,
                "body": body,
                "parameters": [],
                "headers": headers,
                "authentication": request.token.as_ref().map_or_else(
                    || json!({}),
                    |token| json!({"type": "bearer", "token": token, "prefix": "", "disabled": false}),
                ),
                "metaSortKey": sort_key,
                "isPrivate": false,
                "settingStoreCookies": true,
                "settingSendCookies": true,
                "settingDisableRenderRequestBody": false,
                "settingEncodeUrl": true,
                "settingRebuildPath": true,
                "settingFollowRedirects": "global",
            }));
        }
    }
    json!({
        "_type": "export",
        "__export_format": 4,
        "__export_source": concat!("recordshop-rest-docs:", env!("CARGO_PKG_VERSION")),
        "resources": resources,
    })
}

/// A collection read back from an export: the base environment and the
/// requests in the order Insomnia shows them (folders, then requests, each
/// by `metaSortKey`).
#[derive(Debug)]
pub struct Collection {
    /// The workspace's base environment.
    pub environment: BTreeMap<String, String>,
    /// Every request, in order.
    pub steps: Vec<Step>,
}

/// Reads an export this crate wrote, or one Insomnia re-exported from it.
///
/// # Errors
/// When it is not a v4 export, or a request lacks a method, a URL or a
/// parseable `Expected status:` line.
pub fn parse(export: &Value) -> anyhow::Result<Collection> {
    if export["__export_format"] != 4 {
        bail!(
            "not an Insomnia v4 export (__export_format is {})",
            export["__export_format"]
        );
    }
    let resources = export["resources"]
        .as_array()
        .ok_or_else(|| anyhow!("the export has no resources"))?;
    let of_type = |kind: &'static str| resources.iter().filter(move |r| r["_type"] == kind);
    let workspace = of_type("workspace")
        .next()
        .ok_or_else(|| anyhow!("the export has no workspace"))?;
    let workspace_id = &workspace["_id"];

    let mut environment = BTreeMap::new();
    for base in of_type("environment").filter(|e| &e["parentId"] == workspace_id) {
        for (key, value) in base["data"].as_object().into_iter().flatten() {
            let value = match value {
                Value::String(text) => text.clone(),
                other => other.to_string(),
            };
            environment.insert(key.clone(), value);
        }
    }

    // Insomnia shows a workspace's direct children (folders and loose
    // requests) by sort key, and each folder's requests by sort key.
    let sort_key = |resource: &Value| resource["metaSortKey"].as_f64().unwrap_or(0.0);
    let mut ordered: Vec<&Value> = Vec::new();
    let mut top: Vec<&Value> = resources
        .iter()
        .filter(|r| &r["parentId"] == workspace_id)
        .filter(|r| r["_type"] == "request_group" || r["_type"] == "request")
        .collect();
    top.sort_by(|a, b| sort_key(a).total_cmp(&sort_key(b)));
    for item in top {
        if item["_type"] == "request" {
            ordered.push(item);
            continue;
        }
        let mut children: Vec<&Value> = of_type("request")
            .filter(|r| r["parentId"] == item["_id"])
            .collect();
        children.sort_by(|a, b| sort_key(a).total_cmp(&sort_key(b)));
        ordered.extend(children);
    }

    let steps = ordered
        .into_iter()
        .map(step)
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(Collection { environment, steps })
}

fn step(request: &Value) -> anyhow::Result<Step> {
    let text = |field: &str| request[field].as_str().map(str::to_owned);
    let id = text("_id").ok_or_else(|| anyhow!("a request without an _id: {request}"))?;
    let description = text("description").unwrap_or_default();
    let expected_status = description
        .lines()
        .find_map(|line| line.trim().strip_prefix(EXPECTED_STATUS_PREFIX))
        .ok_or_else(|| anyhow!("{id}: its description has no {EXPECTED_STATUS_PREFIX:?} line"))?
        .trim()
        .parse()
        .with_context(|| format!("{id}: the expected status is not a number"))?;
    let body = request["body"]["text"].as_str().map(str::to_owned);
    // The enabled headers, as (name, value); Insomnia keeps a header it
    // was told to skip, marked `disabled`.
    let enabled: Vec<(String, String)> = request["headers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|h| h["disabled"] != true)
        .filter_map(|h| {
            let name = h["name"].as_str()?.trim();
            (!name.is_empty()).then(|| {
                (
                    name.to_owned(),
                    h["value"].as_str().unwrap_or_default().to_owned(),
                )
            })
        })
        .collect();
    let is_content_type = |name: &str| name.eq_ignore_ascii_case("content-type");
    let content_type = enabled
        .iter()
        .find(|(name, _)| is_content_type(name))
        .map(|(_, value)| value.as_str())
        .or_else(|| request["body"]["mimeType"].as_str())
        .map(str::to_owned);
    let headers = enabled
        .into_iter()
        .filter(|(name, _)| !is_content_type(name))
        .collect();
    let authentication = &request["authentication"];
    let token = (authentication["type"] == "bearer" && authentication["disabled"] != true)
        .then(|| authentication["token"].as_str().map(str::to_owned))
        .flatten();
    Ok(Step {
        token,
        headers,
        name: text("name").unwrap_or_else(|| id.clone()),
        method: text("method").ok_or_else(|| anyhow!("{id}: no method"))?,
        url: text("url").ok_or_else(|| anyhow!("{id}: no url"))?,
        body,
        content_type,
        expected_status,
        id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog;

    #[test]
    fn parsing_the_export_gives_back_the_catalog_in_order() {
        let collection = parse(&export(&catalog::folders())).unwrap();
        let expected: Vec<Step> = catalog::requests().iter().map(Step::from).collect();
        assert_eq!(collection.steps, expected);
        assert_eq!(collection.environment["base_url"], catalog::BASE_URL);
    }
}
