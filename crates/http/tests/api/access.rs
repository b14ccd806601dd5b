//! Access control: every route for every kind of caller, and the rules
//! that need a closer look (sign-up tokens, narrowed lists, `is_active`,
//! ids a customer must not be able to probe, the order of the checks,
//! authentication disabled, and what the logs keep).

use actix_web::http::StatusCode;
use actix_web::http::header::AUTHORIZATION;
use actix_web::test::TestRequest;
use recordshop_http::Authenticator;
use recordshop_postgres::ConcurrencyStrategy;
use serde_json::{Value, json};

use crate::helpers::{
    LogCapture, Reply, TestApp, bearer, customer_body, customer_token, expired_token,
    foreign_token, staff_token,
};

const CHALLENGE: &str = r#"Bearer realm="recordshop""#;
const INVALID_TOKEN: &str = r#"Bearer realm="recordshop", error="invalid_token""#;
const UNKNOWN: &str = "6f1c4f7e-8d7a-4c55-9d3e-2a1b0c9d8e7f";

/// The kinds of caller, in the order the matrix tries them: the owner and
/// staff last, so that what they change (a cancel, a deactivation) happens
/// after the others were refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Who {
    Anonymous,
    /// A customer other than the owner of the resources.
    Other,
    /// A staff token that expired an hour ago.
    Expired,
    /// A staff token signed with another secret.
    BadSignature,
    /// The customer the resources belong to.
    Owner,
    Staff,
}

const EVERYONE: [Who; 6] = [
    Who::Anonymous,
    Who::Other,
    Who::Expired,
    Who::BadSignature,
    Who::Owner,
    Who::Staff,
];

fn id(resource: &Value) -> String {
    resource["id"].as_str().expect("id").to_owned()
}

/// A shop with two customers, a disc, and an order of the owner's.
struct Shop {
    app: TestApp,
    owner: String,
    other: String,
    disc: String,
    order: String,
}

impl Shop {
    async fn open() -> Self {
        let app = TestApp::spawn().await;
        let owner = app.create_customer("owner", "Owner").await;
        let other = app.create_customer("other", "Other").await;
        let disc = app
            .create_disc("Kind of Blue", "Miles Davis", 1959, "Jazz", 100)
            .await;
        let order = app.place_order(&owner, &disc, 1).await;
        Self {
            owner: id(&owner),
            other: id(&other),
            disc: id(&disc),
            order: id(&order),
            app,
        }
    }

    async fn send(&self, who: Who, request: TestRequest) -> Reply {
        let token = match who {
            Who::Anonymous => return self.app.send_anonymous(request).await,
            Who::Other => customer_token(&self.other),
            Who::Owner => customer_token(&self.owner),
            Who::Staff => staff_token(),
            Who::Expired => expired_token(),
            Who::BadSignature => foreign_token(),
        };
        self.app.send_with(request, &token).await
    }
}

/// What a route answers to each caller; expired and foreign tokens always
/// get 401.
#[derive(Debug, Clone, Copy)]
struct Expect {
    anonymous: u16,
    other: u16,
    owner: u16,
    staff: u16,
}

const PUBLIC_200: Expect = Expect {
    anonymous: 200,
    other: 200,
    owner: 200,
    staff: 200,
};

/// Staff only: 401 without a token, 403 for any customer.
const fn staff_only(status: u16) -> Expect {
    Expect {
        anonymous: 401,
        other: 403,
        owner: 403,
        staff: status,
    }
}

/// The owner and staff; 403 for another customer.
const fn owner_or_staff(status: u16) -> Expect {
    Expect {
        anonymous: 401,
        other: 403,
        owner: status,
        staff: status,
    }
}

impl Expect {
    fn of(self, who: Who) -> u16 {
        match who {
            Who::Anonymous => self.anonymous,
            Who::Other => self.other,
            Who::Owner => self.owner,
            Who::Staff => self.staff,
            Who::Expired | Who::BadSignature => 401,
        }
    }
}

struct Route {
    method: &'static str,
    path: String,
    body: Option<Value>,
    expect: Expect,
}

fn route(method: &'static str, path: String, body: Option<Value>, expect: Expect) -> Route {
    Route {
        method,
        path,
        body,
        expect,
    }
}

impl Route {
    fn request(&self, who: Who) -> TestRequest {
        let mut request = TestRequest::default()
            .method(self.method.parse().unwrap())
            .uri(&self.path);
        if let Some(body) = &self.body {
            let mut body = body.clone();
            // Sign-ups must not collide with each other.
            if self.path == "/customers" && self.method == "POST" {
                body = customer_body(&format!("signup-{who:?}").to_lowercase(), "New");
            }
            request = request.set_json(body);
        }
        request
    }
}

/// Every route, with the mutations that change what others see at the end.
fn routes(shop: &Shop) -> Vec<Route> {
    let Shop {
        owner, disc, order, ..
    } = shop;
    let new_disc = json!({"name": "Blue Train", "artist": "John Coltrane",
                          "year_of_release": 1957, "genre": "Jazz", "quantity": 5});
    let purchase = json!({"customer_id": owner, "disc_id": disc, "quantity": 1});
    vec![
        route("GET", "/health".to_owned(), None, PUBLIC_200),
        route("GET", "/health/ready".to_owned(), None, PUBLIC_200),
        route("GET", "/openapi.json".to_owned(), None, PUBLIC_200),
        route(
            "GET",
            "/docs".to_owned(),
            None,
            Expect {
                anonymous: 308,
                other: 308,
                owner: 308,
                staff: 308,
            },
        ),
        route("GET", "/discs".to_owned(), None, PUBLIC_200),
        route("GET", format!("/discs/{disc}"), None, PUBLIC_200),
        route("POST", "/discs".to_owned(), Some(new_disc), staff_only(201)),
        route(
            "PUT",
            format!("/discs/{disc}"),
            Some(json!({"genre": "Modal Jazz"})),
            staff_only(200),
        ),
        route(
            "PATCH",
            format!("/discs/{disc}"),
            Some(json!({"quantity": 100})),
            staff_only(200),
        ),
        route(
            "POST",
            "/customers".to_owned(),
            Some(json!({})),
            Expect {
                anonymous: 201,
                other: 201,
                owner: 201,
                staff: 201,
            },
        ),
        route("GET", "/customers".to_owned(), None, staff_only(200)),
        route(
            "GET",
            format!("/customers/{owner}"),
            None,
            owner_or_staff(200),
        ),
        route(
            "PUT",
            format!("/customers/{owner}"),
            Some(json!({"phone": "+1 555 0100"})),
            owner_or_staff(200),
        ),
        route(
            "PATCH",
            format!("/customers/{owner}"),
            Some(json!({"name": "Owner Renamed"})),
            owner_or_staff(200),
        ),
        route(
            "POST",
            "/purchase-orders".to_owned(),
            Some(purchase),
            owner_or_staff(201),
        ),
        route(
            "GET",
            "/purchase-orders".to_owned(),
            None,
            Expect {
                anonymous: 401,
                other: 200,
                owner: 200,
                staff: 200,
            },
        ),
        route(
            "GET",
            format!("/purchase-orders?customer_id={owner}"),
            None,
            owner_or_staff(200),
        ),
        route(
            "GET",
            format!("/purchase-orders/{order}"),
            None,
            owner_or_staff(200),
        ),
        route(
            "POST",
            format!("/purchase-orders/{order}/cancel"),
            None,
            owner_or_staff(200),
        ),
        route(
            "GET",
            "/reports/sales?bucket=1m".to_owned(),
            None,
            staff_only(200),
        ),
        route(
            "DELETE",
            format!("/customers/{owner}"),
            None,
            staff_only(204),
        ),
        route("DELETE", format!("/discs/{disc}"), None, staff_only(204)),
    ]
}

#[actix_web::test]
async fn every_route_answers_every_kind_of_caller_as_the_rules_say() {
    let shop = Shop::open().await;
    let routes = routes(&shop);
    for route in &routes {
        for who in EVERYONE {
            let reply = shop.send(who, route.request(who)).await;
            let expected = route.expect.of(who);
            let what = format!("{} {} as {who:?}", route.method, route.path);
            assert_eq!(reply.status.as_u16(), expected, "{what}: {}", reply.body);
            match (expected, who) {
                (401, Who::Anonymous) => {
                    reply.assert_problem(StatusCode::UNAUTHORIZED, "unauthenticated");
                    assert_eq!(reply.header("www-authenticate"), Some(CHALLENGE), "{what}");
                }
                (401, _) => {
                    reply.assert_problem(StatusCode::UNAUTHORIZED, "unauthenticated");
                    assert_eq!(
                        reply.header("www-authenticate"),
                        Some(INVALID_TOKEN),
                        "{what}"
                    );
                }
                (403, _) => {
                    reply.assert_problem(StatusCode::FORBIDDEN, "forbidden");
                    assert!(reply.header("www-authenticate").is_none(), "{what}");
                }
                _ => {}
            }
        }
    }
    // 22 routes × 6 callers, none left out.
    assert_eq!(routes.len(), 22);
}

#[actix_web::test]
async fn a_sign_up_token_lets_the_new_customer_buy_for_itself_right_away() {
    let shop = Shop::open().await;
    let signed_up = shop
        .app
        .send_anonymous(
            TestRequest::post()
                .uri("/customers")
                .set_json(customer_body("newcomer", "Newcomer")),
        )
        .await;
    assert_eq!(signed_up.status, StatusCode::CREATED, "{}", signed_up.body);
    let token = signed_up
        .header("x-access-token")
        .expect("a token")
        .to_owned();
    let me = id(&signed_up.body);

    let bought = shop
        .app
        .send_with(
            TestRequest::post()
                .uri("/purchase-orders")
                .set_json(json!({"customer_id": me, "disc_id": shop.disc, "quantity": 2})),
            &token,
        )
        .await;
    assert_eq!(bought.status, StatusCode::CREATED, "{}", bought.body);
    assert_eq!(bought.body["customer_id"], me.as_str());

    let own = shop
        .app
        .send_with(TestRequest::get().uri(&format!("/customers/{me}")), &token)
        .await;
    assert_eq!(own.status, StatusCode::OK);
    let for_another = shop
        .app
        .send_with(
            TestRequest::post()
                .uri("/purchase-orders")
                .set_json(json!({"customer_id": shop.owner, "disc_id": shop.disc, "quantity": 1})),
            &token,
        )
        .await;
    for_another.assert_problem(StatusCode::FORBIDDEN, "forbidden");

    // Staff registering a customer gets the new customer's token too.
    let by_staff = shop
        .app
        .post("/customers", customer_body("walk-in", "Walk In"))
        .await;
    assert_eq!(by_staff.status, StatusCode::CREATED);
    let walk_in = id(&by_staff.body);
    let token = by_staff
        .header("x-access-token")
        .expect("a token")
        .to_owned();
    let own = shop
        .app
        .send_with(
            TestRequest::get().uri(&format!("/customers/{walk_in}")),
            &token,
        )
        .await;
    assert_eq!(
        own.status,
        StatusCode::OK,
        "a customer token, for that customer"
    );
    let staff_route = shop
        .app
        .send_with(TestRequest::get().uri("/customers"), &token)
        .await;
    staff_route.assert_problem(StatusCode::FORBIDDEN, "forbidden");
}

#[actix_web::test]
async fn a_customers_order_list_is_narrowed_to_its_own_orders() {
    let shop = Shop::open().await;
    let other = json!({"id": shop.other});
    let disc = json!({"id": shop.disc});
    shop.app.place_order(&other, &disc, 3).await;

    let everything = shop.app.get("/purchase-orders").await;
    assert_eq!(everything.body["data"].as_array().unwrap().len(), 2);

    for (customer, expected_quantity) in [(&shop.owner, 1), (&shop.other, 3)] {
        let mine = shop
            .app
            .send_with(
                TestRequest::get().uri("/purchase-orders"),
                &customer_token(customer),
            )
            .await;
        assert_eq!(mine.status, StatusCode::OK);
        let orders = mine.body["data"].as_array().unwrap();
        assert_eq!(orders.len(), 1, "{}", mine.body);
        assert_eq!(orders[0]["customer_id"], customer.as_str());
        assert_eq!(orders[0]["quantity"], expected_quantity);
    }

    // Other filters still apply within its own orders.
    let canceled = shop
        .app
        .send_with(
            TestRequest::get().uri("/purchase-orders?status=canceled"),
            &customer_token(&shop.owner),
        )
        .await;
    assert_eq!(canceled.body["data"], json!([]));
}

#[actix_web::test]
async fn only_staff_may_change_is_active() {
    let shop = Shop::open().await;
    let token = customer_token(&shop.owner);
    let path = format!("/customers/{}", shop.owner);
    for (method, body) in [
        (TestRequest::put(), json!({"is_active": false})),
        (TestRequest::patch(), json!({"is_active": true})),
        (
            TestRequest::patch(),
            json!({"name": "Still Me", "is_active": true}),
        ),
    ] {
        let reply = shop
            .app
            .send_with(method.uri(&path).set_json(body), &token)
            .await;
        reply.assert_problem(StatusCode::FORBIDDEN, "forbidden");
        assert!(
            reply.body["detail"]
                .as_str()
                .unwrap()
                .contains("activate or deactivate"),
            "{}",
            reply.body
        );
    }
    let unchanged = shop.app.get(&path).await;
    assert_eq!(unchanged.body["name"], "Owner", "nothing was applied");
    assert_eq!(unchanged.body["is_active"], true);

    // `null` keeps the value, so it asks for nothing only staff may do.
    let null = shop
        .app
        .send_with(
            TestRequest::patch()
                .uri(&path)
                .set_json(json!({"is_active": null, "name": "Owner Two"})),
            &token,
        )
        .await;
    assert_eq!(null.status, StatusCode::OK, "{}", null.body);

    let by_staff = shop.app.patch(&path, json!({"is_active": false})).await;
    assert_eq!(by_staff.status, StatusCode::OK);
    assert_eq!(by_staff.body["is_active"], false);
}

#[actix_web::test]
async fn a_customer_cannot_tell_unknown_ids_from_other_customers_ones() {
    let shop = Shop::open().await;
    let token = customer_token(&shop.other);

    // Orders: the owner's and an unknown one answer the very same 403.
    let mut answers = Vec::new();
    for order in [&shop.order, UNKNOWN] {
        for request in [
            TestRequest::get().uri(&format!("/purchase-orders/{order}")),
            TestRequest::post().uri(&format!("/purchase-orders/{order}/cancel")),
        ] {
            let reply = shop.app.send_with(request, &token).await;
            reply.assert_problem(StatusCode::FORBIDDEN, "forbidden");
            answers.push(reply.body);
        }
    }
    assert!(
        answers.windows(2).all(|pair| pair[0] == pair[1]),
        "{answers:?}"
    );
    let still_confirmed = shop
        .app
        .get(&format!("/purchase-orders/{}", shop.order))
        .await;
    assert_eq!(still_confirmed.body["status"], "confirmed");

    // Customers: another's and an unknown one, the same 403 too.
    let mut answers = Vec::new();
    for customer in [&shop.owner, UNKNOWN] {
        let reply = shop
            .app
            .send_with(
                TestRequest::get().uri(&format!("/customers/{customer}")),
                &token,
            )
            .await;
        reply.assert_problem(StatusCode::FORBIDDEN, "forbidden");
        answers.push(reply.body);
    }
    assert_eq!(answers[0], answers[1]);

    // Staff, who may see everything, learn that the id is unknown.
    shop.app
        .get(&format!("/purchase-orders/{UNKNOWN}"))
        .await
        .assert_problem(StatusCode::NOT_FOUND, "not_found");
    shop.app
        .get(&format!("/customers/{UNKNOWN}"))
        .await
        .assert_problem(StatusCode::NOT_FOUND, "not_found");
}

#[actix_web::test]
async fn checks_run_in_order_authentication_then_input_then_authorization() {
    let shop = Shop::open().await;
    // Anonymous: 401 before the malformed id or body is even read.
    for request in [
        TestRequest::get().uri("/customers/not-a-uuid"),
        TestRequest::post()
            .uri("/purchase-orders")
            .set_payload("not json"),
        TestRequest::post().uri("/discs").set_json(json!({})),
    ] {
        shop.app
            .send_anonymous(request)
            .await
            .assert_problem(StatusCode::UNAUTHORIZED, "unauthenticated");
    }
    // A customer: a bad input is answered as such, before the 403 it
    // would otherwise get.
    let token = customer_token(&shop.other);
    shop.app
        .send_with(
            TestRequest::post()
                .uri("/purchase-orders")
                .set_payload("not json"),
            &token,
        )
        .await
        .assert_problem(StatusCode::BAD_REQUEST, "malformed_request");
    shop.app
        .send_with(
            TestRequest::post()
                .uri("/purchase-orders")
                .set_json(json!({"customer_id": shop.owner, "quantity": 0})),
            &token,
        )
        .await
        .assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    shop.app
        .send_with(TestRequest::get().uri("/customers/not-a-uuid"), &token)
        .await
        .assert_problem(StatusCode::NOT_FOUND, "not_found");
    shop.app
        .send_with(TestRequest::get().uri("/purchase-orders?limit=-1"), &token)
        .await
        .assert_problem(StatusCode::BAD_REQUEST, "malformed_request");
}

#[actix_web::test]
async fn presented_credentials_are_checked_even_on_public_routes() {
    let shop = Shop::open().await;
    let staff = staff_token();
    let cases = [
        (format!("Bearer {}", expired_token()), Some(INVALID_TOKEN)),
        (format!("Bearer {}", foreign_token()), Some(INVALID_TOKEN)),
        ("Bearer not.a.jwt".to_owned(), Some(INVALID_TOKEN)),
        ("Bearer".to_owned(), Some(INVALID_TOKEN)),
        ("Basic dXNlcjpwYXNz".to_owned(), Some(CHALLENGE)),
        (format!("bearer {staff}"), None),
        (format!("BEARER {staff}"), None),
    ];
    for (credentials, refused_with) in cases {
        for uri in ["/discs", "/health", "/nowhere"] {
            let reply = shop
                .app
                .send_anonymous(
                    TestRequest::get()
                        .uri(uri)
                        .insert_header((AUTHORIZATION, credentials.as_str())),
                )
                .await;
            match refused_with {
                Some(challenge) => {
                    reply.assert_problem(StatusCode::UNAUTHORIZED, "unauthenticated");
                    assert_eq!(reply.header("www-authenticate"), Some(challenge));
                }
                None => assert_ne!(reply.status, StatusCode::UNAUTHORIZED, "{credentials}"),
            }
        }
    }
    let expired = shop
        .app
        .send_with(TestRequest::get().uri("/discs"), &expired_token())
        .await;
    assert!(
        expired.body["detail"].as_str().unwrap().contains("expired"),
        "{}",
        expired.body
    );
}

#[actix_web::test]
async fn with_authentication_disabled_everyone_is_staff() {
    let app =
        TestApp::spawn_with_auth(ConcurrencyStrategy::Pessimistic, Authenticator::Disabled).await;
    let live = app.send_anonymous(TestRequest::get().uri("/health")).await;
    assert_eq!(live.body["auth"], "disabled");

    let created = app
        .send_anonymous(TestRequest::post().uri("/discs").set_json(json!({
            "name": "Blue Train", "artist": "John Coltrane",
            "year_of_release": 1957, "genre": "Jazz", "quantity": 5})))
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let signed_up = app
        .send_anonymous(
            TestRequest::post()
                .uri("/customers")
                .set_json(customer_body("ana", "Ana")),
        )
        .await;
    assert_eq!(signed_up.status, StatusCode::CREATED);
    assert!(
        signed_up.header("x-access-token").is_none(),
        "no keys, no token"
    );
    // Even garbage credentials are not looked at.
    let listed = app
        .send_anonymous(bearer(TestRequest::get().uri("/customers"), "garbage"))
        .await;
    assert_eq!(listed.status, StatusCode::OK);
    assert_eq!(listed.body["data"].as_array().unwrap().len(), 1);
}

#[actix_web::test]
async fn logs_keep_the_caller_id_but_never_the_token_or_the_query() {
    let shop = Shop::open().await;
    let token = customer_token(&shop.owner);
    let capture = LogCapture::start();
    let listed = shop
        .app
        .send_with(
            TestRequest::get().uri("/purchase-orders?status=confirmed&from=2020-01-01"),
            &token,
        )
        .await;
    let refused = shop
        .app
        .send_with(
            TestRequest::get().uri("/customers?email=owner@example.com&document=doc-owner"),
            &token,
        )
        .await;
    let expired = expired_token();
    shop.app
        .send_with(TestRequest::get().uri("/discs?name=secret-query"), &expired)
        .await;
    let logged = capture.finish();
    assert_eq!(listed.status, StatusCode::OK);
    assert_eq!(refused.status, StatusCode::FORBIDDEN);

    assert!(logged.contains("request handled"), "{logged}");
    assert!(
        logged.contains(&format!("caller=customer:{}", shop.owner)),
        "{logged}"
    );
    assert!(logged.contains(r#"route="/customers""#), "{logged}");
    for secret in [
        token.as_str(),
        expired.as_str(),
        "owner@example.com",
        "doc-owner",
        "secret-query",
        "status=confirmed",
        "Bearer",
    ] {
        assert!(!logged.contains(secret), "{secret} was logged:\n{logged}");
    }
}
