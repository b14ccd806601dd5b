//! The API's OpenAPI 3.1 description, generated from the handlers'
//! `#[utoipa::path]` attributes and the DTOs' schemas, and the routes that
//! serve it: `GET /openapi.json` and Swagger UI at `GET /docs`.
//!
//! Error responses are built from real [`ApiError`] values (see
//! [`examples`]), so a documented problem body has exactly the shape,
//! status, title and code the service sends.

use std::collections::BTreeMap;

use actix_web::http::header;
use actix_web::{HttpResponse, web};
use utoipa::openapi::example::ExampleBuilder;
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::{Operation, PathItem};
use utoipa::openapi::schema::{ArrayItems, Schema};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::server::Server;
use utoipa::openapi::{
    ContentBuilder, Header, OpenApi as Document, RefOr, Response, ResponseBuilder, Type,
};
use utoipa::{Modify, OpenApi, PartialSchema, ToSchema};
use utoipa_swagger_ui::{Config, SwaggerUi};

use crate::error::{ApiError, FieldError, Problem, ProblemCode};
use crate::{customers, discs, health, orders, reports};

/// Where the document is served.
pub const OPENAPI_PATH: &str = "/openapi.json";

/// Where Swagger UI is served.
pub const DOCS_PATH: &str = "/docs";

/// Header names as the contract spells them (the `http` constants are
/// lowercase).
const REQUEST_ID: &str = "X-Request-Id";
const RETRY_AFTER: &str = "Retry-After";
const WWW_AUTHENTICATE: &str = "WWW-Authenticate";

/// The name of the bearer-token security scheme, as operations'
/// `security(("bearer" = []))` refer to it.
pub(crate) const BEARER: &str = "bearer";

/// The media type of error bodies.
const PROBLEM_JSON: &str = "application/problem+json";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Lea Record Shop API",
        description = "Discs, customers and purchase orders of a record shop that sells a limited \
stock without ever overselling.\n\n\
JSON in, JSON out. A body is parsed as JSON whatever its `Content-Type`; unknown fields are \
ignored. Ids are UUIDs; a path id that is not one answers 404 like an unknown id. Timestamps \
are RFC 3339 in UTC, dates `YYYY-MM-DD`. A create answers `201 Created` with a `Location` \
header. Every response carries `X-Request-Id` (the client's, when it sent a sane one). Lists \
answer `{\"data\": [...], \"limit\": L, \"offset\": O}`.\n\n\
Every error is `application/problem+json` (RFC 9457) with a stable `code`. A method a route \
does not answer gets 405 `method_not_allowed` with an `Allow` header; `HEAD` is answered \
wherever `GET` is. Request bodies are taken uncompressed only: a `Content-Encoding` other than \
`identity` answers 415 `unsupported_encoding`. Dates are `YYYY-MM-DD` and instants RFC 3339, \
both with four-digit years.\n\n\
## Access\n\n\
Send `Authorization: Bearer <token>` (a JWT). Two roles:\n\n\
- **staff**: everything. Operators mint a token with `recordshop token --role staff` \
(`cargo xtask run` prints one).\n\
- **customer**: the token's subject is a customer id. It may read and update its own \
record (not `is_active`), buy for itself, and list, read and cancel its own orders. \
`POST /customers` (sign-up) answers with a customer token for the new customer in the \
`X-Access-Token` header, valid for an hour.\n\n\
Without a token, only the catalog (`GET /discs`, `GET /discs/{id}`), sign-up, health and \
these docs answer; everything else is 401 `unauthenticated`. A token that is present but \
expired, altered or malformed is 401 on every route, public ones included. A valid token \
whose role or subject does not allow the request is 403 `forbidden`; a customer gets the \
same 403 for another customer's resources and for ids that do not exist.",
        license(name = "MIT", identifier = "MIT"),
    ),
    tags(
        (name = "discs", description = "The catalog. `quantity` is the units in stock."),
        (name = "customers", description = "Customers are never removed, only deactivated."),
        (name = "purchase orders", description = "Purchases: the stock decrement and the order are one atomic step."),
        (name = "reports", description = "What sold, for staff: sales per disc and time bucket."),
        (name = "health", description = "Liveness and readiness."),
    ),
    // Referenced by the problem responses, which are built by hand.
    components(schemas(Problem, ProblemCode, FieldError)),
)]
struct ApiDoc;

/// The whole document: every route, parameter, body, response and problem.
#[must_use]
pub fn openapi() -> Document {
    let mut document = ApiDoc::openapi();
    // Each resource module lists its own operations; the version is the
    // crate's, so a release that changes the API also changes it.
    document.info.version = env!("CARGO_PKG_VERSION").to_owned();
    for part in [
        discs::ApiDoc::openapi(),
        customers::ApiDoc::openapi(),
        orders::ApiDoc::openapi(),
        reports::ApiDoc::openapi(),
        health::ApiDoc::openapi(),
    ] {
        document.merge(part);
    }
    RequestIds.modify(&mut document);
    BearerScheme.modify(&mut document);
    ListItemsByReference.modify(&mut document);
    document.servers = Some(vec![
        Server::builder()
            .url(LOCAL_SERVER)
            .description(Some(
                "The local default: what `cargo xtask run` serves (HOST and PORT move it)",
            ))
            .build(),
    ]);
    document
}

/// Where the service listens unless HOST and PORT say otherwise.
pub const LOCAL_SERVER: &str = "http://127.0.0.1:8080";

/// The list envelopes (`Listing_Disc`, …) name their items by reference to
/// the item's own schema (`Disc`, …) instead of repeating it inline, so a
/// generated client has one `Disc` class, used by `GET /discs/{id}` and by
/// the list alike. utoipa inlines a generic's argument; this puts the
/// reference back.
struct ListItemsByReference;

impl Modify for ListItemsByReference {
    fn modify(&self, document: &mut Document) {
        let Some(components) = document.components.as_mut() else {
            return;
        };
        let names: Vec<String> = components.schemas.keys().cloned().collect();
        for (name, schema) in &mut components.schemas {
            let Some(item) = name.strip_prefix("Listing_") else {
                continue;
            };
            if !names.iter().any(|known| known == item) {
                continue;
            }
            let RefOr::T(Schema::Object(envelope)) = schema else {
                continue;
            };
            if let Some(RefOr::T(Schema::Array(data))) = envelope.properties.get_mut("data") {
                data.items = ArrayItems::RefOrSchema(Box::new(RefOr::Ref(
                    utoipa::openapi::Ref::from_schema_name(item),
                )));
            }
        }
    }
}

/// The `bearer` security scheme that protected operations require.
struct BearerScheme;

impl Modify for BearerScheme {
    fn modify(&self, document: &mut Document) {
        let scheme = Http::builder()
            .scheme(HttpAuthScheme::Bearer)
            .bearer_format("JWT")
            .description(Some(
                "An HS256 JWT of this service: `recordshop token --role staff`, \
                 `recordshop token --customer <id>`, or the `X-Access-Token` of a sign-up.",
            ))
            .build();
        document
            .components
            .get_or_insert_with(Default::default)
            .add_security_scheme(BEARER, SecurityScheme::Http(scheme));
    }
}

/// `/openapi.json`, and Swagger UI at `/docs` with its assets compiled in,
/// so the page works with no network beyond the service itself.
pub(crate) fn routes(config: &mut web::ServiceConfig) {
    let ui_config = Config::new([OPENAPI_PATH])
        // Swagger UI would otherwise load a validity badge from a public
        // validator, a request that leaves the machine.
        .validator_url("none")
        .try_it_out_enabled(true)
        .display_request_duration(true);
    config
        .service(
            SwaggerUi::new(format!("{DOCS_PATH}/{{_:.*}}"))
                .url(OPENAPI_PATH, openapi())
                .config(ui_config),
        )
        // The UI's page loads its assets by relative paths, which resolve
        // under `/docs/` only.
        .service(web::resource(DOCS_PATH).route(web::get().to(|| async {
            HttpResponse::PermanentRedirect()
                .insert_header((header::LOCATION, format!("{DOCS_PATH}/")))
                .finish()
        })));
}

/// Adds `X-Request-Id` to every response of every operation: the
/// middleware sets it on all of them, so documenting it per handler would
/// only invite omissions.
struct RequestIds;

impl Modify for RequestIds {
    fn modify(&self, document: &mut Document) {
        let header = request_id_header();
        for item in document.paths.paths.values_mut() {
            for operation in operations(item) {
                for response in operation.responses.responses.values_mut() {
                    if let RefOr::T(response) = response {
                        response
                            .headers
                            .insert(REQUEST_ID.to_owned(), RefOr::T(header.clone()));
                    }
                }
            }
        }
    }
}

fn request_id_header() -> Header {
    HeaderBuilder::new()
        .schema(Some(String::schema()))
        .description(Some(
            "The request's id: the client's `X-Request-Id` when it sent one of 1 to 128 \
             printable ASCII characters, otherwise a fresh UUID. Logs carry the same id.",
        ))
        .build()
}

fn operations(item: &mut PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        item.get.as_mut(),
        item.put.as_mut(),
        item.post.as_mut(),
        item.delete.as_mut(),
        item.options.as_mut(),
        item.head.as_mut(),
        item.patch.as_mut(),
        item.trace.as_mut(),
    ]
    .into_iter()
    .flatten()
}

/// The responses for `problems`, one per status, each with an example per
/// problem under it. Used by the types `problems!` declares.
pub(crate) fn problem_responses(problems: &[ApiError]) -> BTreeMap<String, RefOr<Response>> {
    let mut by_status: BTreeMap<u16, Vec<&ApiError>> = BTreeMap::new();
    for problem in problems {
        by_status
            .entry(problem.problem_code().status().as_u16())
            .or_default()
            .push(problem);
    }
    by_status
        .into_iter()
        .map(|(status, problems)| (status.to_string(), RefOr::T(problem_response(&problems))))
        .collect()
}

fn problem_response(problems: &[&ApiError]) -> Response {
    let mut descriptions: Vec<String> = Vec::new();
    let mut content = ContentBuilder::new().schema(Some(RefOr::Ref(
        utoipa::openapi::Ref::from_schema_name(Problem::name()),
    )));
    let mut examples = Vec::new();
    for problem in problems {
        let code = problem.problem_code();
        let line = format!("`{}`: {}", code.as_str(), code_meaning(code));
        if !descriptions.contains(&line) {
            descriptions.push(line);
        }
        let body = serde_json::to_value(problem.problem()).ok();
        examples.push((
            code.as_str(),
            ExampleBuilder::new().summary(code.title()).value(body),
        ));
    }
    content = content.examples_from_iter(examples);
    let mut response = ResponseBuilder::new()
        .description(descriptions.join("; "))
        .content(PROBLEM_JSON, content.build());
    if problems
        .iter()
        .any(|problem| matches!(problem, ApiError::Unauthenticated(_)))
    {
        response = response.header(
            WWW_AUTHENTICATE,
            HeaderBuilder::new()
                .schema(Some(String::schema()))
                .description(Some(
                    "`Bearer realm=\"recordshop\"`, plus `error=\"invalid_token\"` when the \
                     request carried a bearer token that was refused.",
                ))
                .build(),
        );
    }
    if problems
        .iter()
        .any(|problem| problem.retry_after().is_some())
    {
        response = response.header(
            RETRY_AFTER,
            HeaderBuilder::new()
                .schema(Some(
                    utoipa::openapi::ObjectBuilder::new()
                        .schema_type(Type::Integer)
                        .build(),
                ))
                .description(Some("Seconds to wait before retrying."))
                .build(),
        );
    }
    response.build()
}

/// When each code is answered, for response descriptions.
fn code_meaning(code: ProblemCode) -> &'static str {
    use ProblemCode as Code;
    match code {
        Code::NotFound => "unknown route or id",
        Code::CustomerNotFound => "the body names an unknown customer",
        Code::DiscNotFound => "the body names an unknown disc",
        Code::MalformedRequest => {
            "the body is not JSON, a JSON type is wrong, or a query parameter is bad"
        }
        Code::Unauthenticated => {
            "no bearer token where one is needed, or a token that is expired, altered or malformed"
        }
        Code::Forbidden => "the token's role or subject does not allow this request",
        Code::MethodNotAllowed => "the route does not answer this method",
        Code::PayloadTooLarge => "the body is over 64 KiB",
        Code::UnsupportedEncoding => "the body is compressed; send it uncompressed",
        Code::ValidationFailed => "fields broke their rules; `errors` lists every one",
        Code::CustomerInactive => "a deactivated customer tried to buy",
        Code::IdempotencyKeyReused => {
            "the `Idempotency-Key` was already used by this caller with a different request"
        }
        Code::OutOfStock => "the purchase asks for more than the remaining stock",
        Code::CustomerExists => "another customer already has this document or email",
        Code::OrderNotCancelable => {
            "the order is pending or rejected; only a confirmed order can be canceled"
        }
        Code::Contention => {
            "concurrent requests kept conflicting; retry after `Retry-After` seconds"
        }
        Code::Unavailable => "the database cannot be reached; retry after `Retry-After` seconds",
        Code::Overloaded => {
            "more purchases are in flight than the server admits; retry after `Retry-After` seconds"
        }
        Code::Internal => "a bug; the detail says nothing more, the logs do under the X-Request-Id",
    }
}

/// Declares a type whose OpenAPI responses are the problems its list of
/// [`ApiError`] examples answer, for a handler's `responses(...)`.
macro_rules! problems {
    ($(#[$doc:meta])* $name:ident => [$($problem:expr),+ $(,)?]) => {
        $(#[$doc])*
        pub(crate) enum $name {}

        impl utoipa::IntoResponses for $name {
            fn responses() -> std::collections::BTreeMap<
                String,
                utoipa::openapi::RefOr<utoipa::openapi::Response>,
            > {
                #[allow(unused_imports)]
                use $crate::openapi::examples::*;
                $crate::openapi::problem_responses(&[$($problem),+])
            }
        }
    };
}

/// Real errors, with realistic details, that the documentation shows as
/// examples.
pub(crate) mod examples {
    use recordshop_domain::StoreError;
    use recordshop_domain::customer::{CustomerError, CustomerId};
    use recordshop_domain::disc::{DiscError, DiscId};
    use recordshop_domain::order::{OrderError, PlaceOrderError, PurchaseOrderId};
    use uuid::Uuid;

    use recordshop_auth::TokenError;

    use crate::credentials::Unauthenticated;
    use crate::error::{ApiError, FieldError};
    use crate::json::BODY_LIMIT;

    /// The seed's "We are Reactive".
    const DISC: Uuid = Uuid::from_u128(0xbcd8a0e9_dc0a_4ae7_a783_458542e2cc39);
    /// The seed's John Doe.
    const CUSTOMER: Uuid = Uuid::from_u128(0x0e92cf1e_7bc4_4f9e_8eb6_3c88627efecb);
    /// An id nothing has.
    const UNKNOWN: Uuid = Uuid::from_u128(0x00000000_0000_4000_8000_000000000000);

    pub(crate) fn malformed_body() -> ApiError {
        ApiError::Malformed(
            "the body is not valid JSON: EOF while parsing a value at line 1 column 33".to_owned(),
        )
    }

    /// A protected route called without a token.
    pub(crate) fn unauthenticated() -> ApiError {
        ApiError::Unauthenticated(Unauthenticated::Missing)
    }

    /// Any route called with a token that is no longer valid.
    pub(crate) fn bad_token() -> ApiError {
        ApiError::Unauthenticated(Unauthenticated::Invalid(TokenError::Expired))
    }

    pub(crate) use crate::auth::policy::{
        not_for_yourself, not_your_order, not_your_record, staff_only_refusal,
    };

    pub(crate) fn bad_query() -> ApiError {
        ApiError::Malformed("limit must not be negative".to_owned())
    }

    pub(crate) fn too_large() -> ApiError {
        ApiError::PayloadTooLarge(BODY_LIMIT)
    }

    pub(crate) fn compressed_body() -> ApiError {
        ApiError::UnsupportedEncoding("gzip".to_owned())
    }

    pub(crate) fn invalid(fields: &[(&'static str, &str)]) -> ApiError {
        ApiError::Validation(
            fields
                .iter()
                .map(|(field, message)| FieldError {
                    field,
                    message: (*message).to_owned(),
                })
                .collect(),
        )
    }

    pub(crate) fn disc_not_found() -> ApiError {
        DiscError::NotFound(DiscId::from_uuid(UNKNOWN)).into()
    }

    pub(crate) fn customer_not_found() -> ApiError {
        CustomerError::NotFound(CustomerId::from_uuid(UNKNOWN)).into()
    }

    pub(crate) fn order_not_found() -> ApiError {
        OrderError::NotFound(PurchaseOrderId::from_uuid(UNKNOWN)).into()
    }

    pub(crate) fn key_reused() -> ApiError {
        ApiError::IdempotencyKeyReused(
            "idempotency key 5f0c6a1e-4d0b-4c5e-9a53-2b8f3c1d7e90 was used with a different request"
                .to_owned(),
        )
    }

    pub(crate) fn customer_exists() -> ApiError {
        CustomerError::AlreadyExists.into()
    }

    pub(crate) fn unknown_customer_in_body() -> ApiError {
        PlaceOrderError::CustomerNotFound(CustomerId::from_uuid(UNKNOWN)).into()
    }

    pub(crate) fn unknown_disc_in_body() -> ApiError {
        PlaceOrderError::DiscNotFound(DiscId::from_uuid(UNKNOWN)).into()
    }

    pub(crate) fn customer_inactive() -> ApiError {
        PlaceOrderError::CustomerInactive(CustomerId::from_uuid(CUSTOMER)).into()
    }

    pub(crate) fn out_of_stock() -> ApiError {
        PlaceOrderError::OutOfStock {
            disc_id: DiscId::from_uuid(DISC),
            available: 3,
            requested: 5,
        }
        .into()
    }

    pub(crate) fn order_not_cancelable() -> ApiError {
        OrderError::NotCancelable {
            id: PurchaseOrderId::from_uuid(UNKNOWN),
            status: recordshop_domain::order::OrderStatus::Pending,
        }
        .into()
    }

    pub(crate) fn contention() -> ApiError {
        StoreError::Conflict.into()
    }

    pub(crate) fn unavailable() -> ApiError {
        StoreError::Unavailable(anyhow::anyhow!("connection refused")).into()
    }

    pub(crate) fn overloaded() -> ApiError {
        crate::admission::Overloaded { limit: 32 }.into()
    }

    pub(crate) fn internal() -> ApiError {
        StoreError::Unexpected(anyhow::anyhow!("a bug")).into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn document() -> serde_json::Value {
        serde_json::to_value(openapi()).unwrap()
    }

    #[test]
    fn the_document_is_openapi_3_1() {
        assert_eq!(document()["openapi"], "3.1.0");
    }

    #[test]
    fn every_problem_code_a_route_can_answer_is_documented_with_an_example() {
        let text = document().to_string();
        for code in ProblemCode::ALL {
            // 405 is the same for every route; the info text describes it.
            if code == ProblemCode::MethodNotAllowed {
                continue;
            }
            let example = format!(r#""code":"{}""#, code.as_str());
            assert!(text.contains(&example), "no example of {}", code.as_str());
        }
    }

    #[test]
    fn every_response_documents_the_request_id() {
        let document = document();
        for (path, item) in document["paths"].as_object().unwrap() {
            for (method, operation) in item.as_object().unwrap() {
                for (status, response) in operation["responses"].as_object().unwrap() {
                    assert!(
                        response["headers"][REQUEST_ID].is_object(),
                        "{method} {path} {status}"
                    );
                }
            }
        }
    }

    /// The schema attributes take literals only; this keeps them equal to
    /// the domain's rules.
    #[test]
    fn documented_bounds_are_the_domains() {
        use recordshop_domain::customer::{Document, Email, PersonName};
        use recordshop_domain::disc::{ArtistName, DiscName, Genre, ReleaseYear, StockQuantity};

        let document = document();
        let schemas = &document["components"]["schemas"];
        let bound = |schema: &str, field: &str, key: &str| {
            schemas[schema]["properties"][field][key].as_i64().unwrap()
        };
        let chars = |n: usize| i64::try_from(n).unwrap();
        for schema in ["CreateDisc", "UpdateDisc"] {
            for (field, min, max) in [
                ("name", DiscName::MIN_CHARS, DiscName::MAX_CHARS),
                ("artist", ArtistName::MIN_CHARS, ArtistName::MAX_CHARS),
                ("genre", Genre::MIN_CHARS, Genre::MAX_CHARS),
            ] {
                assert_eq!(
                    bound(schema, field, "minLength"),
                    chars(min),
                    "{schema}.{field}"
                );
                assert_eq!(
                    bound(schema, field, "maxLength"),
                    chars(max),
                    "{schema}.{field}"
                );
            }
            assert_eq!(
                bound(schema, "year_of_release", "minimum"),
                i64::from(ReleaseYear::EARLIEST)
            );
            assert_eq!(
                bound(schema, "quantity", "maximum"),
                StockQuantity::MAX_SETTABLE
            );
        }
        for schema in ["RegisterCustomer", "UpdateCustomer"] {
            for (field, min, max) in [
                ("document", Document::MIN_CHARS, Document::MAX_CHARS),
                ("name", PersonName::MIN_CHARS, PersonName::MAX_CHARS),
            ] {
                assert_eq!(
                    bound(schema, field, "minLength"),
                    chars(min),
                    "{schema}.{field}"
                );
                assert_eq!(
                    bound(schema, field, "maxLength"),
                    chars(max),
                    "{schema}.{field}"
                );
            }
            assert_eq!(bound(schema, "email", "maxLength"), chars(Email::MAX_CHARS));
        }
    }

    /// Public operations declare no security requirement (a generic client
    /// calls them with a plain client; Swagger UI draws no padlock); every
    /// other one requires the bearer scheme and documents both the 401
    /// (with its challenge) and the 403.
    #[test]
    fn every_protected_operation_requires_the_bearer_scheme() {
        const PUBLIC: [&str; 5] = [
            "list_discs",
            "get_disc",
            "register_customer",
            "health",
            "ready",
        ];
        let document = document();
        let scheme = &document["components"]["securitySchemes"][BEARER];
        assert_eq!(scheme["type"], "http");
        assert_eq!(scheme["scheme"], "bearer");
        assert_eq!(scheme["bearerFormat"], "JWT");
        let required = serde_json::json!([{BEARER: []}]);
        let mut protected = 0;
        for (path, item) in document["paths"].as_object().unwrap() {
            for (method, operation) in item.as_object().unwrap() {
                let id = operation["operationId"].as_str().unwrap();
                let responses = &operation["responses"];
                let unauthenticated = &responses["401"];
                assert!(
                    unauthenticated["headers"][WWW_AUTHENTICATE].is_object(),
                    "{method} {path}: a refused token is possible everywhere"
                );
                if PUBLIC.contains(&id) {
                    assert!(operation["security"].is_null(), "{method} {path}");
                    assert!(responses["403"].is_null(), "{method} {path}");
                } else {
                    protected += 1;
                    assert_eq!(operation["security"], required, "{method} {path}");
                    assert!(responses["403"].is_object(), "{method} {path}");
                }
            }
        }
        assert_eq!(protected, 15);
        let description = document["info"]["description"].as_str().unwrap();
        for role in [
            "**staff**",
            "**customer**",
            "X-Access-Token",
            "recordshop token",
        ] {
            assert!(description.contains(role), "{role}");
        }
    }

    #[test]
    fn problem_codes_serialize_as_their_names() {
        for code in ProblemCode::ALL {
            assert_eq!(serde_json::to_value(code).unwrap(), code.as_str());
        }
    }

    #[test]
    fn operation_ids_are_unique() {
        let document = document();
        let mut ids = Vec::new();
        for item in document["paths"].as_object().unwrap().values() {
            for operation in item.as_object().unwrap().values() {
                ids.push(operation["operationId"].as_str().unwrap().to_owned());
            }
        }
        let count = ids.len();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), count, "{ids:?}");
    }
}
