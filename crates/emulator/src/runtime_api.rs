//! The Lambda Runtime API a `bootstrap` polls: one long poll hands out the next event, the function
//! posts its answer (or error) back, and whoever queued the event receives it.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use std::sync::Arc;
use tokio::sync::{Notify, oneshot};

use crate::INTEGRATION_TIMEOUT;

struct Invocation {
    id: String,
    event: Value,
}

/// The function's answer: its response document, or the error it reported.
pub type Outcome = Result<Value, Value>;

/// Events waiting for the function, and the callers waiting for its answers.
#[derive(Default)]
pub struct Queue {
    pending: Mutex<VecDeque<Invocation>>,
    arrived: Notify,
    waiting: Mutex<HashMap<String, oneshot::Sender<Outcome>>>,
    invocations: AtomicU64,
    /// The last events handed to the function, by their `requestContext.requestId`, once asked
    /// to keep them ([`Queue::keep_recent_events`]).
    recent: Mutex<VecDeque<(String, Value)>>,
    keep_recent: std::sync::atomic::AtomicBool,
}

/// Events kept for [`Queue::recent_event`].
const RECENT_EVENTS: usize = 50;
/// The most of an event's body kept with it (bytes of its text; a larger body is cut, and the
/// event says so in `bodyCut`).
const RECENT_BODY: usize = 64 * 1024;

impl Queue {
    /// Queues `event` for the function; the receiver gets its answer.
    pub fn enqueue(&self, event: Value) -> (String, oneshot::Receiver<Outcome>) {
        if self.keep_recent.load(Ordering::Relaxed)
            && let Some(request_id) = event
                .pointer("/requestContext/requestId")
                .and_then(Value::as_str)
        {
            let mut kept = event.clone();
            if let Some(Value::String(body)) = kept.get_mut("body")
                && body.len() > RECENT_BODY
            {
                let mut end = RECENT_BODY;
                while !body.is_char_boundary(end) {
                    end -= 1;
                }
                body.truncate(end);
                kept["bodyCut"] = Value::Bool(true);
            }
            let mut recent = lock(&self.recent);
            if recent.len() == RECENT_EVENTS {
                recent.pop_front();
            }
            recent.push_back((request_id.to_owned(), kept));
        }
        let id = uuid::Uuid::new_v4().to_string();
        let (answer, wait) = oneshot::channel();
        lock(&self.waiting).insert(id.clone(), answer);
        lock(&self.pending).push_back(Invocation {
            id: id.clone(),
            event,
        });
        self.arrived.notify_one();
        (id, wait)
    }

    /// Stops waiting for `id` (the caller gave up).
    pub fn forget(&self, id: &str) {
        lock(&self.waiting).remove(id);
    }

    /// From now on, keeps the last 50 events (bodies cut at 64 KiB) for [`Queue::recent_event`].
    pub fn keep_recent_events(&self) {
        self.keep_recent.store(true, Ordering::Relaxed);
    }

    /// The event of the request `request_id` (its `apigw-requestid`), if among the last 50 kept.
    pub fn recent_event(&self, request_id: &str) -> Option<Value> {
        lock(&self.recent)
            .iter()
            .rev()
            .find(|(id, _)| id == request_id)
            .map(|(_, event)| event.clone())
    }

    /// Invocations the function has answered so far.
    pub fn answered(&self) -> u64 {
        self.invocations.load(Ordering::SeqCst)
    }
}

/// The Runtime API's routes.
pub fn router(queue: Arc<Queue>) -> Router {
    Router::new()
        .route("/2018-06-01/runtime/invocation/next", get(next_invocation))
        .route(
            "/2018-06-01/runtime/invocation/{id}/response",
            post(invocation_response),
        )
        .route(
            "/2018-06-01/runtime/invocation/{id}/error",
            post(invocation_error),
        )
        .route("/2018-06-01/runtime/init/error", post(init_error))
        .with_state(queue)
}

async fn next_invocation(State(queue): State<Arc<Queue>>) -> Response {
    loop {
        let arrived = queue.arrived.notified();
        if let Some(invocation) = lock(&queue.pending).pop_front() {
            let deadline = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default()
                + INTEGRATION_TIMEOUT;
            let mut response = invocation.event.to_string().into_response();
            let headers = response.headers_mut();
            let mut set = |name: &'static str, value: String| {
                if let Ok(value) = HeaderValue::from_str(&value) {
                    headers.insert(name, value);
                }
            };
            set("lambda-runtime-aws-request-id", invocation.id);
            set(
                "lambda-runtime-deadline-ms",
                deadline.as_millis().to_string(),
            );
            set(
                "lambda-runtime-invoked-function-arn",
                "arn:aws:lambda:us-east-1:000000000000:function:portcullis-local".into(),
            );
            set(
                "lambda-runtime-trace-id",
                "Root=1-00000000-000000000000000000000000;Sampled=0".into(),
            );
            set("content-type", "application/json".into());
            return response;
        }
        arrived.await;
    }
}

async fn invocation_response(
    State(queue): State<Arc<Queue>>,
    Path(id): Path<String>,
    body: Bytes,
) -> StatusCode {
    settle(
        &queue,
        &id,
        serde_json::from_slice(&body).map_err(|e| json!({ "errorMessage": e.to_string() })),
    )
}

async fn invocation_error(
    State(queue): State<Arc<Queue>>,
    Path(id): Path<String>,
    body: Bytes,
) -> StatusCode {
    let error = serde_json::from_slice(&body)
        .unwrap_or_else(|_| json!({ "errorMessage": "unreadable error" }));
    settle(&queue, &id, Err(error))
}

async fn init_error(body: Bytes) -> StatusCode {
    tracing::error!(error = %String::from_utf8_lossy(&body), "the function failed to initialise");
    StatusCode::ACCEPTED
}

fn settle(queue: &Queue, id: &str, outcome: Result<Value, Value>) -> StatusCode {
    match lock(&queue.waiting).remove(id) {
        Some(waiter) => {
            queue.invocations.fetch_add(1, Ordering::SeqCst);
            let _ = waiter.send(outcome);
            StatusCode::ACCEPTED
        }
        None => StatusCode::NOT_FOUND,
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
