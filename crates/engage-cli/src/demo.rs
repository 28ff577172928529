//! `engage demo` and `engage sandbox`: the whole product on loopback, with no accounts.

use std::path::{Path, PathBuf};

use engage_runner::{BuildOptions, Selection, SyncOptions};
use engage_sandbox::{Sandbox, SandboxOptions};
use engage_store::{RunStatus, Store, query_read_only};
use serde_json::Value;

use crate::commands::{Failure, load, store_url};

/// One demo connection: the simulator it talks to and the connector options that match it.
struct DemoConnection {
    name: &'static str,
    kind: &'static str,
    simulator: &'static str,
    /// Extra TOML lines (non-secret options).
    options: fn() -> Vec<String>,
    /// The secret option's name and value, written to a file next to the config.
    secret: fn() -> (&'static str, String),
}

const CONNECTIONS: &[DemoConnection] = &[
    DemoConnection {
        name: "google-reviews",
        kind: "google_business",
        simulator: "google_business",
        options: || {
            let sim = engage_sandbox::google_business::GoogleBusinessOptions::default();
            let locations = engage_sandbox::google_business::location_ids(sim.locations);
            vec![
                format!("account = {:?}", engage_sandbox::google_business::ACCOUNT),
                format!("locations = {locations:?}"),
            ]
        },
        secret: || {
            ("access_token", engage_sandbox::google_business::GoogleBusinessOptions::default().access_token)
        },
    },
    DemoConnection {
        name: "yelp",
        kind: "yelp",
        simulator: "yelp",
        options: || {
            let sim = engage_sandbox::yelp::YelpOptions::default();
            let businesses = engage_sandbox::yelp::business_ids(sim.businesses);
            vec![format!("businesses = {businesses:?}"), format!("time_zone = {:?}", sim.time_zone)]
        },
        secret: || ("api_key", engage_sandbox::yelp::YelpOptions::default().api_key),
    },
    DemoConnection {
        name: "trustpilot",
        kind: "trustpilot",
        simulator: "trustpilot",
        options: || vec![format!("business_unit_id = {:?}", engage_sandbox::trustpilot::BUSINESS_UNIT)],
        secret: || ("api_key", engage_sandbox::trustpilot::TrustpilotOptions::default().api_key),
    },
    DemoConnection {
        name: "helpdesk",
        kind: "zendesk",
        simulator: "zendesk",
        options: || {
            let sim = engage_sandbox::zendesk::ZendeskOptions::default();
            vec![format!("email = {:?}", sim.email)]
        },
        secret: || ("api_token", engage_sandbox::zendesk::ZendeskOptions::default().api_token),
    },
    DemoConnection {
        name: "messenger",
        kind: "intercom",
        simulator: "intercom",
        options: Vec::new,
        secret: || ("access_token", engage_sandbox::intercom::IntercomOptions::default().access_token),
    },
    DemoConnection {
        name: "live-chat",
        kind: "liveagent",
        simulator: "liveagent",
        options: || {
            let sim = engage_sandbox::liveagent::LiveAgentOptions::default();
            vec![format!("time_zone = {:?}", sim.time_zone)]
        },
        secret: || ("api_key", engage_sandbox::liveagent::LiveAgentOptions::default().api_key),
    },
    DemoConnection {
        name: "transactional",
        kind: "postmark",
        simulator: "postmark",
        options: Vec::new,
        secret: || ("server_token", engage_sandbox::postmark::PostmarkOptions::default().server_token),
    },
    DemoConnection {
        name: "newsletter",
        kind: "mailchimp",
        simulator: "mailchimp",
        options: Vec::new,
        secret: || ("api_key", engage_sandbox::mailchimp::MailchimpOptions::default().api_key),
    },
    DemoConnection {
        name: "email-stats",
        kind: "sendgrid",
        simulator: "sendgrid",
        options: || {
            let sim = engage_sandbox::sendgrid::SendGridOptions::default();
            vec![format!("categories = {:?}", sim.categories)]
        },
        secret: || ("api_key", engage_sandbox::sendgrid::SendGridOptions::default().api_key),
    },
    DemoConnection {
        name: "lifecycle",
        kind: "klaviyo",
        simulator: "klaviyo",
        options: Vec::new,
        secret: || ("api_key", engage_sandbox::klaviyo::KlaviyoOptions::default().api_key),
    },
    DemoConnection {
        name: "freshdesk",
        kind: "freshdesk",
        simulator: "freshdesk",
        // Counting replies costs one request per ticket (its conversations): minutes of the
        // plan's credits for the demo's thousands of tickets, so the demo leaves it out.
        options: || vec!["replies = false".to_owned()],
        secret: || ("api_key", engage_sandbox::freshdesk::FreshdeskOptions::default().api_key),
    },
    DemoConnection {
        name: "helpscout",
        kind: "helpscout",
        simulator: "helpscout",
        options: || {
            let sim = engage_sandbox::helpscout::HelpScoutOptions::default();
            vec![format!("client_id = {:?}", sim.client_id)]
        },
        secret: || ("client_secret", engage_sandbox::helpscout::HelpScoutOptions::default().client_secret),
    },
    DemoConnection {
        name: "ios-reviews",
        kind: "app_store",
        simulator: "app_store",
        options: || {
            let sim = engage_sandbox::app_store::AppStoreOptions::default();
            vec![
                format!("issuer_id = {:?}", sim.issuer_id),
                format!("key_id = {:?}", sim.key_id),
                format!("app_id = {:?}", sim.app_id),
            ]
        },
        secret: || ("private_key", engage_sandbox::app_store::AppStoreOptions::default().private_key),
    },
    DemoConnection {
        name: "android-reviews",
        kind: "google_play",
        simulator: "google_play",
        options: || {
            let sim = engage_sandbox::google_play::GooglePlayOptions::default();
            vec![format!("package_name = {:?}", sim.package_name)]
        },
        secret: || ("access_token", engage_sandbox::google_play::GooglePlayOptions::default().access_token),
    },
    DemoConnection {
        name: "shop",
        kind: "shopify",
        simulator: "shopify",
        options: Vec::new,
        secret: || ("access_token", engage_sandbox::shopify::ShopifyOptions::default().access_token),
    },
    DemoConnection {
        name: "nps-survey",
        kind: "delighted",
        simulator: "delighted",
        // The simulated project asks "How did you hear about us?" as question 21.
        options: || vec![r#"questions = [{ question = "21", kind = "referral" }]"#.to_owned()],
        secret: || ("api_key", engage_sandbox::delighted::DelightedOptions::default().api_key),
    },
    DemoConnection {
        name: "feedback-form",
        kind: "typeform",
        simulator: "typeform",
        options: || {
            let sim = engage_sandbox::typeform::TypeformOptions::default();
            let fields: Vec<String> = engage_sandbox::typeform::FIELD_MAPPING
                .iter()
                .map(|(field, kind, lo, hi)| {
                    let scale = match (lo, hi) {
                        (Some(lo), Some(hi)) => format!(", scale_min = {lo:?}, scale_max = {hi:?}"),
                        _ => String::new(),
                    };
                    format!("{{ field = {field:?}, kind = {kind:?}{scale} }}")
                })
                .collect();
            vec![format!("forms = [{:?}]", sim.form_id), format!("fields = [{}]", fields.join(", "))]
        },
        secret: || ("access_token", engage_sandbox::typeform::TypeformOptions::default().access_token),
    },
];

fn simulator_names() -> Vec<&'static str> {
    CONNECTIONS.iter().map(|c| c.simulator).collect()
}

/// `engage demo [--dir DIR] [--records N]`.
pub async fn demo(dir: Option<PathBuf>, records: usize) -> Result<(), Failure> {
    let dir = match dir {
        Some(dir) => dir,
        None => {
            std::env::temp_dir().join(format!("engage-demo-{}", chrono::Utc::now().format("%Y%m%d-%H%M%S")))
        }
    };
    std::fs::create_dir_all(dir.join("secrets"))?;
    for leftover in ["engage.db", "engage.db-wal", "engage.db-shm"] {
        let path = dir.join(leftover);
        if path.exists() {
            std::fs::remove_file(path)?;
        }
    }
    let options = SandboxOptions {
        records,
        seed: 1,
        unlimited: false,
        now: chrono::Utc::now().timestamp(),
        cache_pages: false,
    };
    println!("starting the simulators on 127.0.0.1 ({records} records each)...");
    let sandbox = Sandbox::start(&simulator_names(), &options).await?;
    let config_path = dir.join("engage.toml");
    write_config(&dir, &config_path, &sandbox, &options)?;
    println!("wrote {}", config_path.display());

    let config = load(&config_path)?;
    let url = store_url(&config, &config_path);
    let store = Store::open(&url).await?;
    let connections = engage_runner::build_connections(&config, &BuildOptions::default())?;
    let outcomes =
        engage_runner::sync_selected(&store, &connections, &Selection::default(), &SyncOptions::default(), 4)
            .await?;
    // The unified customers, as `engage sync` links them (the dashboard's customer pages).
    if let Err(e) = engage_metrics::customers::link(&store).await {
        eprintln!("warning: linking identities into customers failed: {e}");
    }
    store.close().await;
    drop(sandbox);

    println!();
    println!("synced into {}:", dir.join("engage.db").display());
    for o in &outcomes {
        let status = if o.status == RunStatus::Succeeded {
            String::new()
        } else {
            format!(" ({})", o.status.as_str())
        };
        println!(
            "  {}/{}: {} records in {} pages, {} quarantined{status}",
            o.connection, o.stream, o.records, o.pages, o.quarantined
        );
    }
    print_headlines(&url).await?;
    println!();
    println!("keep exploring this store:");
    let cfg = config_path.display();
    println!("  engage --config {cfg} status");
    println!(
        "  engage --config {cfg} query \"SELECT channel, count(*) AS tickets FROM tickets GROUP BY channel\""
    );
    println!("  engage --config {cfg} query --format csv \"SELECT * FROM survey_responses\"");
    if outcomes.iter().any(|o| o.status == RunStatus::Failed) {
        return Err(Failure::Exit(crate::exit::FAILURE));
    }
    Ok(())
}

fn write_config(
    dir: &Path,
    config_path: &Path,
    sandbox: &Sandbox,
    options: &SandboxOptions,
) -> Result<(), Failure> {
    let urls = sandbox.urls();
    // The simulators' seed, size and clock make their data reproducible (tests rebuild it).
    let mut text = format!(
        "# Written by `engage demo`: the built-in simulators on 127.0.0.1 (they stop when the demo ends).\n\
         # Simulators: seed {}, {} records each, clock {} (Unix seconds).\n\n\
         [store]\nurl = \"sqlite://engage.db\"\n",
        options.seed, options.records, options.now
    );
    for c in CONNECTIONS {
        let (secret_key, secret_value) = (c.secret)();
        let secret_file = format!("secrets/{}_{secret_key}", c.name);
        std::fs::write(dir.join(&secret_file), format!("{secret_value}\n"))?;
        text.push_str(&format!(
            "\n[[connection]]\nname = \"{}\"\nkind = \"{}\"\nbase_url = \"{}\"\n{}\n{secret_key}_file = \"{secret_file}\"\n",
            c.name,
            c.kind,
            urls.get(c.simulator).cloned().unwrap_or_default(),
            (c.options)().join("\n"),
        ));
    }
    std::fs::write(config_path, text)?;
    Ok(())
}

/// A few headline numbers straight from the store.
async fn print_headlines(url: &str) -> Result<(), Failure> {
    let scalar = |sql: &'static str| async move {
        let result = query_read_only(url, sql).await?;
        Ok::<Value, Failure>(result.rows.first().and_then(|r| r.first()).cloned().unwrap_or(Value::Null))
    };
    let tickets = scalar("SELECT count(*) FROM tickets WHERE deleted_at IS NULL").await?;
    let solved =
        scalar("SELECT count(*) FROM tickets WHERE deleted_at IS NULL AND status IN ('solved', 'closed')")
            .await?;
    // Positive: the top box of scales of up to 3 points (Zendesk's good = 1 of 0-1), the top two
    // boxes of longer ones (Freshdesk's 1-7); the midpoint of an odd scale is neutral.
    let good = scalar(
        "SELECT count(*) FROM survey_responses WHERE kind = 'csat' \
         AND score >= CASE WHEN scale_max - scale_min <= 2 THEN scale_max ELSE scale_max - 1 END",
    )
    .await?;
    let bad = scalar(
        "SELECT count(*) FROM survey_responses WHERE kind = 'csat' \
         AND score < CASE WHEN scale_max - scale_min <= 2 THEN scale_max ELSE scale_max - 1 END \
         AND NOT (scale_max - scale_min >= 2 AND score * 2 = scale_min + scale_max)",
    )
    .await?;
    let replies = query_read_only(
        url,
        "SELECT first_reply_minutes FROM tickets WHERE deleted_at IS NULL AND first_reply_minutes IS NOT NULL",
    )
    .await?;
    let mut minutes: Vec<f64> = replies.rows.iter().filter_map(|r| r[0].as_f64()).collect();
    minutes.sort_by(f64::total_cmp);
    let median = match minutes.len() {
        0 => None,
        n if n % 2 == 1 => Some(minutes[n / 2]),
        n => Some((minutes[n / 2 - 1] + minutes[n / 2]) / 2.0),
    };
    let (good, bad) = (good.as_i64().unwrap_or(0), bad.as_i64().unwrap_or(0));
    println!();
    println!("headlines:");
    println!("  tickets: {tickets} ({solved} solved or closed)");
    match median {
        Some(m) => println!("  median first reply: {m:.0} minutes"),
        None => println!("  median first reply: no replied tickets"),
    }
    if good + bad > 0 {
        println!("  CSAT: {:.1}% ({good} good, {bad} bad)", 100.0 * good as f64 / (good + bad) as f64);
    } else {
        println!("  CSAT: no rated tickets");
    }
    Ok(())
}

/// `engage sandbox [NAME...] [--records N]`: runs simulators until Ctrl-C.
pub async fn sandbox(names: Vec<String>, records: usize) -> Result<(), Failure> {
    let names: Vec<&str> = if names.is_empty() {
        engage_sandbox::SIMULATORS.to_vec()
    } else {
        names.iter().map(String::as_str).collect()
    };
    let options = SandboxOptions {
        records,
        seed: 1,
        unlimited: false,
        now: chrono::Utc::now().timestamp(),
        cache_pages: false,
    };
    let sandbox = Sandbox::start(&names, &options).await?;
    for (name, url) in sandbox.urls() {
        println!("{name}: {url}");
    }
    println!("(Ctrl-C to stop)");
    tokio::signal::ctrl_c().await?;
    Ok(())
}
