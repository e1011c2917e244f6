//! The OpenAPI document shipgate serves, as a checker of the answers tests get: each body is
//! validated against the schema the document gives for its operation, status and content
//! type.

use jsonschema::{Draft, Registry};
use serde_json::Value;

const DOC_URI: &str = "urn:shipgate:api";

/// The served document, ready to check answers against.
pub struct OpenApi {
    pub doc: &'static Value,
    registry: Registry<'static>,
}

/// `$ref`s into the document made absolute, so a schema cut out of it still resolves them.
fn anchored(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| match (k.as_str(), v) {
                    ("$ref", Value::String(r)) if r.starts_with('#') => {
                        (k.clone(), Value::String(format!("{DOC_URI}{r}")))
                    }
                    _ => (k.clone(), anchored(v)),
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(anchored).collect()),
        other => other.clone(),
    }
}

impl OpenApi {
    /// Reads `/api/openapi.json` from shipgate at `base`.
    pub async fn fetch(http: &reqwest::Client, base: &url::Url) -> OpenApi {
        let answer = http
            .get(base.join("api/openapi.json").unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 200);
        let doc: &'static Value = Box::leak(Box::new(answer.json().await.unwrap()));
        assert_eq!(doc["openapi"], "3.1.0");
        let registry = Registry::new()
            .draft(Draft::Draft202012)
            .add(DOC_URI, doc)
            .and_then(|b| b.prepare())
            .expect("the document is a valid schema resource");
        OpenApi { doc, registry }
    }

    /// Sends `request` (an operation the document describes as `method template`) and
    /// returns the status and body, after checking the body against the document: errors
    /// are problem+json, a 401 asks for a bearer token.
    pub async fn send(
        &self,
        method: &str,
        template: &str,
        request: reqwest::RequestBuilder,
    ) -> (u16, Value) {
        let answer = request.send().await.unwrap();
        let status = answer.status().as_u16();
        let content_type = answer.headers()["content-type"]
            .to_str()
            .unwrap()
            .to_owned();
        if status >= 400 {
            assert_eq!(content_type, "application/problem+json", "{template}");
        }
        if status == 401 {
            assert_eq!(answer.headers()["www-authenticate"], "Bearer");
        }
        let body: Value = answer.json().await.unwrap();
        self.check(method, template, status, &content_type, &body);
        (status, body)
    }

    /// Asserts `body` is what the document promises for `method template` answering
    /// `status` with `content_type`.
    pub fn check(
        &self,
        method: &str,
        template: &str,
        status: u16,
        content_type: &str,
        body: &Value,
    ) {
        let schema = &self.doc["paths"][template][method]["responses"][status.to_string()]["content"]
            [content_type]["schema"];
        assert!(
            !schema.is_null(),
            "the document has no {status} {content_type} answer for {method} {template}"
        );
        let validator = jsonschema::options()
            .with_draft(Draft::Draft202012)
            .with_registry(&self.registry)
            .build(&anchored(schema))
            .expect("the response schema compiles");
        let errors: Vec<String> = validator.iter_errors(body).map(|e| e.to_string()).collect();
        assert!(
            errors.is_empty(),
            "{method} {template} ({status}): {errors:?}\n{body:#}"
        );
    }
}
