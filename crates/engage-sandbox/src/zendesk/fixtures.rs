//! The official Zendesk examples served verbatim (see `fixtures/SOURCES.md`).

use serde_json::Value;

/// `CursorBasedExportIncrementalTicketsResponseExample`.
pub const INCREMENTAL_TICKETS: &str =
    include_str!("../../fixtures/zendesk/oas_incremental_tickets_cursor.json");
/// `CursorBasedExportIncrementalUsersResponseExample`.
pub const INCREMENTAL_USERS: &str = include_str!("../../fixtures/zendesk/oas_incremental_users_cursor.json");
/// `SatisfactionRatingsResponseExample`.
pub const SATISFACTION_RATINGS: &str =
    include_str!("../../fixtures/zendesk/oas_satisfaction_ratings_list.json");
/// The 400 body for an invalid `page[after]`.
pub const ERROR_400_INVALID_PAGINATION: &str =
    include_str!("../../fixtures/zendesk/oas_error_400_invalid_pagination.json");
/// `TicketResponseExample` (not served; the same ticket as the incremental example).
pub const TICKET_SHOW: &str = include_str!("../../fixtures/zendesk/oas_ticket_show.json");

/// The records of an example page's array `key` (empty when the example does not parse).
pub fn records(json: &str, key: &str) -> Vec<Value> {
    match serde_json::from_str::<Value>(json) {
        Ok(Value::Object(mut map)) => match map.remove(key) {
            Some(Value::Array(items)) => items,
            _ => Vec::new(),
        },
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixtures_parse() {
        assert_eq!(records(INCREMENTAL_TICKETS, "tickets").len(), 1);
        assert_eq!(records(INCREMENTAL_USERS, "users").len(), 1);
        assert_eq!(records(SATISFACTION_RATINGS, "satisfaction_ratings").len(), 2);
        assert!(serde_json::from_str::<Value>(ERROR_400_INVALID_PAGINATION).is_ok());
        assert!(serde_json::from_str::<Value>(TICKET_SHOW).is_ok());
    }
}
