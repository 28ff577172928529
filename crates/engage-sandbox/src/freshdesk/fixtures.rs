//! The official Freshdesk examples served verbatim (see `fixtures/SOURCES.md`).

use serde_json::Value;

/// A ticket as `GET /api/v2/tickets/1?include=stats,requester` returns it (python-freshdesk).
pub const TICKET: &str =
    include_str!("../../fixtures/freshdesk/python_freshdesk_ticket_show_include_stats_requester.json");
/// The conversations of that ticket (python-freshdesk).
pub const CONVERSATIONS: &str =
    include_str!("../../fixtures/freshdesk/python_freshdesk_ticket_conversations.json");
/// The documentation's example of `GET /api/v2/surveys/satisfaction_ratings`; its second rating
/// carries the malformed timestamps `2015-08-28T010:08:16Z` of the published example.
pub const SATISFACTION_RATINGS: &str =
    include_str!("../../fixtures/freshdesk/docs_satisfaction_ratings_list.json");
/// The 400 answered for `page=301` of the ticket list.
pub const ERROR_400_PAGE_BEYOND_300: &str =
    include_str!("../../fixtures/freshdesk/error_400_page_beyond_300.json");

/// The items of a JSON array example (empty when it does not parse).
pub fn items(json: &str) -> Vec<Value> {
    match serde_json::from_str::<Value>(json) {
        Ok(Value::Array(items)) => items,
        _ => Vec::new(),
    }
}

/// An example object (`Null` when it does not parse).
pub fn object(json: &str) -> Value {
    serde_json::from_str(json).unwrap_or(Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixtures_parse() {
        assert_eq!(object(TICKET)["id"], 1);
        assert_eq!(items(CONVERSATIONS).len(), 2);
        assert_eq!(items(SATISFACTION_RATINGS).len(), 2);
        assert_eq!(object(ERROR_400_PAGE_BEYOND_300)["errors"][0]["field"], "page");
    }
}
