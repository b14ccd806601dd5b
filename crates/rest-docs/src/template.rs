//! The subset of Insomnia's templating the collection uses: environment
//! variables (`{{ _.name }}`, or the older `{{ name }}`) and the response
//! tag (`{% response 'body', 'req_…', 'b64::…::46b', … %}`) with a JSONPath
//! of plain field names. Anything else is refused rather than sent as is.

use std::collections::{BTreeMap, HashMap};

use anyhow::{Context as _, anyhow, bail};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;

/// How Insomnia marks a base64-encoded tag argument.
const B64_PREFIX: &str = "b64::";
const B64_SUFFIX: &str = "::46b";

/// The response tag Insomnia writes for "the value at `path` in the body of
/// the latest response to `request`", sending that request first when it
/// has no response yet (`no-history`).
#[must_use]
pub fn response_tag(request: &str, path: &str) -> String {
    let encoded = STANDARD.encode(path);
    format!(
        "{{% response 'body', '{request}', '{B64_PREFIX}{encoded}{B64_SUFFIX}', 'no-history', 60 %}}"
    )
}

/// What templates are rendered against.
#[derive(Debug, Default)]
pub struct Context {
    /// Environment variables.
    pub environment: BTreeMap<String, String>,
    /// The latest response body to each request id, parsed as JSON.
    pub responses: HashMap<String, Value>,
}

impl Context {
    /// Renders `template`.
    ///
    /// # Errors
    /// On an unknown variable, a tag other than `response 'body'`, a
    /// reference to a request with no response yet, or a path that finds
    /// nothing.
    pub fn render(&self, template: &str) -> anyhow::Result<String> {
        let mut out = String::with_capacity(template.len());
        let mut rest = template;
        while let Some(start) = rest.find(['{']) {
            out.push_str(&rest[..start]);
            let tail = &rest[start..];
            if let Some(inner) = tail.strip_prefix("{{") {
                let end = inner
                    .find("}}")
                    .ok_or_else(|| anyhow!("unclosed {{{{ in {template:?}"))?;
                out.push_str(&self.variable(inner[..end].trim())?);
                rest = &inner[end + 2..];
            } else if let Some(inner) = tail.strip_prefix("{%") {
                let end = inner
                    .find("%}")
                    .ok_or_else(|| anyhow!("unclosed {{% in {template:?}"))?;
                out.push_str(&self.tag(inner[..end].trim())?);
                rest = &inner[end + 2..];
            } else {
                out.push('{');
                rest = &tail[1..];
            }
        }
        out.push_str(rest);
        Ok(out)
    }

    fn variable(&self, name: &str) -> anyhow::Result<String> {
        let key = name.strip_prefix("_.").unwrap_or(name);
        self.environment
            .get(key)
            .cloned()
            .ok_or_else(|| anyhow!("the environment has no variable {key:?}"))
    }

    fn tag(&self, tag: &str) -> anyhow::Result<String> {
        let (name, arguments) = tag.split_once(char::is_whitespace).unwrap_or((tag, ""));
        if name != "response" {
            bail!("only the `response` tag is supported, got {{% {tag} %}}");
        }
        let arguments = split_arguments(arguments)?;
        let [field, request, path, ..] = arguments.as_slice() else {
            bail!("a response tag needs a field, a request id and a path: {{% {tag} %}}");
        };
        if field != "body" {
            bail!("only response tags on 'body' are supported: {{% {tag} %}}");
        }
        let path = decode(path)?;
        let body = self.responses.get(request.as_str()).ok_or_else(|| {
            anyhow!("{{% {tag} %}} refers to {request}, which has no response yet")
        })?;
        let value = select(body, &path)
            .with_context(|| format!("{path} in the response to {request}: {body}"))?;
        Ok(match value {
            Value::String(text) => text.clone(),
            other => other.to_string(),
        })
    }
}

/// Splits `'a', 'b', 60` into its arguments, quotes removed.
fn split_arguments(arguments: &str) -> anyhow::Result<Vec<String>> {
    let mut out = Vec::new();
    for raw in arguments.split(',') {
        let raw = raw.trim();
        let unquoted = raw
            .strip_prefix('\'')
            .and_then(|r| r.strip_suffix('\''))
            .or_else(|| raw.strip_prefix('"').and_then(|r| r.strip_suffix('"')))
            .unwrap_or(raw);
        out.push(unquoted.to_owned());
    }
    if out.iter().any(String::is_empty) {
        bail!("cannot read the tag's arguments {arguments:?}");
    }
    Ok(out)
}

fn decode(argument: &str) -> anyhow::Result<String> {
    let Some(encoded) = argument
        .strip_prefix(B64_PREFIX)
        .and_then(|rest| rest.strip_suffix(B64_SUFFIX))
    else {
        return Ok(argument.to_owned());
    };
    let bytes = STANDARD
        .decode(encoded)
        .with_context(|| format!("{argument:?} is not base64"))?;
    String::from_utf8(bytes).with_context(|| format!("{argument:?} is not UTF-8"))
}

/// `$.a.b` in `body`.
fn select<'a>(body: &'a Value, path: &str) -> anyhow::Result<&'a Value> {
    let fields = path
        .strip_prefix('$')
        .ok_or_else(|| anyhow!("only JSONPaths from the root ($) are supported"))?;
    let mut value = body;
    for field in fields.split('.').skip(1) {
        value = value
            .get(field)
            .ok_or_else(|| anyhow!("no field {field:?}"))?;
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn context() -> Context {
        let mut context = Context::default();
        context
            .environment
            .insert("base_url".to_owned(), "http://x".to_owned());
        context
            .responses
            .insert("req_1".to_owned(), json!({"id": "abc", "n": 3}));
        context
    }

    #[test]
    fn renders_variables_and_response_tags() {
        let template = format!(
            "{{{{ _.base_url }}}}/a/{}?{{{{base_url}}}}",
            response_tag("req_1", "$.id")
        );
        assert_eq!(
            context().render(&template).unwrap(),
            "http://x/a/abc?http://x"
        );
        let number = response_tag("req_1", "$.n");
        assert_eq!(context().render(&number).unwrap(), "3");
        assert_eq!(context().render("{\"a\": 1}").unwrap(), "{\"a\": 1}");
    }

    #[test]
    fn the_tag_is_the_one_insomnia_writes() {
        assert_eq!(
            response_tag("req_1", "$.id"),
            "{% response 'body', 'req_1', 'b64::JC5pZA==::46b', 'no-history', 60 %}"
        );
    }

    #[test]
    fn refuses_what_it_cannot_resolve() {
        let context = context();
        assert!(context.render("{{ _.nope }}").is_err());
        assert!(context.render("{% uuid 'v4' %}").is_err());
        assert!(context.render(&response_tag("req_2", "$.id")).is_err());
        assert!(context.render(&response_tag("req_1", "$.missing")).is_err());
        assert!(context.render("{{ _.base_url").is_err());
    }
}
