//! Faithful local simulators of the vendor APIs Engage syncs from, for the demo, the tests and
//! the benchmarks.
//!
//! A simulator ([`Simulator`]) is an axum app served by the framework ([`Sim`]) on 127.0.0.1 and
//! a random port. The framework injects faults per route ([`Faults`]: latency, connection resets,
//! 5xx, 429, truncated bodies, malformed records, auth failures), counts requests per route, and
//! lets the simulator apply its vendor's authentication and rate limits. Data is generated on
//! demand from `(seed, index)`; only mutations are stored ([`Timeline`]), so a million-record
//! dataset costs no memory until it changes. [`GroundTruth`] tells the conformance kit what a
//! correct connector must have stored.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use engage_sandbox::zendesk::{ZendeskOptions, ZendeskSim};
//! let sim = ZendeskSim::start(ZendeskOptions::new(7, 500)).await?;
//! println!("{}", sim.base_url());
//! # Ok(()) }
//! ```

pub mod app_store;
mod credentials;
pub mod delighted;
pub mod faults;
pub mod freshdesk;
pub mod google_business;
pub mod google_play;
pub mod helpscout;
pub mod intercom;
pub mod klaviyo;
pub mod liveagent;
pub mod mailchimp;
pub mod postmark;
pub mod rate;
pub mod registry;
mod review_sites;
pub mod rng;
pub mod sendgrid;
pub mod shopify;
pub mod sim;
pub mod text;
pub mod time;
pub mod timeline;
pub mod trustpilot;
pub mod truth;
pub mod typeform;
pub mod yelp;
pub mod zendesk;

pub use faults::{Fault, Faults};
pub use registry::{RunningSim, SIMULATORS, Sandbox, SandboxOptions};
pub use sim::{Control, DEFAULT_NOW, MUTATION_STEP, Sim, SimConfig, SimState, Simulator};
pub use timeline::{Mutation, Timeline};
pub use truth::{GroundTruth, TruthRecord};
