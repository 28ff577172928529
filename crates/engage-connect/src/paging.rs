//! Building a connector's page stream from a step function.

use futures::StreamExt;

use crate::{ConnectorError, Page, PageStream};

/// What one step of a paged read produced.
pub enum Step<S> {
    /// A page, and the state to fetch the next one from.
    Page(Page, S),
    /// The last page.
    Last(Page),
    /// Nothing more.
    Done,
}

/// A [`PageStream`] that calls `step` with the current state until it returns [`Step::Last`],
/// [`Step::Done`] or an error (which ends the stream after being yielded).
pub fn paged<'a, S, F, Fut>(initial: S, step: F) -> PageStream<'a>
where
    S: Send + 'a,
    F: FnMut(S) -> Fut + Send + 'a,
    Fut: std::future::Future<Output = Result<Step<S>, ConnectorError>> + Send + 'a,
{
    futures::stream::unfold(Some((initial, step)), |current| async move {
        let (state, mut step) = current?;
        match step(state).await {
            Ok(Step::Page(page, next)) => Some((Ok(page), Some((next, step)))),
            Ok(Step::Last(page)) => Some((Ok(page), None)),
            Ok(Step::Done) => None,
            Err(error) => Some((Err(error), None)),
        }
    })
    .boxed()
}

/// The source id of a JSON record: its `field` as text, whether the source sent a number or a
/// string (ids beyond 32 bits and string ids alike).
pub fn source_id(record: &serde_json::Value, field: &str) -> Option<String> {
    match record.get(field)? {
        serde_json::Value::String(s) if !s.is_empty() => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}
