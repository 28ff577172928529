//! The unified engagement model: the record types every connector normalises into and every
//! metric reads from. No I/O lives here.
//!
//! A connector turns each source record into a [`Record`]: the source's own id, the raw payload
//! exactly as the source sent it, an optional deletion time, and one [`Entity`] (a ticket, a
//! review, an order...). The store keys every record on (connection, stream, source id).

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

mod text;
pub use text::normalize_email;

/// A UTC instant: time is UTC inside Engage; sources' quirks are parsed at the connector.
pub type Timestamp = DateTime<Utc>;

/// One source record, normalised, ready to be committed to the store.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Record {
    /// The source's own id, as text (ids beyond 32 bits and string ids alike).
    pub source_id: String,
    /// The payload exactly as the source sent it (kept so schema drift never loses data).
    pub raw: Box<RawValue>,
    /// When the source deleted the record, if it did.
    pub deleted_at: Option<Timestamp>,
    /// A deletion that does not say what the record held (see [`Record::tombstone`]).
    #[serde(default)]
    pub tombstone: bool,
    /// The unified entity.
    pub entity: Entity,
}

impl Record {
    /// Builds a record from its source id, raw payload and entity (not deleted).
    pub fn new(source_id: impl Into<String>, raw: Box<RawValue>, entity: impl Into<Entity>) -> Self {
        Self { source_id: source_id.into(), raw, deleted_at: None, tombstone: false, entity: entity.into() }
    }

    /// A record the source deleted without saying what it held (a review missing from a full
    /// listing): the store marks the row it already has deleted at `at` and keeps its content;
    /// only a record it never had is stored from this one's `raw` and `entity`.
    pub fn tombstone(
        source_id: impl Into<String>,
        raw: Box<RawValue>,
        entity: impl Into<Entity>,
        at: Timestamp,
    ) -> Self {
        Self { tombstone: true, ..Self::new(source_id, raw, entity).deleted(at) }
    }

    /// Marks the record deleted at `at`.
    pub fn deleted(mut self, at: Timestamp) -> Self {
        self.deleted_at = Some(at);
        self
    }

    /// The kind of entity this record holds.
    pub fn kind(&self) -> EntityKind {
        self.entity.kind()
    }
}

/// A source record that could not be turned into a [`Record`]; kept with the reason so that
/// nothing is lost, and stored in the quarantine table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quarantined {
    /// The source id, when it could be read.
    pub source_id: Option<String>,
    /// The payload as received (not necessarily valid JSON).
    pub raw: String,
    /// Why it was rejected.
    pub reason: String,
}

/// Parses `json` into a raw payload, or returns the JSON error.
pub fn raw_json(json: &str) -> Result<Box<RawValue>, serde_json::Error> {
    RawValue::from_string(json.to_owned())
}

/// The unified entities.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "entity", rename_all = "snake_case")]
#[allow(clippy::large_enum_variant)]
pub enum Entity {
    /// A person as one source knows them (contact, user, profile, subscriber).
    Identity(Identity),
    /// A helpdesk ticket or conversation.
    Ticket(Ticket),
    /// A review on a review site or app store.
    Review(Review),
    /// An email campaign with the vendor's aggregate report counts.
    EmailCampaign(EmailCampaign),
    /// One per-recipient email event.
    EmailEvent(EmailEvent),
    /// One answer to a survey question.
    SurveyResponse(SurveyResponse),
    /// An order in a shop.
    Order(Order),
    /// A timeline entry for one customer.
    Interaction(Interaction),
}

/// The entity kinds, one table each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntityKind {
    /// See [`Identity`].
    Identity,
    /// See [`Ticket`].
    Ticket,
    /// See [`Review`].
    Review,
    /// See [`EmailCampaign`].
    EmailCampaign,
    /// See [`EmailEvent`].
    EmailEvent,
    /// See [`SurveyResponse`].
    SurveyResponse,
    /// See [`Order`].
    Order,
    /// See [`Interaction`].
    Interaction,
}

impl EntityKind {
    /// Every kind, in a fixed order.
    pub const ALL: [EntityKind; 8] = [
        EntityKind::Identity,
        EntityKind::Ticket,
        EntityKind::Review,
        EntityKind::EmailCampaign,
        EntityKind::EmailEvent,
        EntityKind::SurveyResponse,
        EntityKind::Order,
        EntityKind::Interaction,
    ];

    /// The store table that holds this kind.
    pub fn table(self) -> &'static str {
        match self {
            EntityKind::Identity => "identities",
            EntityKind::Ticket => "tickets",
            EntityKind::Review => "reviews",
            EntityKind::EmailCampaign => "email_campaigns",
            EntityKind::EmailEvent => "email_events",
            EntityKind::SurveyResponse => "survey_responses",
            EntityKind::Order => "orders",
            EntityKind::Interaction => "interactions",
        }
    }
}

impl Entity {
    /// The kind of this entity.
    pub fn kind(&self) -> EntityKind {
        match self {
            Entity::Identity(_) => EntityKind::Identity,
            Entity::Ticket(_) => EntityKind::Ticket,
            Entity::Review(_) => EntityKind::Review,
            Entity::EmailCampaign(_) => EntityKind::EmailCampaign,
            Entity::EmailEvent(_) => EntityKind::EmailEvent,
            Entity::SurveyResponse(_) => EntityKind::SurveyResponse,
            Entity::Order(_) => EntityKind::Order,
            Entity::Interaction(_) => EntityKind::Interaction,
        }
    }
}

macro_rules! entity_from {
    ($($ty:ident),*) => {$(
        impl From<$ty> for Entity {
            fn from(value: $ty) -> Self {
                Entity::$ty(value)
            }
        }
    )*};
}
entity_from!(Identity, Ticket, Review, EmailCampaign, EmailEvent, SurveyResponse, Order, Interaction);

/// A person as one source knows them. The store links identities that share a normalised email,
/// a phone or a source id into one unified customer.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Identity {
    /// Email address as the source gave it.
    pub email: Option<String>,
    /// Phone number as the source gave it.
    pub phone: Option<String>,
    /// Display name.
    pub name: Option<String>,
    /// When the source created the person.
    pub created_at: Option<Timestamp>,
    /// When the source last changed the person.
    pub updated_at: Option<Timestamp>,
}

/// A helpdesk ticket or conversation, with the vendor's own duration metrics where it gives them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Ticket {
    /// Source id of the requester (an [`Identity`] of the same connection).
    pub customer_source_id: Option<String>,
    /// Requester email when the source gives it inline.
    pub customer_email: Option<String>,
    /// Subject line.
    pub subject: Option<String>,
    /// Channel it arrived through, lower case (`email`, `web`, `chat`, `phone`, `api`...).
    pub channel: Option<String>,
    /// Status, lower case (`new`, `open`, `pending`, `hold`, `solved`, `closed`).
    pub status: Option<String>,
    /// Priority, lower case.
    pub priority: Option<String>,
    /// Creation time.
    pub created_at: Option<Timestamp>,
    /// Last update time in the source.
    pub updated_at: Option<Timestamp>,
    /// First public agent reply.
    pub first_reply_at: Option<Timestamp>,
    /// Latest solve.
    pub solved_at: Option<Timestamp>,
    /// First reply time in calendar minutes, as the vendor computed it.
    pub first_reply_minutes: Option<f64>,
    /// First resolution time in calendar minutes.
    pub first_resolution_minutes: Option<f64>,
    /// Full resolution time in calendar minutes.
    pub full_resolution_minutes: Option<f64>,
    /// Times the ticket was reopened.
    pub reopens: Option<i64>,
    /// Public agent replies.
    pub replies: Option<i64>,
    /// Satisfaction rating given on the ticket (`good`, `bad`, `offered`, `unoffered`, or a score).
    pub satisfaction: Option<String>,
}

/// A review on a review site or app store.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Review {
    /// Platform (`google_business`, `yelp`, `trustpilot`, `app_store`, `google_play`...).
    pub platform: String,
    /// The location, business unit or app reviewed.
    pub location: Option<String>,
    /// Rating normalised to 1–5.
    pub rating: Option<f64>,
    /// Rating exactly as the source gave it (`FOUR`, `4`, ...).
    pub source_rating: Option<String>,
    /// The source's scale (`1-5`, `ONE-FIVE`...).
    pub source_scale: Option<String>,
    /// Title, when the platform has one.
    pub title: Option<String>,
    /// Text, exactly as written.
    pub body: Option<String>,
    /// Detected language (ISO 639-1 where known).
    pub language: Option<String>,
    /// Author display name.
    pub author: Option<String>,
    /// Author's source id, when the platform gives one.
    pub customer_source_id: Option<String>,
    /// Creation time.
    pub created_at: Option<Timestamp>,
    /// Last edit time.
    pub updated_at: Option<Timestamp>,
    /// The owner's reply text.
    pub reply_body: Option<String>,
    /// When the owner replied (or last edited the reply).
    pub reply_at: Option<Timestamp>,
    /// Link to the review.
    pub url: Option<String>,
}

/// An email campaign with the aggregate counts of the vendor's report.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EmailCampaign {
    /// Platform (`mailchimp`, `sendgrid`, `klaviyo`, `postmark`...).
    pub platform: String,
    /// Campaign name.
    pub name: Option<String>,
    /// Subject line.
    pub subject: Option<String>,
    /// Send time.
    pub sent_at: Option<Timestamp>,
    /// Recipients the campaign was sent to.
    pub recipients: Option<i64>,
    /// Hard bounces.
    pub hard_bounces: Option<i64>,
    /// Soft bounces.
    pub soft_bounces: Option<i64>,
    /// Unique opening recipients, machine opens included.
    pub unique_opens: Option<i64>,
    /// Unique opening recipients with machine (privacy-proxy) opens excluded.
    pub unique_opens_human: Option<i64>,
    /// All opens, repeats included.
    pub total_opens: Option<i64>,
    /// Unique clicking recipients.
    pub unique_clickers: Option<i64>,
    /// Unique link clicks.
    pub unique_clicks: Option<i64>,
    /// All clicks.
    pub total_clicks: Option<i64>,
    /// Unsubscribes.
    pub unsubscribes: Option<i64>,
    /// Spam (abuse) reports.
    pub spam_reports: Option<i64>,
}

/// What happened to one email for one recipient.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EmailEventKind {
    /// Accepted for sending.
    Processed,
    /// Delivered to the receiving server.
    Delivered,
    /// Opened (see [`EmailEvent::machine_open`]).
    Open,
    /// A link was clicked.
    Click,
    /// Bounced.
    Bounce,
    /// Dropped before sending.
    Dropped,
    /// Delivery deferred.
    Deferred,
    /// Recipient unsubscribed.
    Unsubscribe,
    /// Recipient reported spam.
    SpamReport,
    /// Anything else the vendor reports.
    Other,
}

impl EmailEventKind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            EmailEventKind::Processed => "processed",
            EmailEventKind::Delivered => "delivered",
            EmailEventKind::Open => "open",
            EmailEventKind::Click => "click",
            EmailEventKind::Bounce => "bounce",
            EmailEventKind::Dropped => "dropped",
            EmailEventKind::Deferred => "deferred",
            EmailEventKind::Unsubscribe => "unsubscribe",
            EmailEventKind::SpamReport => "spam_report",
            EmailEventKind::Other => "other",
        }
    }
}

/// One per-recipient email event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmailEvent {
    /// Platform.
    pub platform: String,
    /// Campaign (or message stream) it belongs to.
    pub campaign_source_id: Option<String>,
    /// Recipient email.
    pub email: Option<String>,
    /// Recipient's source id.
    pub customer_source_id: Option<String>,
    /// What happened.
    pub kind: EmailEventKind,
    /// When it happened.
    pub occurred_at: Option<Timestamp>,
    /// True for opens made by a machine (Apple Mail Privacy Protection, prefetching scanners).
    pub machine_open: bool,
    /// Clicked URL.
    pub url: Option<String>,
    /// Bounce classification (`hard`, `soft`, vendor words).
    pub bounce_type: Option<String>,
}

/// What a survey question measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SurveyKind {
    /// Net Promoter Score, 0–10.
    Nps,
    /// Customer satisfaction.
    Csat,
    /// Customer effort score.
    Ces,
    /// "How did you hear about us" and other referral questions.
    Referral,
    /// Anything else.
    Custom,
}

impl SurveyKind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            SurveyKind::Nps => "nps",
            SurveyKind::Csat => "csat",
            SurveyKind::Ces => "ces",
            SurveyKind::Referral => "referral",
            SurveyKind::Custom => "custom",
        }
    }
}

/// One answer to a survey question.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SurveyResponse {
    /// Platform.
    pub platform: String,
    /// Survey or form id.
    pub survey_id: Option<String>,
    /// The question asked.
    pub question: Option<String>,
    /// What the question measures.
    pub kind: SurveyKind,
    /// Numeric score.
    pub score: Option<f64>,
    /// Lowest possible score.
    pub scale_min: Option<f64>,
    /// Highest possible score.
    pub scale_max: Option<f64>,
    /// Free-text comment or answer.
    pub comment: Option<String>,
    /// Respondent's source id.
    pub customer_source_id: Option<String>,
    /// Respondent email.
    pub customer_email: Option<String>,
    /// When it was answered.
    pub answered_at: Option<Timestamp>,
}

/// An order in a shop.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Order {
    /// Platform (`shopify`, `files`...).
    pub platform: String,
    /// Buyer's source id; `None` for a guest checkout.
    pub customer_source_id: Option<String>,
    /// Buyer email.
    pub customer_email: Option<String>,
    /// Creation time.
    pub created_at: Option<Timestamp>,
    /// Last update time.
    pub updated_at: Option<Timestamp>,
    /// ISO 4217 currency code.
    pub currency: Option<String>,
    /// Order total, exact.
    pub total: Decimal,
    /// Amount refunded so far, exact.
    pub refunded: Decimal,
    /// Items in the order.
    pub item_count: Option<i64>,
    /// True when bought without a customer account.
    pub guest: bool,
    /// Cancellation time.
    pub cancelled_at: Option<Timestamp>,
    /// Payment status as the shop reports it.
    pub financial_status: Option<String>,
}

/// Engagement channel of an interaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// Email marketing.
    Email,
    /// Helpdesk.
    Helpdesk,
    /// Reviews.
    Review,
    /// Surveys.
    Survey,
    /// Shop.
    Shop,
    /// Web or product analytics.
    Web,
    /// Social networks.
    Social,
}

impl Channel {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Email => "email",
            Channel::Helpdesk => "helpdesk",
            Channel::Review => "review",
            Channel::Survey => "survey",
            Channel::Shop => "shop",
            Channel::Web => "web",
            Channel::Social => "social",
        }
    }
}

/// One entry of a customer's timeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Interaction {
    /// Customer's source id.
    pub customer_source_id: Option<String>,
    /// Customer email.
    pub customer_email: Option<String>,
    /// Channel.
    pub channel: Channel,
    /// What happened (`order`, `ticket_created`, `email_open`, `review`, `visit`...).
    pub kind: String,
    /// When.
    pub occurred_at: Option<Timestamp>,
    /// A numeric value (order amount, rating, score, seconds on site).
    pub value: Option<f64>,
}
