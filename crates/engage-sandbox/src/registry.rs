//! Starting simulators by name: what `engage sandbox`, `engage demo` and the benchmark binary use.

use std::collections::BTreeMap;
use std::io;

use crate::app_store::{AppStore, AppStoreOptions};
use crate::delighted::{Delighted, DelightedOptions};
use crate::faults::Faults;
use crate::freshdesk::{Freshdesk, FreshdeskOptions};
use crate::google_business::{GoogleBusiness, GoogleBusinessOptions};
use crate::google_play::{GooglePlay, GooglePlayOptions};
use crate::helpscout::{HelpScout, HelpScoutOptions};
use crate::intercom::{Intercom, IntercomOptions};
use crate::klaviyo::{Klaviyo, KlaviyoOptions};
use crate::liveagent::{LiveAgent, LiveAgentOptions};
use crate::mailchimp::{Mailchimp, MailchimpOptions};
use crate::postmark::{Postmark, PostmarkOptions};
use crate::sendgrid::{SendGrid, SendGridOptions};
use crate::shopify::{Shopify, ShopifyOptions};
use crate::sim::{DEFAULT_NOW, Sim, Simulator};
use crate::timeline::Mutation;
use crate::trustpilot::{Trustpilot, TrustpilotOptions};
use crate::truth::GroundTruth;
use crate::typeform::{Typeform, TypeformOptions};
use crate::yelp::{Yelp, YelpOptions};
use crate::zendesk::{Zendesk, ZendeskOptions};

/// Names of the simulators [`start`] knows.
pub const SIMULATORS: &[&str] = &[
    "zendesk",
    "freshdesk",
    "helpscout",
    "intercom",
    "liveagent",
    "postmark",
    "mailchimp",
    "klaviyo",
    "typeform",
    "delighted",
    "shopify",
    "sendgrid",
    "google_business",
    "yelp",
    "trustpilot",
    "app_store",
    "google_play",
];

/// Options shared by every simulator started by name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SandboxOptions {
    /// Seed of all generated data.
    pub seed: u64,
    /// Size of each simulator's main stream.
    pub records: usize,
    /// Disable the vendors' rate limits (for benchmarks).
    pub unlimited: bool,
    /// The simulators' clock at start (Unix seconds).
    pub now: i64,
    /// Zendesk: serve an export page rendered earlier again from memory when the same query
    /// repeats (benchmarks; see `ZendeskOptions::cache_pages`).
    pub cache_pages: bool,
}

impl Default for SandboxOptions {
    fn default() -> Self {
        SandboxOptions { seed: 1, records: 1_000, unlimited: false, now: DEFAULT_NOW, cache_pages: false }
    }
}

/// A running simulator of any kind.
pub trait RunningSim: Send + Sync {
    /// Registry name.
    fn name(&self) -> &'static str;
    /// `http://127.0.0.1:PORT`.
    fn base_url(&self) -> String;
    /// What a correct connector must have stored by now.
    fn ground_truth(&self) -> GroundTruth;
    /// Applies changes between syncs.
    fn mutate(&self, mutation: Mutation);
    /// Requests received since start or the last reset.
    fn total_requests(&self) -> u64;
    /// Sets the faults of every route.
    fn set_all_faults(&self, faults: Faults);
}

impl<S: Simulator> RunningSim for Sim<S> {
    fn name(&self) -> &'static str {
        S::NAME
    }
    fn base_url(&self) -> String {
        Sim::base_url(self)
    }
    fn ground_truth(&self) -> GroundTruth {
        Sim::ground_truth(self)
    }
    fn mutate(&self, mutation: Mutation) {
        Sim::mutate(self, mutation);
    }
    fn total_requests(&self) -> u64 {
        Sim::total_requests(self)
    }
    fn set_all_faults(&self, faults: Faults) {
        Sim::set_all_faults(self, faults);
    }
}

/// Starts the simulator called `name` (an error of kind `InvalidInput` for an unknown name).
pub async fn start(name: &str, options: &SandboxOptions) -> io::Result<Box<dyn RunningSim>> {
    match name {
        "zendesk" => {
            let mut o =
                if options.unlimited { ZendeskOptions::unlimited() } else { ZendeskOptions::default() };
            o.sim.seed = options.seed;
            o.sim.records = options.records;
            o.sim.now = options.now;
            o.cache_pages = options.cache_pages;
            Ok(Box::new(Sim::<Zendesk>::start(o).await?))
        }
        "intercom" => {
            let mut o =
                if options.unlimited { IntercomOptions::unlimited() } else { IntercomOptions::default() };
            o.sim.seed = options.seed;
            o.sim.records = options.records;
            o.sim.now = options.now;
            Ok(Box::new(Sim::<Intercom>::start(o).await?))
        }
        "liveagent" => {
            let mut o =
                if options.unlimited { LiveAgentOptions::unlimited() } else { LiveAgentOptions::default() };
            o.sim.seed = options.seed;
            o.sim.records = options.records;
            o.sim.now = options.now;
            Ok(Box::new(Sim::<LiveAgent>::start(o).await?))
        }
        "freshdesk" => {
            let mut o =
                if options.unlimited { FreshdeskOptions::unlimited() } else { FreshdeskOptions::default() };
            o.sim.seed = options.seed;
            o.sim.records = options.records;
            o.sim.now = options.now;
            Ok(Box::new(Sim::<Freshdesk>::start(o).await?))
        }
        "postmark" => {
            let mut o =
                if options.unlimited { PostmarkOptions::unlimited() } else { PostmarkOptions::default() };
            o.sim.seed = options.seed;
            o.sim.records = options.records;
            o.sim.now = options.now;
            Ok(Box::new(Sim::<Postmark>::start(o).await?))
        }
        "mailchimp" => {
            let mut o =
                if options.unlimited { MailchimpOptions::unlimited() } else { MailchimpOptions::default() };
            o.sim.seed = options.seed;
            o.sim.records = options.records;
            o.sim.now = options.now;
            Ok(Box::new(Sim::<Mailchimp>::start(o).await?))
        }
        "klaviyo" => {
            let mut o =
                if options.unlimited { KlaviyoOptions::unlimited() } else { KlaviyoOptions::default() };
            o.sim.seed = options.seed;
            o.sim.records = options.records;
            o.sim.now = options.now;
            Ok(Box::new(Sim::<Klaviyo>::start(o).await?))
        }
        "helpscout" => {
            let mut o =
                if options.unlimited { HelpScoutOptions::unlimited() } else { HelpScoutOptions::default() };
            o.sim.seed = options.seed;
            o.sim.records = options.records;
            o.sim.now = options.now;
            Ok(Box::new(Sim::<HelpScout>::start(o).await?))
        }
        "sendgrid" => {
            let mut o =
                if options.unlimited { SendGridOptions::unlimited() } else { SendGridOptions::default() };
            o.sim.seed = options.seed;
            o.sim.records = options.records;
            o.sim.now = options.now;
            Ok(Box::new(Sim::<SendGrid>::start(o).await?))
        }
        "shopify" => {
            let mut o =
                if options.unlimited { ShopifyOptions::unlimited() } else { ShopifyOptions::default() };
            o.sim.seed = options.seed;
            o.sim.records = options.records;
            o.sim.now = options.now;
            Ok(Box::new(Sim::<Shopify>::start(o).await?))
        }
        "delighted" => {
            let mut o =
                if options.unlimited { DelightedOptions::unlimited() } else { DelightedOptions::default() };
            o.sim.seed = options.seed;
            o.sim.records = options.records;
            o.sim.now = options.now;
            Ok(Box::new(Sim::<Delighted>::start(o).await?))
        }
        "google_business" => {
            let mut o = if options.unlimited {
                GoogleBusinessOptions::unlimited()
            } else {
                GoogleBusinessOptions::default()
            };
            o.sim.seed = options.seed;
            o.sim.records = options.records;
            o.sim.now = options.now;
            Ok(Box::new(Sim::<GoogleBusiness>::start(o).await?))
        }
        "yelp" => {
            let mut o = if options.unlimited { YelpOptions::unlimited() } else { YelpOptions::default() };
            o.sim.seed = options.seed;
            o.sim.records = options.records;
            o.sim.now = options.now;
            Ok(Box::new(Sim::<Yelp>::start(o).await?))
        }
        "trustpilot" => {
            let mut o =
                if options.unlimited { TrustpilotOptions::unlimited() } else { TrustpilotOptions::default() };
            o.sim.seed = options.seed;
            o.sim.records = options.records;
            o.sim.now = options.now;
            Ok(Box::new(Sim::<Trustpilot>::start(o).await?))
        }
        "app_store" => {
            let mut o =
                if options.unlimited { AppStoreOptions::unlimited() } else { AppStoreOptions::default() };
            o.sim.seed = options.seed;
            o.sim.records = options.records;
            o.sim.now = options.now;
            Ok(Box::new(Sim::<AppStore>::start(o).await?))
        }
        "google_play" => {
            let mut o =
                if options.unlimited { GooglePlayOptions::unlimited() } else { GooglePlayOptions::default() };
            o.sim.seed = options.seed;
            // Play shows one week of an app's reviews: a tenth of the main size.
            o.sim.records = options.records.div_ceil(10);
            o.sim.now = options.now;
            Ok(Box::new(Sim::<GooglePlay>::start(o).await?))
        }
        "typeform" => {
            let mut o =
                if options.unlimited { TypeformOptions::unlimited() } else { TypeformOptions::default() };
            o.sim.seed = options.seed;
            o.sim.records = options.records;
            o.sim.now = options.now;
            Ok(Box::new(Sim::<Typeform>::start(o).await?))
        }
        other => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("unknown simulator {other:?}; known: {}", SIMULATORS.join(", ")),
        )),
    }
}

/// A named set of running simulators.
#[derive(Default)]
pub struct Sandbox {
    sims: BTreeMap<String, Box<dyn RunningSim>>,
}

impl std::fmt::Debug for Sandbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.urls()).finish()
    }
}

impl Sandbox {
    /// Starts every named simulator (duplicates are started once).
    pub async fn start(names: &[&str], options: &SandboxOptions) -> io::Result<Self> {
        let mut sims = BTreeMap::new();
        for &name in names {
            if !sims.contains_key(name) {
                sims.insert(name.to_owned(), start(name, options).await?);
            }
        }
        Ok(Sandbox { sims })
    }

    /// `{name: base_url}` of every running simulator.
    pub fn urls(&self) -> BTreeMap<String, String> {
        self.sims.iter().map(|(name, sim)| (name.clone(), sim.base_url())).collect()
    }

    /// One running simulator.
    pub fn get(&self, name: &str) -> Option<&dyn RunningSim> {
        self.sims.get(name).map(|s| s.as_ref())
    }
}
