//! The simulator framework: one axum app per simulator on 127.0.0.1 and a random port, behind a
//! small HTTP/1 connection layer that injects the transport faults (latency, resets, 5xx, 429,
//! truncated bodies), counts requests per route and asks the simulator for auth and rate limits.

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, Request, StatusCode, header, request::Parts};
use axum::response::Response;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::{JoinHandle, JoinSet};
use tower_service::Service;

use crate::faults::{Fault, Faults};
use crate::timeline::Mutation;
use crate::truth::GroundTruth;

/// The default simulator clock at start: 2025-06-01T00:00:00Z. Fixed, so data and pages are the
/// same on every run for a seed.
pub const DEFAULT_NOW: i64 = 1_748_736_000;

/// Seconds the clock advances per [`Sim::mutate`].
pub const MUTATION_STEP: i64 = 3_600;

/// The options every simulator shares.
#[derive(Clone, Debug, PartialEq)]
pub struct SimConfig {
    /// Seed of all generated data and fault decisions.
    pub seed: u64,
    /// Size of the main stream (e.g. tickets); other streams are sized from it.
    pub records: usize,
    /// The simulator clock at start (Unix seconds); data lies before it.
    pub now: i64,
    /// Faults of every route without its own entry in `route_faults`.
    pub faults: Faults,
    /// Faults per route name.
    pub route_faults: BTreeMap<String, Faults>,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            seed: 1,
            records: 1_000,
            now: DEFAULT_NOW,
            faults: Faults::default(),
            route_faults: BTreeMap::new(),
        }
    }
}

/// Run-time control shared by the framework and a simulator: seed, clock, faults, counters.
#[derive(Debug)]
pub struct Control {
    seed: u64,
    clock: AtomicI64,
    defaults: RwLock<Faults>,
    route_faults: RwLock<HashMap<String, Faults>>,
    counters: Mutex<HashMap<String, u64>>,
    total: AtomicU64,
}

impl Control {
    /// Control state from the shared options.
    pub fn new(config: &SimConfig) -> Self {
        Control {
            seed: config.seed,
            clock: AtomicI64::new(config.now),
            defaults: RwLock::new(config.faults.clone()),
            route_faults: RwLock::new(config.route_faults.clone().into_iter().collect()),
            counters: Mutex::new(HashMap::new()),
            total: AtomicU64::new(0),
        }
    }

    /// The seed.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The simulator clock (Unix seconds).
    pub fn now(&self) -> i64 {
        self.clock.load(Ordering::SeqCst)
    }

    /// Advances the clock by `secs`; returns (old, new).
    pub fn advance(&self, secs: i64) -> (i64, i64) {
        let old = self.clock.fetch_add(secs, Ordering::SeqCst);
        (old, old + secs)
    }

    /// The faults in force on `route`.
    pub fn faults(&self, route: &str) -> Faults {
        let routes = self.route_faults.read().unwrap_or_else(|e| e.into_inner());
        match routes.get(route) {
            Some(f) => f.clone(),
            None => self.defaults.read().unwrap_or_else(|e| e.into_inner()).clone(),
        }
    }

    /// Sets the faults of one route.
    pub fn set_faults(&self, route: &str, faults: Faults) {
        self.route_faults.write().unwrap_or_else(|e| e.into_inner()).insert(route.to_owned(), faults);
    }

    /// Sets the faults of every route (dropping per-route settings).
    pub fn set_all_faults(&self, faults: Faults) {
        self.route_faults.write().unwrap_or_else(|e| e.into_inner()).clear();
        *self.defaults.write().unwrap_or_else(|e| e.into_inner()) = faults;
    }

    /// Requests received on `route` since start or the last reset.
    pub fn requests(&self, route: &str) -> u64 {
        self.counters.lock().unwrap_or_else(|e| e.into_inner()).get(route).copied().unwrap_or(0)
    }

    /// Requests received on all routes since start or the last reset.
    pub fn total_requests(&self) -> u64 {
        self.total.load(Ordering::SeqCst)
    }

    /// Zeroes the counters; fault sequences restart too (they follow the per-route count).
    pub fn reset_requests(&self) {
        self.counters.lock().unwrap_or_else(|e| e.into_inner()).clear();
        self.total.store(0, Ordering::SeqCst);
    }

    /// Counts a request; returns its 0-based sequence number on the route.
    fn record(&self, route: &str) -> u64 {
        self.total.fetch_add(1, Ordering::SeqCst);
        let mut counters = self.counters.lock().unwrap_or_else(|e| e.into_inner());
        let n = counters.entry(route.to_owned()).or_insert(0);
        *n += 1;
        *n - 1
    }
}

/// What the framework gives a simulator's handlers: the control state, the simulator, its URL.
#[derive(Debug)]
pub struct SimState<S> {
    /// Seed, clock, faults and counters.
    pub control: Control,
    /// The simulator.
    pub sim: S,
    /// `http://127.0.0.1:PORT`.
    pub base_url: String,
}

/// A vendor API simulator plugged into the framework.
pub trait Simulator: Send + Sync + Sized + 'static {
    /// The simulator's options.
    type Options: Send + 'static;
    /// Registry name (e.g. `"zendesk"`).
    const NAME: &'static str;
    /// Route names, for fault configuration and request counts.
    const ROUTES: &'static [&'static str];

    /// The shared part of the options.
    fn config(options: &Self::Options) -> &SimConfig;
    /// Builds the simulator (data is generated lazily, so this is cheap).
    fn build(options: Self::Options, control: &Control) -> Self;
    /// The route a request path belongs to (`None`: unknown path, counted as `"other"`).
    fn route_of(path: &str) -> Option<&'static str>;
    /// The axum app.
    fn router(state: Arc<SimState<Self>>) -> Router;
    /// Checks credentials; returns the account key or the vendor's rejection.
    fn authenticate(&self, parts: &Parts) -> Result<String, Box<Response>>;
    /// Counts the request against the vendor's rate limits: the headers to add to the response,
    /// or the vendor's 429. `faults` tells whether a 429 carries `Retry-After`.
    fn admit(&self, route: &'static str, account: &str, faults: &Faults) -> Result<HeaderMap, Box<Response>>;
    /// Rate-limit headers for responses that were not admitted (faults, auth failures).
    fn rate_headers(&self) -> HeaderMap;
    /// The vendor's response for an error status (401, 403, 5xx, ...).
    fn error_response(&self, status: StatusCode) -> Response;
    /// The vendor's 429, with `Retry-After` when given.
    fn throttle_response(&self, retry_after: Option<u64>) -> Response;
    /// What a correct connector must have stored by now.
    fn ground_truth(&self, control: &Control) -> GroundTruth;
    /// Applies changes (and advances the clock).
    fn mutate(&self, control: &Control, mutation: Mutation);
}

/// A running simulator. Stops on drop or [`Sim::shutdown`].
pub struct Sim<S: Simulator> {
    state: Arc<SimState<S>>,
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl<S: Simulator> std::fmt::Debug for Sim<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sim").field("name", &S::NAME).field("addr", &self.addr).finish()
    }
}

impl<S: Simulator> Sim<S> {
    /// Binds 127.0.0.1 on a random port and serves until dropped or shut down.
    pub async fn start(options: S::Options) -> io::Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let control = Control::new(S::config(&options));
        let sim = S::build(options, &control);
        let state = Arc::new(SimState { control, sim, base_url: format!("http://{addr}") });
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(serve(listener, state.clone(), stopped));
        Ok(Sim { state, addr, stop: Some(stop), task: Some(task) })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        self.state.base_url.clone()
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The simulator itself, for vendor-specific calls.
    pub fn simulator(&self) -> &S {
        &self.state.sim
    }

    /// Seed, clock, faults and counters.
    pub fn control(&self) -> &Control {
        &self.state.control
    }

    /// Sets the faults of one route at run time.
    pub fn set_faults(&self, route: &str, faults: Faults) {
        self.state.control.set_faults(route, faults);
    }

    /// Sets the faults of every route at run time.
    pub fn set_all_faults(&self, faults: Faults) {
        self.state.control.set_all_faults(faults);
    }

    /// Requests received on `route` since start or the last reset.
    pub fn requests(&self, route: &str) -> u64 {
        self.state.control.requests(route)
    }

    /// Requests received on all routes since start or the last reset.
    pub fn total_requests(&self) -> u64 {
        self.state.control.total_requests()
    }

    /// Zeroes the request counters.
    pub fn reset_requests(&self) {
        self.state.control.reset_requests();
    }

    /// The simulator clock (Unix seconds).
    pub fn now(&self) -> i64 {
        self.state.control.now()
    }

    /// What a correct connector must have stored by now.
    pub fn ground_truth(&self) -> GroundTruth {
        self.state.sim.ground_truth(&self.state.control)
    }

    /// Applies changes deterministically and advances the clock by [`MUTATION_STEP`].
    pub fn mutate(&self, mutation: Mutation) {
        self.state.sim.mutate(&self.state.control, mutation);
    }

    /// Stops accepting, closes every connection and waits for the server task.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl<S: Simulator> Drop for Sim<S> {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Accepts connections until told to stop; dropping the `JoinSet` closes open connections.
async fn serve<S: Simulator>(
    listener: TcpListener,
    state: Arc<SimState<S>>,
    mut stop: oneshot::Receiver<()>,
) {
    let router = S::router(state.clone());
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            _ = &mut stop => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let _ = stream.set_nodelay(true);
                    let state = state.clone();
                    let router = router.clone();
                    connections.spawn(async move {
                        let service = hyper::service::service_fn(move |req| {
                            handle(state.clone(), router.clone(), req)
                        });
                        let conn = hyper::server::conn::http1::Builder::new()
                            .serve_connection(TokioIo::new(stream), service);
                        if let Err(e) = conn.await {
                            tracing::debug!(error = %e, "sandbox connection closed");
                        }
                    });
                }
                Err(e) => {
                    tracing::warn!(error = %e, "sandbox accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

/// Returned by the service to make hyper drop the connection without writing a response.
#[derive(Debug)]
struct ResetConnection;

impl std::fmt::Display for ResetConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("injected connection reset")
    }
}

impl std::error::Error for ResetConnection {}

async fn handle<S: Simulator>(
    state: Arc<SimState<S>>,
    mut router: Router,
    req: Request<Incoming>,
) -> Result<Response, ResetConnection> {
    let route = S::route_of(req.uri().path()).unwrap_or("other");
    let control = &state.control;
    let n = control.record(route);
    let faults = control.faults(route);
    if !faults.latency.is_zero() {
        tokio::time::sleep(faults.latency).await;
    }
    let fault = faults.decide(control.seed(), route, n);
    let sim = &state.sim;
    let refuse = |mut resp: Response| {
        resp.headers_mut().extend(sim.rate_headers());
        Ok(resp)
    };
    match fault {
        Fault::Reset => return Err(ResetConnection),
        Fault::ServerError(code) => {
            return refuse(
                sim.error_response(StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)),
            );
        }
        Fault::Throttle => return refuse(sim.throttle_response(faults.throttle_retry_after)),
        Fault::None | Fault::Truncate => {}
    }
    if faults.fail_auth {
        return refuse(sim.error_response(StatusCode::UNAUTHORIZED));
    }
    if let Some(code) = faults.status_override {
        return refuse(sim.error_response(StatusCode::from_u16(code).unwrap_or(StatusCode::FORBIDDEN)));
    }
    let (parts, body) = req.into_parts();
    let account = match sim.authenticate(&parts) {
        Ok(account) => account,
        Err(resp) => return refuse(*resp),
    };
    let headers = match sim.admit(route, &account, &faults) {
        Ok(headers) => headers,
        Err(resp) => return Ok(*resp),
    };
    // A bug in a handler must not take the connection down with it: answer 500 instead.
    let call = std::panic::AssertUnwindSafe(router.call(Request::from_parts(parts, body)));
    let mut resp = match futures::FutureExt::catch_unwind(call).await {
        Ok(Ok(resp)) => resp,
        Ok(Err(never)) => match never {},
        Err(_) => {
            tracing::error!(route, "simulator handler panicked");
            sim.error_response(StatusCode::INTERNAL_SERVER_ERROR)
        }
    };
    resp.headers_mut().extend(headers);
    if fault == Fault::Truncate {
        let (mut parts, body) = resp.into_parts();
        let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap_or_default();
        let cut = bytes.slice(..bytes.len() / 2);
        parts.headers.insert(header::CONTENT_LENGTH, HeaderValue::from(cut.len()));
        resp = Response::from_parts(parts, Body::from(cut));
    }
    Ok(resp)
}
