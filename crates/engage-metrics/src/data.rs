//! The rows metrics read, as unified entities tagged with their connection, and the filters
//! that narrow them.

use engage_model::{
    EmailCampaign, EmailEvent, Entity, Identity, Interaction, Order, Review, SurveyResponse, Ticket,
};
use engage_store::StoredEntity;
use serde::Serialize;

/// One stored record: its connection, source id and entity.
#[derive(Debug, Clone, PartialEq)]
pub struct Row<T> {
    /// The connection that synced it.
    pub connection: String,
    /// The source's id.
    pub source_id: String,
    /// The entity.
    pub entity: T,
}

impl<T> Row<T> {
    /// A row of `connection` with id `source_id`.
    pub fn new(connection: &str, source_id: &str, entity: T) -> Row<T> {
        Row { connection: connection.to_owned(), source_id: source_id.to_owned(), entity }
    }
}

/// Everything a metric may read. Each metric reads only the kinds it names.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Rows {
    /// Identities (for customer linking).
    pub identities: Vec<Row<Identity>>,
    /// Helpdesk tickets.
    pub tickets: Vec<Row<Ticket>>,
    /// Reviews.
    pub reviews: Vec<Row<Review>>,
    /// Email campaigns with report counts.
    pub campaigns: Vec<Row<EmailCampaign>>,
    /// Per-recipient email events.
    pub email_events: Vec<Row<EmailEvent>>,
    /// Survey answers.
    pub surveys: Vec<Row<SurveyResponse>>,
    /// Orders.
    pub orders: Vec<Row<Order>>,
    /// Timeline interactions (web visits, social, referral events...).
    pub interactions: Vec<Row<Interaction>>,
}

impl Rows {
    /// Adds stored records (deleted ones are skipped: metrics count live records).
    pub fn extend(&mut self, stored: Vec<StoredEntity>) {
        for s in stored {
            if s.deleted_at.is_some() {
                continue;
            }
            let (connection, source_id) = (s.connection, s.source_id);
            macro_rules! push {
                ($field:ident, $e:expr) => {
                    self.$field.push(Row { connection, source_id, entity: $e })
                };
            }
            match s.entity {
                Entity::Identity(e) => push!(identities, e),
                Entity::Ticket(e) => push!(tickets, e),
                Entity::Review(e) => push!(reviews, e),
                Entity::EmailCampaign(e) => push!(campaigns, e),
                Entity::EmailEvent(e) => push!(email_events, e),
                Entity::SurveyResponse(e) => push!(surveys, e),
                Entity::Order(e) => push!(orders, e),
                Entity::Interaction(e) => push!(interactions, e),
            }
        }
    }

    /// Keeps only the rows that pass `filters`.
    pub fn filtered(mut self, filters: &Filters) -> Rows {
        let conn = |c: &str| filters.connections.is_empty() || filters.connections.iter().any(|f| f == c);
        let chan = |c: Option<&str>| {
            filters.channels.is_empty() || c.is_some_and(|c| filters.channels.iter().any(|f| f == c))
        };
        let loc = |l: Option<&str>| {
            filters.locations.is_empty() || l.is_some_and(|l| filters.locations.iter().any(|f| f == l))
        };
        self.identities.retain(|r| conn(&r.connection));
        self.tickets.retain(|r| conn(&r.connection) && chan(r.entity.channel.as_deref()));
        self.reviews.retain(|r| conn(&r.connection) && loc(r.entity.location.as_deref()));
        self.campaigns.retain(|r| conn(&r.connection));
        self.email_events.retain(|r| conn(&r.connection));
        self.surveys.retain(|r| conn(&r.connection));
        self.orders.retain(|r| conn(&r.connection));
        self.interactions.retain(|r| conn(&r.connection) && chan(Some(r.entity.channel.as_str())));
        self
    }
}

/// Narrows the rows a metric reads.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Filters {
    /// Only these connections (all when empty).
    pub connections: Vec<String>,
    /// Only tickets arriving through these channels (`email`, `chat`...) and interactions of
    /// these channels (`web`, `social`...); all when empty. Other tables are not narrowed.
    pub channels: Vec<String>,
    /// Only reviews of these locations or apps (all when empty).
    pub locations: Vec<String>,
}
