//! `engage serve` and `engage run --serve` end to end, on the store `engage demo` builds:
//!
//! - `dashboard_in_headless_chromium`: Debian's Chromium, driven over the W3C WebDriver
//!   protocol by chromedriver, opens the overview: one SVG chart per headline metric with a
//!   point per bucket that has a value, every number on the page equal to the JSON API's for
//!   the same query, no horizontal scrolling on a phone-sized window; then clicks a customer in
//!   the list and lands on their page, whose score breakdown and timeline equal the API's.
//!   Screenshots go to `target/test-artifacts/`. Without Chromium the test is skipped, unless
//!   `ENGAGE_REQUIRE_CHROMIUM=1` (CI), where it fails.
//! - `a_token_guards_every_request_and_secrets_stay_out`: 401 without the token, 200 with it;
//!   no response holds a connection's secret.
//! - `a_public_address_without_a_token_is_refused`: `serve` and `run --serve` on 0.0.0.0.
//! - `run_serves_the_api_and_prometheus_in_one_process`.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{Value, json};

const RECORDS: usize = 300;
const TOKEN: &str = "serve-test-token-0123456789abcdef";

/// The demo's folder (engage.toml, engage.db, secrets/), built once for every test.
fn demo() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| {
        let tmp = tempfile::tempdir().unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_engage"))
            .args(["demo", "--dir", tmp.path().to_str().unwrap(), "--records", &RECORDS.to_string()])
            .env_remove("ENGAGE_CONFIG")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(out.status.success(), "engage demo: {}", String::from_utf8_lossy(&out.stderr));
        tmp
    })
    .path()
}

/// A running `engage` serving HTTP; killed when dropped.
struct Server {
    child: Child,
    addr: SocketAddr,
    log: std::sync::Arc<std::sync::Mutex<String>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

impl Server {
    /// Starts `engage --config DEMO ARGS` and waits for the line naming the bound address.
    fn start(args: &[&str], token: Option<&str>) -> Server {
        Server::start_with(&demo().join("engage.toml"), args, token)
    }

    /// Starts `engage --config CONFIG ARGS` and waits for the line naming the bound address.
    fn start_with(config: &Path, args: &[&str], token: Option<&str>) -> Server {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_engage"));
        cmd.arg("--config").arg(config).args(args);
        cmd.env_remove("ENGAGE_CONFIG").env_remove("ENGAGE_API_TOKEN").env("ENGAGE_LOG", "warn");
        if let Some(t) = token {
            cmd.env("ENGAGE_API_TOKEN", t);
        }
        let mut child =
            cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let log = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                sink.lock().unwrap().push_str(&format!("{line}\n"));
                if let Some(rest) = line.split("on http://").nth(1) {
                    let addr = rest.split('/').next().unwrap_or_default().to_owned();
                    tx.send(addr).ok();
                }
            }
        });
        let addr = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(addr) => addr.parse().unwrap(),
            Err(_) => panic!("engage {args:?} did not start serving:\n{}", log.lock().unwrap()),
        };
        Server { child, addr, log }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

async fn get(url: &str, token: Option<&str>) -> (u16, String) {
    let mut request = reqwest::Client::new().get(url);
    if let Some(t) = token {
        request = request.bearer_auth(t);
    }
    let response = request.send().await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

async fn get_json(url: &str) -> Value {
    let (status, body) = get(url, None).await;
    assert_eq!(status, 200, "{url}: {body}");
    serde_json::from_str(&body).unwrap()
}

/// Where test artifacts go: `target/test-artifacts/`.
fn artifacts() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    // target/<profile>/deps/serve-HASH
    let target = exe.ancestors().nth(3).unwrap().to_path_buf();
    let dir = target.join("test-artifacts");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

// ---------------------------------------------------------------------------------------------
// A W3C WebDriver client, just what the test needs, over chromedriver.

struct Browser {
    driver: Child,
    base: String,
    session: String,
    http: reqwest::Client,
}

impl Drop for Browser {
    /// Ends the session (chromedriver then closes Chromium), even after a failed assertion,
    /// then stops chromedriver.
    fn drop(&mut self) {
        use std::io::{Read, Write};
        let host = self.base.trim_start_matches("http://").to_owned();
        if let Ok(mut stream) = std::net::TcpStream::connect(&host) {
            stream.set_read_timeout(Some(Duration::from_secs(10))).ok();
            let request = format!(
                "DELETE /session/{} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n",
                self.session
            );
            if stream.write_all(request.as_bytes()).is_ok() {
                let mut answer = Vec::new();
                stream.read_to_end(&mut answer).ok();
            }
        }
        self.driver.kill().ok();
        self.driver.wait().ok();
    }
}

fn which(name: &str, env: &str) -> Option<PathBuf> {
    if let Ok(p) = std::env::var(env) {
        return Some(PathBuf::from(p));
    }
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .chain([PathBuf::from("/usr/bin"), PathBuf::from("/usr/lib/chromium")])
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

impl Browser {
    /// Chromium and chromedriver, or `None` (the caller decides whether that fails).
    fn find() -> Option<(PathBuf, PathBuf)> {
        Some((which("chromium", "ENGAGE_CHROMIUM")?, which("chromedriver", "ENGAGE_CHROMEDRIVER")?))
    }

    async fn start(chromium: &Path, chromedriver: &Path) -> Browser {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let driver = Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let base = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        let started = Instant::now();
        loop {
            if let Ok(r) = http.get(format!("{base}/status")).send().await
                && let Ok(v) = r.json::<Value>().await
                && v["value"]["ready"] == true
            {
                break;
            }
            assert!(started.elapsed() < Duration::from_secs(30), "chromedriver did not start");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let caps = json!({ "capabilities": { "alwaysMatch": { "browserName": "chrome", "goog:chromeOptions": {
            "binary": chromium,
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1280,1800", "--hide-scrollbars", "--no-first-run"]
        }}}});
        let created: Value =
            http.post(format!("{base}/session")).json(&caps).send().await.unwrap().json().await.unwrap();
        let session = created["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no WebDriver session: {created}"))
            .to_owned();
        Browser { driver, base, session, http }
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}/session/{}{path}", self.base, self.session);
        let mut request = self.http.request(method, url);
        if let Some(b) = body {
            request = request.json(&b);
        }
        let v: Value = request.send().await.unwrap().json().await.unwrap();
        assert!(v["value"].get("error").is_none(), "WebDriver {path}: {v}");
        v["value"].clone()
    }

    async fn goto(&self, url: &str) {
        self.call(reqwest::Method::POST, "/url", Some(json!({ "url": url }))).await;
    }

    async fn current_url(&self) -> String {
        self.call(reqwest::Method::GET, "/url", None).await.as_str().unwrap().to_owned()
    }

    async fn find_all(&self, css: &str) -> Vec<String> {
        let found = self
            .call(reqwest::Method::POST, "/elements", Some(json!({ "using": "css selector", "value": css })))
            .await;
        found
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                // The element reference's key: the W3C one, or the one chromedriver gives SVG.
                let id = e
                    .as_object()
                    .and_then(|o| o.iter().find(|(k, _)| k.starts_with("element-6066-")))
                    .and_then(|(_, v)| v.as_str());
                id.unwrap_or_else(|| panic!("{css}: not an element: {e}")).to_owned()
            })
            .collect()
    }

    async fn attribute(&self, element: &str, name: &str) -> Option<String> {
        let v = self.call(reqwest::Method::GET, &format!("/element/{element}/attribute/{name}"), None).await;
        v.as_str().map(str::to_owned)
    }

    async fn rect(&self, element: &str) -> (f64, f64) {
        let v = self.call(reqwest::Method::GET, &format!("/element/{element}/rect"), None).await;
        (v["width"].as_f64().unwrap(), v["height"].as_f64().unwrap())
    }

    async fn click(&self, element: &str) {
        self.call(reqwest::Method::POST, &format!("/element/{element}/click"), Some(json!({}))).await;
    }

    async fn script(&self, source: &str) -> Value {
        self.call(reqwest::Method::POST, "/execute/sync", Some(json!({ "script": source, "args": [] }))).await
    }

    async fn window(&self, width: u32, height: u32) {
        self.call(reqwest::Method::POST, "/window/rect", Some(json!({ "width": width, "height": height })))
            .await;
    }

    async fn screenshot(&self, name: &str) -> PathBuf {
        let png = self.call(reqwest::Method::GET, "/screenshot", None).await;
        let bytes = base64::engine::general_purpose::STANDARD.decode(png.as_str().unwrap()).unwrap();
        assert!(bytes.starts_with(b"\x89PNG"), "a PNG");
        let path = artifacts().join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    }

    /// Every element with `data-metric` and `data-value`: (metric, point, bucket, value).
    async fn figures(&self) -> Vec<(String, String, String, String)> {
        let v = self
            .script(
                "return Array.from(document.querySelectorAll('[data-metric][data-value]')).map(e => \
                 [e.getAttribute('data-metric'), e.getAttribute('data-point') || '', \
                  e.getAttribute('data-bucket') || '', e.getAttribute('data-value')]);",
            )
            .await;
        v.as_array()
            .unwrap()
            .iter()
            .map(|r| {
                let s = |i: usize| r[i].as_str().unwrap().to_owned();
                (s(0), s(1), s(2), s(3))
            })
            .collect()
    }
}

/// A `data-value` as the JSON value it was rendered from (empty: null).
fn value_of(text: &str) -> Value {
    if text.is_empty() { Value::Null } else { json!(text.parse::<f64>().unwrap()) }
}

fn same(a: &Value, b: &Value) -> bool {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => x == y,
        _ => a.is_null() && b.is_null(),
    }
}

#[test]
fn dashboard_in_headless_chromium() {
    let Some((chromium, chromedriver)) = Browser::find() else {
        if std::env::var("ENGAGE_REQUIRE_CHROMIUM").is_ok_and(|v| v == "1") {
            panic!(
                "ENGAGE_REQUIRE_CHROMIUM=1 but chromium and chromedriver were not found (apt-get install chromium chromium-driver)"
            );
        }
        eprintln!("warning: skipped: chromium and chromedriver not found (CI requires them)");
        return;
    };
    let server = Server::start(&["serve", "--listen", "127.0.0.1:0"], None);
    let rt = runtime();
    rt.block_on(async {
        let browser = Browser::start(&chromium, &chromedriver).await;
        let today = chrono::Utc::now().date_naive();
        let window = format!(
            "from={}&to={}&by=week",
            today - chrono::Duration::days(89),
            today + chrono::Duration::days(1)
        );

        // The overview: a chart per headline metric, drawn with a point per bucket with a value.
        browser.goto(&server.url(&format!("/?{window}"))).await;
        let reports = get_json(&server.url(&format!("/api/metrics/overview?{window}"))).await;
        let reports = reports.as_array().unwrap();
        assert_eq!(reports.len(), engage_metrics::OVERVIEW.len());
        let charts = browser.find_all("svg.chart").await;
        assert_eq!(charts.len(), reports.len(), "one chart per metric");
        for chart in &charts {
            let (w, h) = browser.rect(chart).await;
            assert!(w > 200.0 && h > 80.0, "a chart is drawn at a readable size: {w}x{h}");
        }
        let mut drawn = 0;
        for report in reports {
            let name = report["metric"].as_str().unwrap();
            let with_value =
                report["buckets"].as_array().unwrap().iter().filter(|b| !b["value"].is_null()).count();
            let points = browser
                .find_all(&format!(
                    "svg[data-chart='{name}'] circle.point, svg[data-chart='{name}'] rect.bar"
                ))
                .await;
            assert_eq!(points.len(), with_value, "{name}: a point per bucket with a value");
            if let Some(p) = points.first() {
                let (w, h) = browser.rect(p).await;
                assert!(w > 0.0 && h > 0.0, "{name}: its points are rendered");
                drawn += 1;
            }
            if with_value > 1 && engage_metrics::find(name).unwrap().unit != engage_metrics::Unit::Count {
                assert_eq!(
                    browser.find_all(&format!("svg[data-chart='{name}'] polyline.line")).await.len(),
                    1.min(with_value),
                    "{name}: a line"
                );
            }
        }
        assert!(drawn >= 4, "the demo feeds at least four of the overview's charts, drew {drawn}");

        // Every number on the page equals the API's.
        let figures = browser.figures().await;
        let mut on_page: BTreeMap<(String, String, String), Value> = BTreeMap::new();
        for (metric, point, bucket, value) in figures {
            on_page.insert((metric, point, bucket), value_of(&value));
        }
        let mut compared = 0;
        for report in reports {
            let name = report["metric"].as_str().unwrap().to_owned();
            let key = |point: &str, bucket: &str| (name.clone(), point.to_owned(), bucket.to_owned());
            for (point, want) in [
                ("total", &report["total"]["value"]),
                ("previous", &report["previous"]["value"]),
                ("n", &report["total"]["n"]),
            ] {
                let got =
                    on_page.get(&key(point, "")).unwrap_or_else(|| panic!("{name} {point} is on the page"));
                assert!(same(got, want), "{name} {point}: page {got}, API {want}");
                compared += 1;
            }
            match on_page.get(&key("change", "")) {
                Some(got) => assert!(
                    same(got, &report["change"]),
                    "{name} change: page {got}, API {}",
                    report["change"]
                ),
                None => assert!(report["change"].is_null(), "{name}: the change is on the page"),
            }
            for b in report["buckets"].as_array().unwrap() {
                let bucket = b["bucket"].as_str().unwrap();
                match on_page.get(&key("", bucket)) {
                    Some(got) => {
                        assert!(same(got, &b["value"]), "{name} {bucket}: page {got}, API {}", b["value"]);
                        compared += 1;
                    }
                    None => assert!(b["value"].is_null(), "{name} {bucket} is drawn"),
                }
            }
        }
        assert!(compared > 3 * reports.len(), "compared {compared} numbers");
        // Sync status per connection: one row per stream of the API's status.
        let status = get_json(&server.url("/api/status")).await;
        assert_eq!(browser.find_all("table.status tbody tr").await.len(), status.as_array().unwrap().len());
        browser.screenshot("dashboard-overview.png").await;

        // A phone: nothing wider than the screen (tables scroll in their own boxes).
        browser.window(390, 844).await;
        let overflow =
            browser.script("return [document.documentElement.scrollWidth, window.innerWidth];").await;
        assert!(
            overflow[0].as_f64().unwrap() <= overflow[1].as_f64().unwrap() + 1.0,
            "no sideways scrolling on a phone: {overflow}"
        );
        browser.screenshot("dashboard-overview-phone.png").await;
        browser.window(1280, 1800).await;

        // The customer list, then a click on a customer opens their page.
        browser.goto(&server.url("/customers")).await;
        let list = get_json(&server.url("/api/customers")).await;
        let links = browser.find_all("a[data-customer]").await;
        let listed = list["customers"].as_array().unwrap().iter().filter(|c| c["email"].is_string()).count();
        assert_eq!(links.len(), listed, "a link per customer with an email");
        assert!(!links.is_empty(), "the demo has customers");
        // The customer with the longest timeline among the first page's.
        let mut best = (0, 0);
        for (i, link) in links.iter().enumerate().take(20) {
            let email = browser.attribute(link, "data-customer").await.unwrap();
            let v = get_json(&server.url(&format!("/api/customers/{}", email.replace('+', "%2B")))).await;
            let n = v["timeline"].as_array().unwrap().len();
            if n > best.1 {
                best = (i, n);
            }
        }
        let email = browser.attribute(&links[best.0], "data-customer").await.unwrap();
        browser.screenshot("dashboard-customers.png").await;
        browser.click(&links[best.0]).await;
        let started = Instant::now();
        while !browser.current_url().await.contains("/customers/") {
            assert!(started.elapsed() < Duration::from_secs(10), "the click opened no page");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let heading = browser.find_all("h1[data-customer]").await;
        assert_eq!(heading.len(), 1);
        assert_eq!(browser.attribute(&heading[0], "data-customer").await.unwrap(), email);
        let view = get_json(&server.url(&format!("/api/customers/{}", email.replace('+', "%2B")))).await;
        let total = browser.find_all("[data-score='total']").await;
        assert!(same(
            &value_of(&browser.attribute(&total[0], "data-value").await.unwrap()),
            &view["score"]["total"]
        ));
        for c in view["score"]["components"].as_array().unwrap() {
            let name = c["name"].as_str().unwrap();
            let cell = browser.find_all(&format!("td[data-score='{name}']")).await;
            assert_eq!(cell.len(), 1, "{name} in the breakdown");
            let got = value_of(&browser.attribute(&cell[0], "data-value").await.unwrap());
            assert!(same(&got, &c["score"]), "{name}: page {got}, API {}", c["score"]);
        }
        let entries = view["timeline"].as_array().unwrap().len();
        assert!(entries > 0, "{email} has a timeline");
        assert_eq!(browser.find_all("table.timeline tbody tr").await.len(), entries.min(200));
        let shown = browser.screenshot("dashboard-customer.png").await;
        assert!(std::fs::metadata(shown).unwrap().len() > 10_000, "a screenshot with something on it");
    });
    drop(server);
}

/// Every secret the demo configured (its `secrets/` files).
fn demo_secrets() -> Vec<String> {
    let secrets: Vec<String> = std::fs::read_dir(demo().join("secrets"))
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap().trim().to_owned())
        .filter(|s| s.len() >= 6)
        .collect();
    assert!(!secrets.is_empty());
    secrets
}

#[test]
fn a_token_guards_every_request_and_secrets_stay_out() {
    let server = Server::start(&["serve", "--listen", "127.0.0.1:0"], Some(TOKEN));
    let secrets = demo_secrets();
    runtime().block_on(async {
        for path in [
            "/",
            "/customers",
            "/status",
            "/healthz",
            "/openapi.json",
            "/api/metrics",
            "/api/status",
            "/api/metrics/overview",
            "/api/customers",
        ] {
            let (status, body) = get(&server.url(path), None).await;
            assert_eq!(status, 401, "{path} without the token");
            assert_eq!(
                serde_json::from_str::<Value>(&body).unwrap()["error"],
                "unauthorized: send the API token as `Authorization: Bearer TOKEN`"
            );
            assert_eq!(
                get(&server.url(path), Some("serve-test-token-0123456789abcdeX")).await.0,
                401,
                "{path}: a wrong token"
            );
            let (status, body) = get(&server.url(path), Some(TOKEN)).await;
            assert_eq!(status, 200, "{path} with the token: {body}");
            for s in &secrets {
                assert!(!body.contains(s.as_str()), "{path} shows a connection secret");
            }
            assert!(!body.contains(TOKEN), "{path} shows the API token");
        }
        let (_, runs) = get(&server.url("/api/status/runs?limit=1000"), Some(TOKEN)).await;
        assert!(secrets.iter().all(|s| !runs.contains(s.as_str())));
        // The SendGrid receiver of the demo's `sendgrid` connection is mounted under /webhooks/
        // and answers its callers itself, without the bearer token: a batch that is not JSON is
        // refused as malformed, not as unauthorized.
        let connection = sendgrid_connection();
        let posted = reqwest::Client::new()
            .post(server.url(&format!("/webhooks/sendgrid/{connection}")))
            .header("content-type", "application/json")
            .body("not json")
            .send()
            .await
            .unwrap();
        assert_eq!(posted.status().as_u16(), 400, "{}", posted.text().await.unwrap());
        let unknown = reqwest::Client::new()
            .post(server.url("/webhooks/sendgrid/nobody"))
            .body("[]")
            .send()
            .await
            .unwrap();
        assert_eq!(unknown.status().as_u16(), 404);
    });
    assert!(!server.log.lock().unwrap().contains(TOKEN), "the token is not logged");
}

/// The name of the demo's `sendgrid` connection.
fn sendgrid_connection() -> String {
    let toml = std::fs::read_to_string(demo().join("engage.toml")).unwrap();
    let mut name = None;
    for line in toml.lines() {
        if let Some(v) = line.strip_prefix("name = ") {
            name = Some(v.trim_matches('"').to_owned());
        }
        if line.trim() == "kind = \"sendgrid\"" {
            return name.unwrap();
        }
    }
    panic!("the demo has a sendgrid connection:\n{toml}");
}

#[test]
fn a_public_address_without_a_token_is_refused() {
    for args in [&["serve", "--listen", "0.0.0.0:0"][..], &["run", "--serve", "0.0.0.0:0"][..]] {
        let out = Command::new(env!("CARGO_BIN_EXE_engage"))
            .arg("--config")
            .arg(demo().join("engage.toml"))
            .args(args)
            .env_remove("ENGAGE_API_TOKEN")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "engage {args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            stderr.trim_end(),
            "error: refusing to listen on 0.0.0.0:0 without an API token: anything but a loopback address \
             requires one (`[server] api_token`, ENGAGE_API_TOKEN or --api-token-file), or listen on 127.0.0.1",
            "engage {args:?}"
        );
    }
    // A token that is too short to be one is refused too.
    let out = Command::new(env!("CARGO_BIN_EXE_engage"))
        .arg("--config")
        .arg(demo().join("engage.toml"))
        .args(["serve", "--listen", "0.0.0.0:0"])
        .env("ENGAGE_API_TOKEN", "secret")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim_end(),
        "error: the API token must be at least 16 characters long"
    );
}

/// `[server]` in engage.toml: `listen` is where `engage serve` listens without `--listen`, and
/// `api_token` guards every request; a public `listen` without a token is refused.
#[test]
fn the_server_section_sets_the_address_and_the_token() {
    const CONFIG_TOKEN: &str = "config-token-0123456789abcdefghij";
    let base = std::fs::read_to_string(demo().join("engage.toml")).unwrap();
    let config = demo().join("server-section.toml");
    std::fs::write(
        &config,
        format!("{base}\n[server]\nlisten = \"127.0.0.1:0\"\napi_token = \"{CONFIG_TOKEN}\"\n"),
    )
    .unwrap();
    let server = Server::start_with(&config, &["serve"], None);
    assert!(server.addr.ip().is_loopback(), "{}", server.addr);
    runtime().block_on(async {
        assert_eq!(get(&server.url("/api/status"), None).await.0, 401);
        assert_eq!(get(&server.url("/api/status"), Some(TOKEN)).await.0, 401, "the configured token only");
        let (status, body) = get(&server.url("/api/status"), Some(CONFIG_TOKEN)).await;
        assert_eq!(status, 200, "{body}");
        assert!(!body.contains(CONFIG_TOKEN));
    });
    assert!(!server.log.lock().unwrap().contains(CONFIG_TOKEN), "the token is not logged");
    drop(server);

    let public = demo().join("server-public.toml");
    std::fs::write(&public, format!("{base}\n[server]\nlisten = \"0.0.0.0:0\"\n")).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_engage"))
        .arg("--config")
        .arg(&public)
        .arg("serve")
        .env_remove("ENGAGE_API_TOKEN")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .starts_with("error: refusing to listen on 0.0.0.0:0 without an API token"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn run_serves_the_api_and_prometheus_in_one_process() {
    // A copy of the demo, so the runner's syncs (against simulators that are gone) do not
    // touch the store the other tests read.
    let tmp = tempfile::tempdir().unwrap();
    for entry in ["engage.toml", "engage.db"] {
        std::fs::copy(demo().join(entry), tmp.path().join(entry)).unwrap();
    }
    copy_dir(&demo().join("secrets"), &tmp.path().join("secrets"));
    let mut server =
        Server::start_with(&tmp.path().join("engage.toml"), &["run", "--serve", "127.0.0.1:0"], None);
    let addr = server.addr;
    assert!(server.log.lock().unwrap().contains("serving the dashboard, API and /metrics on http://"));
    runtime().block_on(async {
        let (status, text) = get(&format!("http://{addr}/metrics"), None).await;
        assert_eq!(status, 200);
        assert!(text.contains("# TYPE engage_sync_duration_seconds histogram"), "{text}");
        let (status, body) = get(&format!("http://{addr}/api/metrics/overview"), None).await;
        assert_eq!(status, 200, "{body}");
        let spec: Value =
            serde_json::from_str(&get(&format!("http://{addr}/openapi.json"), None).await.1).unwrap();
        assert!(spec["paths"]["/metrics"]["get"].is_object(), "the description names /metrics here");
    });
    let kill = Command::new("kill").args(["-TERM", &server.child.id().to_string()]).status().unwrap();
    assert!(kill.success());
    let started = Instant::now();
    loop {
        if let Some(status) = server.child.try_wait().unwrap() {
            assert_eq!(status.code(), Some(0), "exit after SIGTERM");
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "engage run did not stop after SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}
