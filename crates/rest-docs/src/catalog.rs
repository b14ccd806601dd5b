//! The documented requests: written once, here, and turned into the
//! Insomnia export, the HAR and the replay.
//!
//! The sequence is designed to run top to bottom on a freshly seeded
//! database (`seed/seed.sql`): reads use the seed's fixed ids, and requests
//! about something created earlier in the run refer to the creating
//! request's response with an Insomnia response tag ([`created_id`]). The
//! order is the order Insomnia shows: folder by folder, top to bottom.
//!
//! Requests that need a bearer token say whose ([`Request::as_staff`],
//! [`Request::as_customer`]): the token is an environment variable,
//! `staff_token` or `customer_token` (the seed's John Doe), which a person
//! fills in with `recordshop token` (`cargo xtask run` prints both), and
//! which the recording and the replay fill in with tokens of the server
//! they start. Files record the variable, never a token.
//!
//! Other request headers are templates too ([`Request::with_header`]), such
//! as the `Idempotency-Key` of the keyed purchase, read from the
//! environment's `idempotency_key`.

use serde_json::{Value, json};

/// The collection's name, in Insomnia and in the HAR.
pub const TITLE: &str = "Lea Record Shop";

/// Where the collection expects the service; `cargo xtask run` serves there.
pub const BASE_URL: &str = "http://127.0.0.1:8080";

/// The seed's John Doe, active.
pub const SEED_CUSTOMER_ID: &str = recordshop_harness::seed::CUSTOMER;

/// The seed's "We are Reactive", 500 units in stock.
pub const SEED_DISC_ID: &str = recordshop_harness::seed::DISC;

/// An id that names nothing.
pub const UNKNOWN_ID: &str = "00000000-0000-4000-8000-000000000000";

/// The bearer token of staff requests: an environment variable.
pub const STAFF_TOKEN: &str = "{{ _.staff_token }}";

/// The bearer token of the seed customer's requests.
pub const CUSTOMER_TOKEN: &str = "{{ _.customer_token }}";

/// The `Idempotency-Key` of the keyed purchases: an environment variable.
pub const IDEMPOTENCY_KEY: &str = "{{ _.idempotency_key }}";

/// The environment's `idempotency_key`: fixed, so that the files and the
/// replay are the same from run to run; every run starts on a fresh
/// database, where the key is new. A real client sends a fresh key (a
/// UUID) per intended purchase.
pub const EXAMPLE_IDEMPOTENCY_KEY: &str = "5b3f7c2e-8d41-4a6b-9e0f-1c2d3e4f5a6b";

/// The line of a request's description that states the status it answers;
/// the replay reads it back from the export.
pub const EXPECTED_STATUS_PREFIX: &str = "Expected status: ";

/// The environment the requests' `{{ _.name }}` variables read.
#[must_use]
pub fn environment() -> Vec<(&'static str, String)> {
    vec![
        ("base_url", BASE_URL.to_owned()),
        ("customer_id", SEED_CUSTOMER_ID.to_owned()),
        ("disc_id", SEED_DISC_ID.to_owned()),
        ("unknown_id", UNKNOWN_ID.to_owned()),
        (
            "staff_token",
            "paste the output of: recordshop token --role staff".to_owned(),
        ),
        (
            "customer_token",
            format!("paste the output of: recordshop token --customer {SEED_CUSTOMER_ID}"),
        ),
        ("idempotency_key", EXAMPLE_IDEMPOTENCY_KEY.to_owned()),
    ]
}

/// A folder of requests.
#[derive(Debug, Clone)]
pub struct Folder {
    /// Stable id, also the Insomnia `_id`.
    pub id: &'static str,
    /// Shown in Insomnia.
    pub name: &'static str,
    /// What the folder's requests are about.
    pub description: &'static str,
    /// In the order they are meant to be sent.
    pub requests: Vec<Request>,
}

/// One documented request.
#[derive(Debug, Clone)]
pub struct Request {
    /// Stable id, also the Insomnia `_id` that response tags refer to.
    pub id: &'static str,
    /// Shown in Insomnia.
    pub name: &'static str,
    /// `GET`, `POST`, …
    pub method: &'static str,
    /// The URL as a template: `{{ _.base_url }}/discs/{{ _.disc_id }}`.
    pub url: String,
    /// The body as a template, sent as `application/json`; not always valid
    /// JSON, on purpose.
    pub body: Option<String>,
    /// What the request shows, for a person.
    pub summary: &'static str,
    /// The status the service answers on a fresh seed, in this order.
    pub expected_status: u16,
    /// The bearer token sent, as a template ([`STAFF_TOKEN`],
    /// [`CUSTOMER_TOKEN`]); none for public routes.
    pub token: Option<String>,
    /// Further headers sent, in order, each value a template; neither
    /// `Content-Type` (it follows the body) nor `Authorization` (it follows
    /// the token).
    pub headers: Vec<(&'static str, String)>,
}

impl Request {
    /// Sent with the staff token.
    #[must_use]
    pub fn as_staff(self) -> Self {
        self.with_token(STAFF_TOKEN)
    }

    /// Sent with the seed customer's token.
    #[must_use]
    pub fn as_customer(self) -> Self {
        self.with_token(CUSTOMER_TOKEN)
    }

    /// Sent with `token`, a template.
    #[must_use]
    pub fn with_token(mut self, token: &str) -> Self {
        self.token = Some(token.to_owned());
        self
    }

    /// Sent with the header `name: value`, `value` a template.
    #[must_use]
    pub fn with_header(mut self, name: &'static str, value: &str) -> Self {
        self.headers.push((name, value.to_owned()));
        self
    }

    /// The description Insomnia shows: the summary and the expected status
    /// on a line of its own, which the replay parses.
    #[must_use]
    pub fn description(&self) -> String {
        format!(
            "{}\n\n{EXPECTED_STATUS_PREFIX}{}",
            self.summary, self.expected_status
        )
    }
}

fn url(path: &str) -> String {
    format!("{{{{ _.base_url }}}}{path}")
}

/// An Insomnia response tag standing for the `id` in the latest response
/// to `request`; Insomnia sends that request first when it has no response
/// yet.
#[must_use]
pub fn created_id(request: &str) -> String {
    crate::template::response_tag(request, "$.id")
}

fn get(
    id: &'static str,
    name: &'static str,
    path: &str,
    status: u16,
    summary: &'static str,
) -> Request {
    Request {
        id,
        name,
        method: "GET",
        url: url(path),
        body: None,
        summary,
        expected_status: status,
        token: None,
        headers: Vec::new(),
    }
}

fn send(
    method: &'static str,
    (id, name): (&'static str, &'static str),
    path: &str,
    body: Option<String>,
    status: u16,
    summary: &'static str,
) -> Request {
    Request {
        id,
        name,
        method,
        url: url(path),
        body,
        summary,
        expected_status: status,
        token: None,
        headers: Vec::new(),
    }
}

fn json_body(value: &Value) -> Option<String> {
    serde_json::to_string_pretty(value).ok()
}

const CREATE_DISC: &str = "req_recordshop_discs_create";
const REGISTER_CUSTOMER: &str = "req_recordshop_customers_register";
const PLACE_ORDER: &str = "req_recordshop_orders_place";
const PLACE_KEYED_ORDER: &str = "req_recordshop_orders_place_keyed";

/// Every documented request, by folder, in the order they are meant to run.
#[must_use]
pub fn folders() -> Vec<Folder> {
    vec![
        health(),
        discs(),
        customers(),
        orders(),
        reports(),
        access(),
    ]
}

/// Every request, in order, without the folders.
#[must_use]
pub fn requests() -> Vec<Request> {
    folders()
        .into_iter()
        .flat_map(|folder| folder.requests)
        .collect()
}

fn health() -> Folder {
    Folder {
        id: "fld_recordshop_health",
        name: "Health",
        description: "Liveness and readiness.",
        requests: vec![
            get(
                "req_recordshop_health_live",
                "Liveness",
                "/health",
                200,
                "Answers while the process serves, without touching the database, and names the concurrency strategy purchases use.",
            ),
            get(
                "req_recordshop_health_ready",
                "Readiness",
                "/health/ready",
                200,
                "200 when the database answers; 503 `unavailable` (with `Retry-After`) when it does not.",
            ),
        ],
    }
}

fn discs() -> Folder {
    let created = created_id(CREATE_DISC);
    Folder {
        id: "fld_recordshop_discs",
        name: "Discs",
        description: "The catalog. `quantity` is the units in stock.",
        requests: vec![
            get(
                "req_recordshop_discs_list",
                "List discs",
                "/discs?limit=5",
                200,
                "The first page of the catalog, ordered by name then id: `{\"data\": [...], \"limit\": 5, \"offset\": 0}`. `limit` defaults to 100 and is capped at 100.",
            ),
            get(
                "req_recordshop_discs_search",
                "Search discs",
                "/discs?genre=rock&in_stock=true&year_of_release_min=1970&year_of_release_max=1979",
                200,
                "Filters combine with AND: `genre` is a case-insensitive substring (so it matches \"Rock\", \"Progressive Rock\", \"Hard Rock\"), `in_stock=true` leaves out sold-out discs, the year bounds are inclusive.",
            ),
            get(
                "req_recordshop_discs_get",
                "Get a disc",
                "/discs/{{ _.disc_id }}",
                200,
                "The seed's \"We are Reactive\", 500 units in stock.",
            ),
            send(
                "POST",
                (CREATE_DISC, "Add a disc"),
                "/discs",
                json_body(&json!({
                    "name": "Kind of Rust",
                    "artist": "The Borrow Checkers",
                    "year_of_release": 2024,
                    "genre": "Jazz",
                    "quantity": 10
                })),
                201,
                "Adds a disc: 201 with a `Location` header and the disc under its new id. The next requests of this folder act on it through a response tag.",
            )
            .as_staff(),
            send(
                "PUT",
                ("req_recordshop_discs_update", "Update a disc (PUT)"),
                &format!("/discs/{created}"),
                json_body(&json!({"genre": "Jazz Fusion", "year_of_release": 2025})),
                200,
                "A partial update: only the fields sent change. PUT and PATCH behave the same.",
            )
            .as_staff(),
            send(
                "PATCH",
                ("req_recordshop_discs_restock", "Restock a disc (PATCH)"),
                &format!("/discs/{created}"),
                json_body(&json!({"quantity": 25})),
                200,
                "Setting `quantity` sets the stock (a restock); purchases in flight are neither lost nor counted twice.",
            )
            .as_staff(),
            send(
                "DELETE",
                ("req_recordshop_discs_delete", "Remove a disc"),
                &format!("/discs/{created}"),
                None,
                204,
                "The disc leaves the catalog; its purchase orders, if any, keep their history.",
            )
            .as_staff(),
            get(
                "req_recordshop_discs_get_removed",
                "Get a removed disc (404)",
                &format!("/discs/{created}"),
                404,
                "A removed disc is gone for GET, lists and purchases: 404 `not_found`, like an unknown id or one that is not a UUID.",
            ),
            send(
                "POST",
                ("req_recordshop_discs_invalid", "Add an invalid disc (422)"),
                "/discs",
                json_body(&json!({
                    "name": "   ",
                    "artist": "Nobody",
                    "year_of_release": 1500,
                    "genre": "Rock",
                    "quantity": -1
                })),
                422,
                "422 `validation_failed` listing every failing field at once in `errors`: the blank name, the year before 1877 and the negative quantity.",
            )
            .as_staff(),
            send(
                "POST",
                (
                    "req_recordshop_discs_malformed",
                    "Send malformed JSON (400)",
                ),
                "/discs",
                Some("{\"name\": \"Abbey Road\", \"artist\": ".to_owned()),
                400,
                "A body that is not JSON answers 400 `malformed_request`, never 500.",
            )
            .as_staff(),
            get(
                "req_recordshop_discs_bad_query",
                "Send a bad query parameter (400)",
                "/discs?limit=-1",
                400,
                "Negative or non-numeric `limit` / `offset` answer 400 `malformed_request`, naming the parameter.",
            ),
        ],
    }
}

fn customers() -> Folder {
    let registered = created_id(REGISTER_CUSTOMER);
    Folder {
        id: "fld_recordshop_customers",
        name: "Customers",
        description: "Customers are never removed, only deactivated.",
        requests: vec![
            get(
                "req_recordshop_customers_list",
                "List active customers",
                "/customers?is_active=true&limit=10",
                200,
                "Active customers, one page of at most 10.",
            )
            .as_staff(),
            get(
                "req_recordshop_customers_find",
                "Find a customer by email",
                "/customers?email=johndoe@gmail.com",
                200,
                "`document` and `email` filter by exact value; `name` by case-insensitive substring.",
            )
            .as_staff(),
            get(
                "req_recordshop_customers_get",
                "Get a customer",
                "/customers/{{ _.customer_id }}",
                200,
                "The seed's John Doe.",
            )
            .as_staff(),
            send(
                "POST",
                (REGISTER_CUSTOMER, "Register a customer"),
                "/customers",
                json_body(&json!({
                    "document": "REC-2026-0001",
                    "name": "Ada Lovelace",
                    "birth_date": "1990-12-10",
                    "email": "ada.lovelace@example.com",
                    "phone": "+44 20 7946 0000"
                })),
                201,
                "Registers an active customer: 201 with a `Location` header. Sent twice, it answers 409 `customer_exists`: documents and emails are unique.",
            ),
            send(
                "PUT",
                ("req_recordshop_customers_update", "Update a customer (PUT)"),
                &format!("/customers/{registered}"),
                json_body(&json!({"phone": "+44 20 7946 0001"})),
                200,
                "A partial update of the customer registered above. PUT and PATCH behave the same; `is_active: true` reactivates.",
            )
            .as_staff(),
            send(
                "PATCH",
                (
                    "req_recordshop_customers_patch",
                    "Update a customer (PATCH)",
                ),
                &format!("/customers/{registered}"),
                json_body(&json!({"name": "Ada King"})),
                200,
                "Only `name` changes.",
            )
            .as_staff(),
            send(
                "DELETE",
                (
                    "req_recordshop_customers_deactivate",
                    "Deactivate a customer",
                ),
                &format!("/customers/{registered}"),
                None,
                204,
                "Deactivates the customer registered above (`is_active` becomes false); the customer and their orders stay. \"Buy as an inactive customer\" under Purchase orders then fails.",
            )
            .as_staff(),
            send(
                "POST",
                (
                    "req_recordshop_customers_exists",
                    "Register a taken document (409)",
                ),
                "/customers",
                json_body(&json!({
                    "document": "12345678911",
                    "name": "Jane Doe",
                    "birth_date": "1995-06-15",
                    "email": "jane.doe@example.com",
                    "phone": "5511987654321"
                })),
                409,
                "John Doe already has this document: 409 `customer_exists`. The same holds for an email, compared case-insensitively.",
            ),
            send(
                "POST",
                (
                    "req_recordshop_customers_invalid",
                    "Register an invalid customer (422)",
                ),
                "/customers",
                json_body(&json!({
                    "document": "",
                    "name": "Ana",
                    "birth_date": "2023-02-30",
                    "email": "nope",
                    "phone": "call me"
                })),
                422,
                "422 `validation_failed` listing every failing field: empty document, impossible date, implausible email, phone with letters.",
            ),
            get(
                "req_recordshop_customers_unknown",
                "Get an unknown customer (404)",
                "/customers/{{ _.unknown_id }}",
                404,
                "No customer has this id: 404 `not_found`.",
            )
            .as_staff(),
        ],
    }
}

fn orders() -> Folder {
    let placed = created_id(PLACE_ORDER);
    let registered = created_id(REGISTER_CUSTOMER);
    let one_unit = json_body(&json!({
        "customer_id": "{{ _.customer_id }}",
        "disc_id": "{{ _.disc_id }}",
        "quantity": 1
    }));
    Folder {
        id: "fld_recordshop_orders",
        name: "Purchase orders",
        description: "Purchases: the stock decrement and the order are one atomic step.",
        requests: vec![
            send(
                "POST",
                (PLACE_ORDER, "Buy a disc"),
                "/purchase-orders",
                json_body(&json!({
                    "customer_id": "{{ _.customer_id }}",
                    "disc_id": "{{ _.disc_id }}",
                    "quantity": 2
                })),
                201,
                "John Doe buys 2 units of \"We are Reactive\": 201 with the order, confirmed, and snapshots of the customer and of the disc right after the sale (498 units left).",
            )
            .as_customer(),
            send(
                "POST",
                (PLACE_KEYED_ORDER, "Buy with an Idempotency-Key"),
                "/purchase-orders",
                one_unit.clone(),
                201,
                "John Doe buys 1 unit with an `Idempotency-Key` header (the environment's `idempotency_key`): 201 with a new order, 497 units left. A repeat with the same key and body, by the same caller, while the key lives (`IDEMPOTENCY_KEY_TTL`, 24 h by default), replays this answer and sells nothing, so a client unsure whether a purchase went through (a timeout, a lost connection) can safely send it again. A client should use a fresh key (a UUID) per intended purchase; the environment's fixed key suits one run on fresh demo data.",
            )
            .as_customer()
            .with_header("Idempotency-Key", IDEMPOTENCY_KEY),
            send(
                "POST",
                (
                    "req_recordshop_orders_place_replayed",
                    "Send it again (replayed)",
                ),
                "/purchase-orders",
                one_unit,
                201,
                "The same key and the same body again: 201 replaying the first answer (the same order, id and body, and `Location`) with `Idempotent-Replayed: true`; nothing is sold, 497 units are still left.",
            )
            .as_customer()
            .with_header("Idempotency-Key", IDEMPOTENCY_KEY),
            send(
                "POST",
                (
                    "req_recordshop_orders_key_reused",
                    "Same key, another body (422)",
                ),
                "/purchase-orders",
                json_body(&json!({
                    "customer_id": "{{ _.customer_id }}",
                    "disc_id": "{{ _.disc_id }}",
                    "quantity": 2
                })),
                422,
                "The same key with another body (2 units instead of 1): 422 `idempotency_key_reused`, and nothing is sold. A malformed key (empty, with spaces or non-ASCII characters, longer than 255 characters) answers 400 `malformed_request`. `POST /customers` and `POST /discs` take an `Idempotency-Key` the same way.",
            )
            .as_customer()
            .with_header("Idempotency-Key", IDEMPOTENCY_KEY),
            get(
                "req_recordshop_orders_get",
                "Get an order",
                &format!("/purchase-orders/{placed}"),
                200,
                "The order placed by \"Buy a disc\".",
            )
            .as_customer(),
            get(
                "req_recordshop_orders_list",
                "List a customer's orders",
                "/purchase-orders?customer_id={{ _.customer_id }}&status=confirmed",
                200,
                "Filters `customer_id`, `disc_id`, `status`, `from`, `to` combine with AND; newest first.",
            )
            .as_customer(),
            get(
                "req_recordshop_orders_list_dates",
                "List orders between two dates",
                "/purchase-orders?from=2020-01-01&to=2099-12-31&limit=10",
                200,
                "`from` and `to` take RFC 3339 timestamps or `YYYY-MM-DD` dates (UTC); a date `to` covers its whole day; both are inclusive.",
            )
            .as_staff(),
            get(
                "req_recordshop_orders_events",
                "An order's history",
                &format!("/purchase-orders/{placed}/events"),
                200,
                "Every status change, oldest first, each recorded in the transaction that made it: here one `order.confirmed` (a synchronous strategy places orders confirmed; `queued` starts with `order.pending`). The same events go to the broker.",
            )
            .as_customer(),
            send(
                "POST",
                ("req_recordshop_orders_cancel", "Cancel an order"),
                &format!("/purchase-orders/{placed}/cancel"),
                None,
                200,
                "Cancels the order placed by \"Buy a disc\"; its 2 units return to the stock in the same transaction: 499 units left (the 497 after the keyed purchase, plus these 2), while the order's disc snapshot keeps the 498 of its sale.",
            )
            .as_customer(),
            send(
                "POST",
                ("req_recordshop_orders_cancel_again", "Cancel it again"),
                &format!("/purchase-orders/{placed}/cancel"),
                None,
                200,
                "Canceling is idempotent: 200 with the same canceled order, and nothing is restocked twice.",
            )
            .as_customer(),
            send(
                "POST",
                (
                    "req_recordshop_orders_out_of_stock",
                    "Buy more than the stock (409)",
                ),
                "/purchase-orders",
                json_body(&json!({
                    "customer_id": "{{ _.customer_id }}",
                    "disc_id": "{{ _.disc_id }}",
                    "quantity": 1_000_000
                })),
                409,
                "Asks for more units than the disc has: 409 `out_of_stock`, whose detail says how many are left (499 here). Nothing is sold.",
            )
            .as_customer(),
            send(
                "POST",
                (
                    "req_recordshop_orders_inactive",
                    "Buy as an inactive customer (422)",
                ),
                "/purchase-orders",
                Some(format!(
                    "{{\n  \"customer_id\": \"{registered}\",\n  \"disc_id\": \"{{{{ _.disc_id }}}}\",\n  \"quantity\": 1\n}}"
                )),
                422,
                "The customer registered and then deactivated under Customers tries to buy: 422 `customer_inactive`.",
            )
            .as_staff(),
            send(
                "POST",
                (
                    "req_recordshop_orders_unknown_disc",
                    "Buy an unknown disc (404)",
                ),
                "/purchase-orders",
                json_body(&json!({
                    "customer_id": "{{ _.customer_id }}",
                    "disc_id": "{{ _.unknown_id }}",
                    "quantity": 1
                })),
                404,
                "The body names a disc that does not exist: 404 `disc_not_found` (and `customer_not_found` for an unknown customer).",
            )
            .as_customer(),
            send(
                "POST",
                (
                    "req_recordshop_orders_invalid",
                    "Place an invalid order (422)",
                ),
                "/purchase-orders",
                json_body(&json!({"customer_id": "not-a-uuid", "quantity": 0})),
                422,
                "422 `validation_failed` listing every failing field: the id that is not a UUID, the missing `disc_id`, the zero quantity.",
            )
            .as_customer(),
            get(
                "req_recordshop_orders_unknown",
                "Get an unknown order (404)",
                "/purchase-orders/{{ _.unknown_id }}",
                404,
                "No order has this id: 404 `not_found`.",
            )
            .as_staff(),
            get(
                "req_recordshop_orders_bad_status",
                "Filter by an unknown status (400)",
                "/purchase-orders?status=shipped",
                400,
                "`status` is `pending`, `confirmed`, `rejected` or `canceled`; anything else answers 400 `malformed_request`.",
            )
            .as_customer(),
        ],
    }
}

fn reports() -> Folder {
    Folder {
        id: "fld_recordshop_reports",
        name: "Reports",
        description: "What sold, for staff: per disc and time bucket, the units and orders placed, the units canceled back, the net.",
        requests: vec![
            get(
                "req_recordshop_reports_sales_minutes",
                "Sales per minute",
                "/reports/sales?bucket=1m",
                200,
                "Per disc and minute (aligned to UTC) of the last 24 hours (the default window), newest first: `units_confirmed`, `orders_confirmed`, `units_canceled`, `net_units`. `from` is inclusive, `to` (default now) exclusive; a minute without sales or cancellations is left out.",
            )
            .as_staff(),
            get(
                "req_recordshop_reports_sales_disc",
                "One disc's sales per day",
                "/reports/sales?bucket=1d&disc_id={{ _.disc_id }}",
                200,
                "The seed disc's days over the last 24 hours (the default window).",
            )
            .as_staff(),
        ],
    }
}

fn access() -> Folder {
    let registered = created_id(REGISTER_CUSTOMER);
    Folder {
        id: "fld_recordshop_access",
        name: "Access",
        description: "Bearer tokens and roles: staff may do everything; a customer reads and updates its own record and buys, lists and cancels its own orders. Get tokens with `recordshop token --role staff` and `recordshop token --customer <id>`; a sign-up answers with the new customer's token in `X-Access-Token`.",
        requests: vec![
            get(
                "req_recordshop_access_own_record",
                "Read your own record (customer)",
                "/customers/{{ _.customer_id }}",
                200,
                "With the seed customer's token: John Doe reads his own record.",
            )
            .as_customer(),
            get(
                "req_recordshop_access_anonymous",
                "List customers without a token (401)",
                "/customers",
                401,
                "Only the catalog, sign-up, health and docs answer without a token: 401 `unauthenticated` with `WWW-Authenticate: Bearer realm=\"recordshop\"`.",
            ),
            get(
                "req_recordshop_access_invalid_token",
                "Send an invalid token (401)",
                "/discs",
                401,
                "A token that is malformed, expired or signed with another key is refused on every route, public ones too: 401 `unauthenticated` with `error=\"invalid_token\"` in `WWW-Authenticate`.",
            )
            .with_token("not-a-jwt"),
            get(
                "req_recordshop_access_staff_only",
                "List customers as a customer (403)",
                "/customers",
                403,
                "Listing customers is for staff: 403 `forbidden`.",
            )
            .as_customer(),
            get(
                "req_recordshop_access_other_customer",
                "Read another customer's record (403)",
                &format!("/customers/{registered}"),
                403,
                "John Doe asks for the customer registered under Customers: 403 `forbidden`, the same answer as for an id that does not exist, so a customer cannot probe which ids exist.",
            )
            .as_customer(),
        ],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique() {
        let mut ids: Vec<&str> = requests().iter().map(|request| request.id).collect();
        ids.extend(folders().iter().map(|folder| folder.id));
        let count = ids.len();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), count);
    }

    #[test]
    fn extra_headers_leave_the_body_and_the_token_their_own() {
        for request in requests() {
            for (name, _) in &request.headers {
                assert!(
                    !name.eq_ignore_ascii_case("content-type")
                        && !name.eq_ignore_ascii_case("authorization"),
                    "{}: {name} is set by the body or the token",
                    request.id
                );
            }
        }
    }

    #[test]
    fn descriptions_end_with_the_expected_status() {
        for request in requests() {
            let description = request.description();
            let last = description.lines().last().unwrap_or_default();
            assert_eq!(
                last,
                format!("{EXPECTED_STATUS_PREFIX}{}", request.expected_status)
            );
        }
    }
}
