//! The connector SDK.
//!
//! A connector turns one vendor API into pages of unified records. It implements
//! [`Connector`]: a typed configuration, the streams it offers, a side-effect-free
//! [`check`](Connector::check), and [`read`](Connector::read), which yields an async stream of
//! [`Page`]s — records plus the checkpoint that covers them. The runner stores each page and its
//! checkpoint in one transaction, so the connector never sees the database, the scheduler or the
//! configuration file.
//!
//! Every connector talks HTTP through the one toolkit in [`http`]: authentication, retries with
//! backoff and jitter, `Retry-After` and the vendors' rate-limit headers, a proactive rate limit,
//! timeouts, pagination helpers and error classes live there, once.

mod connector;
mod error;
pub mod http;
pub mod language;
pub mod mapping;
mod paging;
pub mod time;

pub use connector::{
    BuildFn, Checkpoint, Clock, Connector, ConnectorContext, Descriptor, DynConnector, HttpClients,
    HttpTuning, Page, PageStream, StreamSpec, SyncMode, descriptor,
};
pub use error::{ConnectorError, ErrorClass};
pub use paging::{Step, paged, source_id};

/// Re-exported so connector crates name one dependency for their configuration types.
pub use engage_config::{Field, FieldType, Schema, Secret};
