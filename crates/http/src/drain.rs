//! Graceful shutdown: counting the requests in flight, and refusing new
//! ones once a stop was asked for, so the server can wait for the last
//! request before its workers go away.
//!
//! Waiting for actix's own graceful stop is not enough: each worker stops
//! as soon as its own connections are done, and with it the Tokio runtime
//! that drives the pooled database connections it opened and the batched
//! strategy's batch tasks it spawned — which requests still running on
//! another worker may be using. So the workers are stopped only once no
//! request is in flight anywhere.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use recordshop_domain::StoreError;
use tokio::sync::Notify;

use crate::error::ApiError;
use crate::limits;

/// Shared by the middleware of every worker and by the shutdown path.
#[derive(Clone, Default)]
pub struct Drain(Arc<State>);

#[derive(Default)]
struct State {
    draining: AtomicBool,
    in_flight: AtomicUsize,
    /// Woken each time the last request in flight finishes.
    idle: Notify,
}

impl Drain {
    /// From now on, new requests are refused with 503 `unavailable` and
    /// every connection closes after its current response.
    pub fn begin(&self) {
        self.0.draining.store(true, Ordering::SeqCst);
    }

    /// Whether [`Drain::begin`] was called.
    #[must_use]
    pub fn is_draining(&self) -> bool {
        self.0.draining.load(Ordering::SeqCst)
    }

    /// Requests that entered the app and have not finished.
    #[must_use]
    pub fn in_flight(&self) -> usize {
        self.0.in_flight.load(Ordering::SeqCst)
    }

    /// Waits until no request is in flight, for `within` at most. Returns
    /// whether that happened in time.
    pub async fn settled(&self, within: Duration) -> bool {
        let wait = async {
            loop {
                // Registered before the check, so a finish between the check
                // and the wait still wakes us.
                let idle = self.0.idle.notified();
                if self.in_flight() == 0 {
                    return;
                }
                idle.await;
            }
        };
        tokio::time::timeout(within, wait).await.is_ok()
    }

    fn enter(&self) -> InFlight {
        self.0.in_flight.fetch_add(1, Ordering::SeqCst);
        InFlight(self.clone())
    }
}

/// One request in flight; dropped when its response is ready or when the
/// client went away and actix dropped the handler.
struct InFlight(Drain);

impl Drop for InFlight {
    fn drop(&mut self) {
        let state = &(self.0).0;
        if state.in_flight.fetch_sub(1, Ordering::SeqCst) == 1 {
            state.idle.notify_waiters();
        }
    }
}

/// Counts the request in flight; while draining, refuses it instead (the
/// service may be gone any moment: the client should retry elsewhere) and
/// closes the connection after any response, so kept-alive clients
/// reconnect. Mount it outermost with
/// [`from_fn`](actix_web::middleware::from_fn), with the [`Drain`] in the
/// app data; without it, requests pass untouched.
pub(crate) async fn middleware(
    request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let Some(drain) = request.app_data::<Drain>().cloned() else {
        return next
            .call(request)
            .await
            .map(ServiceResponse::map_into_left_body);
    };
    if drain.is_draining() {
        let error = ApiError::Store(StoreError::Unavailable(anyhow::anyhow!(
            "the server is shutting down"
        )));
        return Ok(limits::refuse(request, &error));
    }
    let in_flight = drain.enter();
    let mut response = next.call(request).await?;
    drop(in_flight);
    if drain.is_draining() {
        limits::close_after(&mut response);
    }
    Ok(response.map_into_left_body())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn settles_at_once_when_idle() {
        let drain = Drain::default();
        assert!(drain.settled(Duration::from_millis(10)).await);
    }

    #[tokio::test]
    async fn settles_when_the_last_request_finishes() {
        let drain = Drain::default();
        let first = drain.enter();
        let second = drain.enter();
        assert_eq!(drain.in_flight(), 2);
        assert!(!drain.settled(Duration::from_millis(20)).await);
        let waiter = {
            let drain = drain.clone();
            tokio::spawn(async move { drain.settled(Duration::from_secs(5)).await })
        };
        drop(first);
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiter.is_finished());
        drop(second);
        assert!(waiter.await.unwrap());
        assert_eq!(drain.in_flight(), 0);
    }
}
