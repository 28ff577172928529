//! The one HTTP toolkit every connector uses.
//!
//! An [`HttpClient`] is built once per connection ([`HttpClient::builder`]) and shared by the
//! connection's streams. [`Request::send`] does everything a connector must not do itself:
//!
//! - **retries** 5xx, 408, timeouts, connection errors and unreadable or (with
//!   [`Request::send_json`]) unparsable bodies, with exponential backoff and full jitter, up to
//!   `max_retries`, then fails with [`ErrorClass::Retry`](crate::ErrorClass::Retry);
//! - **waits out 429s** as the vendor asks (`Retry-After` in seconds or as an HTTP-date,
//!   `X-RateLimit-Reset`/`RateLimit-Reset` as Unix time or seconds, Help Scout's
//!   `X-RateLimit-Retry-After`), else with the backoff, on a budget of its own; a wait longer
//!   than `max_wait` becomes a `Retry` error with `retry_after`, so the scheduler pauses the
//!   stream instead of a task sleeping for hours;
//! - **paces requests** at the configured rate and at the rate the vendor advertises
//!   (`X-Rate-Limit`, `X-RateLimit-Limit`, `RateLimit-Limit`, `X-RateLimit-Total`, Shopify's
//!   call limit), counting a request as many times as the cost the vendor reports for it
//!   (Freshdesk's `X-RateLimit-Used-CurrentRequest`), and stops until the reset when
//!   `*-Remaining` hits 0, across every clone and task of the client;
//! - **classifies** the rest: 401/403/404/other 4xx need a human, with the status, the
//!   request and a redacted excerpt of the body;
//! - **authenticates** ([`Auth`]), including OAuth2 client credentials with a cached token,
//!   and keeps every secret out of messages and logs (`[redacted]`).
//!
//! [`Paginator`] walks the usual pagination styles ([`Pagination`]) and yields a serialisable
//! [`PageCursor`] per page for checkpoints.

mod auth;
mod client;
mod paginate;
mod ratelimit;
mod redact;
mod retry;
#[cfg(test)]
mod tests;

pub use auth::Auth;
pub use client::{HttpClient, HttpClientBuilder, HttpStats, Request, Response, ThrottleBody};
pub use paginate::{FetchedPage, PageCursor, Pagination, Paginator, RequestSpec, next_link, pointer_str};
