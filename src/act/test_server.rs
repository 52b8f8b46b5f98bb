//! A real HTTP peer for the notifier tests: an axum server on 127.0.0.1:0 that hands every
//! request it receives to the test through a channel (so tests await requests instead of
//! sleeping), answers with scripted statuses (an error one with a body that says so), and can hold its answers until the test
//! releases them (to fill queues or stall a shutdown deterministically).

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::Router;
use reqwest::Url;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use tokio::sync::{mpsc, Semaphore};

/// One request as received.
#[derive(Debug, Clone)]
pub struct Received {
    /// Path and query.
    pub uri: String,
    /// Headers.
    pub headers: HeaderMap,
    /// The exact body bytes.
    pub body: Vec<u8>,
}

impl Received {
    /// A header as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("the body is JSON")
    }
}

struct Shared {
    tx: mpsc::UnboundedSender<Received>,
    script: Mutex<VecDeque<u16>>,
    gate: Option<Semaphore>,
}

/// The server and the test's ends of it.
pub struct TestServer {
    /// Its base URL (`http://127.0.0.1:PORT/`).
    pub url: Url,
    /// Every request, in arrival order.
    pub requests: mpsc::UnboundedReceiver<Received>,
    shared: Arc<Shared>,
}

async fn handle(
    State(s): State<Arc<Shared>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, String) {
    let _ = s.tx.send(Received {
        uri: uri.to_string(),
        headers,
        body: body.to_vec(),
    });
    if let Some(gate) = &s.gate {
        if let Ok(p) = gate.acquire().await {
            p.forget();
        }
    }
    let code = s
        .script
        .lock()
        .expect("script lock")
        .pop_front()
        .unwrap_or(200);
    // An error answer says why in its body, as real receivers do.
    let why = if code < 300 {
        String::new()
    } else {
        format!("test server:\n  scripted HTTP {code}\n")
    };
    (StatusCode::from_u16(code).expect("a valid status"), why)
}

impl TestServer {
    /// A server that answers 200 at once.
    pub async fn start() -> TestServer {
        TestServer::build(false).await
    }

    /// A server that answers only as the test [`TestServer::release`]s answers.
    pub async fn gated() -> TestServer {
        TestServer::build(true).await
    }

    async fn build(gated: bool) -> TestServer {
        let (tx, requests) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            tx,
            script: Mutex::new(VecDeque::new()),
            gate: gated.then(|| Semaphore::new(0)),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a loopback port");
        let addr = listener.local_addr().expect("bound address");
        let app = Router::new().fallback(handle).with_state(shared.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        TestServer {
            url: Url::parse(&format!("http://{addr}/")).expect("a valid URL"),
            requests,
            shared,
        }
    }

    /// The next answers' statuses, in order (200 after them).
    pub fn script(&self, statuses: &[u16]) {
        self.shared
            .script
            .lock()
            .expect("script lock")
            .extend(statuses);
    }

    /// Lets `n` held answers go.
    pub fn release(&self, n: usize) {
        if let Some(g) = &self.shared.gate {
            g.add_permits(n);
        }
    }

    /// The next request.
    pub async fn next(&mut self) -> Received {
        self.requests.recv().await.expect("the server is running")
    }

    /// A request that arrived already, if any (after the sender is shut down, nothing more
    /// can arrive: this tells what was sent, without waiting).
    pub fn try_next(&mut self) -> Option<Received> {
        self.requests.try_recv().ok()
    }
}
