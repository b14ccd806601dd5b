//! Limits on what one request may make the server hold: the size of its
//! head, how long its body may take, and compressed bodies, which are
//! refused. Each answers before the request reaches a handler, with the
//! refusal shared with the drain.
//!
//! # Compressed request bodies
//! A body sent with a `Content-Encoding` other than `identity` is refused
//! with 415 `unsupported_encoding` before a byte of it is read. actix's
//! compression features, which compress responses for clients that ask,
//! would otherwise inflate request bodies before the 64 KiB limit applies:
//! 61 KB of gzip carrying 60 MB of zeros took the server's memory from 18
//! to 70 MB per request. No client of this API needs to compress a body of
//! at most 64 KiB, so refusing costs nothing and leaves nothing to bound.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use crate::error::ApiError;
use crate::request_id::{self, REQUEST_ID_HEADER};
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::error::PayloadError;
use actix_web::http::ConnectionType;
use actix_web::middleware::Next;
use actix_web::web::Bytes;
use actix_web::{HttpMessage, ResponseError};
use futures_util::Stream;
use tokio::time::Sleep;

/// Largest request head (target and headers) accepted, in bytes. actix
/// itself only refuses heads over 128 KiB (with a bare 431); no client of
/// this API needs more than a few hundred bytes, and a bearer token under
/// 1 KiB, so 16 KiB leaves ample room while keeping what a connection can
/// make the server hold small.
pub const HEAD_LIMIT: usize = 16 * 1024;

/// How long a client has to send a request's body once its head is in.
/// actix bounds the head (`client_request_timeout`) but not the body, so a
/// client trickling a body could hold a connection and a request slot
/// forever; 10 s is ample for the 64 KiB a body may hold.
pub const BODY_TIMEOUT: Duration = Duration::from_secs(10);

/// Ends a request body that takes longer than [`BODY_TIMEOUT`] with an
/// error, which the JSON extractor answers with 400 `malformed_request`.
/// Mount it with [`from_fn`](actix_web::middleware::from_fn).
pub(crate) async fn body_deadline(
    mut request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    match request.take_payload() {
        Payload::None => {}
        payload => request.set_payload(Payload::Stream {
            payload: Box::pin(Deadline {
                body: payload,
                expiry: Box::pin(tokio::time::sleep(BODY_TIMEOUT)),
                expired: false,
            }),
        }),
    }
    next.call(request).await
}

/// A body stream that fails once its deadline passes.
struct Deadline {
    body: Payload,
    expiry: Pin<Box<Sleep>>,
    expired: bool,
}

impl Stream for Deadline {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.expired {
            return Poll::Ready(None);
        }
        if let Poll::Ready(item) = Pin::new(&mut self.body).poll_next(cx) {
            return Poll::Ready(item);
        }
        if self.expiry.as_mut().poll(cx).is_ready() {
            self.expired = true;
            return Poll::Ready(Some(Err(PayloadError::Io(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("the body took longer than {} s", BODY_TIMEOUT.as_secs()),
            )))));
        }
        Poll::Pending
    }
}

/// Refuses a request whose body is compressed (any `Content-Encoding` but
/// `identity`) with 415 `unsupported_encoding`, and closes its connection:
/// the body is never read, so never inflated.
pub(crate) async fn refuse_encoded_bodies(
    request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let encoding = request
        .headers()
        .get_all(actix_web::http::header::CONTENT_ENCODING)
        .map(|value| String::from_utf8_lossy(value.as_bytes()).trim().to_owned())
        .find(|value| !value.eq_ignore_ascii_case("identity"));
    if let Some(encoding) = encoding {
        let shown: String = encoding.chars().take(32).collect();
        return Ok(refuse(request, &ApiError::UnsupportedEncoding(shown)));
    }
    next.call(request)
        .await
        .map(ServiceResponse::map_into_left_body)
}

/// Refuses requests whose head exceeds [`HEAD_LIMIT`] with 400
/// `malformed_request`, and closes their connection. Mount it with
/// [`from_fn`](actix_web::middleware::from_fn).
pub(crate) async fn head_limit(
    request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let size = head_size(&request);
    if size > HEAD_LIMIT {
        let error = ApiError::Malformed(format!(
            "the request line and headers take {size} bytes; at most {HEAD_LIMIT} are accepted"
        ));
        return Ok(refuse(request, &error));
    }
    next.call(request)
        .await
        .map(ServiceResponse::map_into_left_body)
}

/// The bytes of the request's target and headers, as sent (each header as
/// `name: value\r\n`).
fn head_size(request: &ServiceRequest) -> usize {
    let target = request
        .uri()
        .path_and_query()
        .map_or(0, |target| target.as_str().len());
    request
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum::<usize>()
        + target
}

/// `error` as the answer to `request`, closing the connection. These
/// answers never pass the request-id middleware, which sits inside the
/// app: the client's id is echoed (or a fresh one made up) here.
pub(crate) fn refuse<B>(
    request: ServiceRequest,
    error: &ApiError,
) -> ServiceResponse<EitherBody<B>> {
    let id = request_id::id_for(&request);
    let mut response = request
        .into_response(error.error_response())
        .map_into_right_body();
    response.headers_mut().insert(REQUEST_ID_HEADER, id);
    close_after(&mut response);
    response
}

/// Closes the connection once `response` is written.
pub(crate) fn close_after<B>(response: &mut ServiceResponse<B>) {
    response
        .response_mut()
        .head_mut()
        .set_connection_type(ConnectionType::Close);
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;

    #[test]
    fn counts_the_target_and_every_header() {
        let request = TestRequest::get()
            .uri("/discs?genre=rock")
            .insert_header(("x-a", "12345"))
            .to_srv_request();
        assert_eq!(head_size(&request), "/discs?genre=rock".len() + 3 + 5 + 4);
    }
}
