//! HEAD wherever GET works (RFC 9110, 9.3.2).
//!
//! A HEAD request is routed as a GET; actix's HTTP/1 codec remembers that
//! the request was HEAD and sends the GET answer's status and headers,
//! `Content-Length` included, without its body. So no route declares HEAD
//! and none can forget it; `Allow` lists HEAD beside GET (see `error.rs`).

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::middleware::Next;

/// Routes HEAD as GET; mount it inside the request-id middleware, so logs
/// show the method the client sent.
pub(crate) async fn as_get(
    mut request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    if request.method() == Method::HEAD {
        request.head_mut().method = Method::GET;
    }
    next.call(request).await
}
