//! Measures how fast the Zendesk simulator serves 1000-ticket export pages (release build):
//! `cargo run --release -p engage-sandbox --example zendesk_page_speed [RECORDS] [PAGES]`.
//! Each page is timed from request to the last body byte over loopback (the client does not
//! parse), so the figure bounds page generation plus serialisation plus transfer.
#![allow(clippy::unwrap_used)] // a measuring tool: any failure should stop it loudly

use std::time::Instant;

use engage_sandbox::zendesk::{ZendeskOptions, ZendeskSim};

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let records: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(1_000_000);
    let pages: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(200);
    let mut options = ZendeskOptions::unlimited();
    options.sim.records = records;
    let auth = options.authorization();
    let sim = ZendeskSim::start(options).await.unwrap();
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let middle = sim.now() - 365 * 86_400;
    for (label, include) in [("tickets", ""), ("tickets+metric_sets", "&include=metric_sets")] {
        let mut url =
            format!("{}/api/v2/incremental/tickets/cursor.json?start_time={middle}{include}", sim.base_url());
        let (mut bytes, mut times) = (0usize, Vec::with_capacity(pages));
        let mut served = 0usize;
        let all = Instant::now();
        for _ in 0..pages {
            let started = Instant::now();
            let body =
                client.get(&url).header("Authorization", &auth).send().await.unwrap().bytes().await.unwrap();
            times.push(started.elapsed().as_secs_f64() * 1e3);
            served += 1;
            bytes += body.len();
            if body.ends_with(b"\"end_of_stream\":true}") {
                break;
            }
            // Only the cursor is needed to go on; find it without parsing the page.
            let text = std::str::from_utf8(&body).unwrap();
            let at = text.rfind("\"after_cursor\":\"").unwrap() + 16;
            let cursor = &text[at..at + text[at..].find('"').unwrap()];
            url =
                format!("{}/api/v2/incremental/tickets/cursor.json?cursor={cursor}{include}", sim.base_url());
        }
        let total = all.elapsed().as_secs_f64();
        times.sort_by(f64::total_cmp);
        println!(
            "{label}: {served} pages of up to 1000 from the middle of {records}: median {:.2} ms, \
             p95 {:.2} ms, {:.0} KB/page, {:.0} pages/s",
            times[times.len() / 2],
            times[times.len() * 95 / 100],
            bytes as f64 / served as f64 / 1024.0,
            served as f64 / total,
        );
    }
    println!("records held in memory after the run: {}", sim.simulator().changed_records());
}
