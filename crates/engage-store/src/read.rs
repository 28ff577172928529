//! The typed read API: stored records back as unified entities, filtered by connection and by
//! a half-open time range on the kind's attribution column. Metrics read through it.

use std::str::FromStr;

use chrono::{DateTime, Utc};
use engage_model::{
    Channel, EmailCampaign, EmailEvent, EmailEventKind, Entity, EntityKind, Identity, Interaction, Order,
    Review, SurveyKind, SurveyResponse, Ticket, Timestamp,
};
use rust_decimal::Decimal;
use sqlx::Row;
use sqlx::postgres::PgRow;
use sqlx::sqlite::SqliteRow;

use crate::columns::sqlite_time;
use crate::{Pool, Result, Store, StoreError};

/// Which stored records to read.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReadFilter {
    /// Only records whose time column is at or after this instant.
    pub from: Option<Timestamp>,
    /// Only records whose time column is before this instant (half-open).
    pub to: Option<Timestamp>,
    /// The time column the range applies to; `None` uses [`default_time_column`].
    pub time_column: Option<&'static str>,
    /// Only these connections (all when empty).
    pub connections: Vec<String>,
    /// Include records the source deleted (left out by default).
    pub include_deleted: bool,
}

/// One stored record as a unified entity.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredEntity {
    /// The connection that synced it.
    pub connection: String,
    /// The stream that read it.
    pub stream: String,
    /// The source's own id.
    pub source_id: String,
    /// When the source deleted it.
    pub deleted_at: Option<Timestamp>,
    /// The entity.
    pub entity: Entity,
}

/// The column a kind's records are attributed to time by: `created_at` for identities,
/// tickets, reviews and orders; `sent_at` for campaigns; `occurred_at` for email events and
/// interactions; `answered_at` for survey responses.
pub fn default_time_column(kind: EntityKind) -> &'static str {
    match kind {
        EntityKind::Identity | EntityKind::Ticket | EntityKind::Review | EntityKind::Order => "created_at",
        EntityKind::EmailCampaign => "sent_at",
        EntityKind::EmailEvent | EntityKind::Interaction => "occurred_at",
        EntityKind::SurveyResponse => "answered_at",
    }
}

/// Column types of the entity tables, in table order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ty {
    Text,
    Int,
    Real,
    Bool,
    Time,
    Decimal,
}

/// The entity columns of `kind` with their types, in table order.
pub(crate) fn columns_of(kind: EntityKind) -> &'static [(&'static str, Ty)] {
    use Ty::*;
    match kind {
        EntityKind::Identity => &[
            ("email", Text),
            ("email_normalized", Text),
            ("phone", Text),
            ("name", Text),
            ("created_at", Time),
            ("updated_at", Time),
        ],
        EntityKind::Ticket => &[
            ("customer_source_id", Text),
            ("customer_email", Text),
            ("subject", Text),
            ("channel", Text),
            ("status", Text),
            ("priority", Text),
            ("created_at", Time),
            ("updated_at", Time),
            ("first_reply_at", Time),
            ("solved_at", Time),
            ("first_reply_minutes", Real),
            ("first_resolution_minutes", Real),
            ("full_resolution_minutes", Real),
            ("reopens", Int),
            ("replies", Int),
            ("satisfaction", Text),
        ],
        EntityKind::Review => &[
            ("platform", Text),
            ("location", Text),
            ("rating", Real),
            ("source_rating", Text),
            ("source_scale", Text),
            ("title", Text),
            ("body", Text),
            ("language", Text),
            ("author", Text),
            ("customer_source_id", Text),
            ("created_at", Time),
            ("updated_at", Time),
            ("reply_body", Text),
            ("reply_at", Time),
            ("url", Text),
        ],
        EntityKind::EmailCampaign => &[
            ("platform", Text),
            ("name", Text),
            ("subject", Text),
            ("sent_at", Time),
            ("recipients", Int),
            ("hard_bounces", Int),
            ("soft_bounces", Int),
            ("unique_opens", Int),
            ("unique_opens_human", Int),
            ("total_opens", Int),
            ("unique_clickers", Int),
            ("unique_clicks", Int),
            ("total_clicks", Int),
            ("unsubscribes", Int),
            ("spam_reports", Int),
        ],
        EntityKind::EmailEvent => &[
            ("platform", Text),
            ("campaign_source_id", Text),
            ("email", Text),
            ("customer_source_id", Text),
            ("kind", Text),
            ("occurred_at", Time),
            ("machine_open", Bool),
            ("url", Text),
            ("bounce_type", Text),
        ],
        EntityKind::SurveyResponse => &[
            ("platform", Text),
            ("survey_id", Text),
            ("question", Text),
            ("kind", Text),
            ("score", Real),
            ("scale_min", Real),
            ("scale_max", Real),
            ("comment", Text),
            ("customer_source_id", Text),
            ("customer_email", Text),
            ("answered_at", Time),
        ],
        EntityKind::Order => &[
            ("platform", Text),
            ("customer_source_id", Text),
            ("customer_email", Text),
            ("created_at", Time),
            ("updated_at", Time),
            ("currency", Text),
            ("total", Decimal),
            ("refunded", Decimal),
            ("item_count", Int),
            ("guest", Bool),
            ("cancelled_at", Time),
            ("financial_status", Text),
        ],
        EntityKind::Interaction => &[
            ("customer_source_id", Text),
            ("customer_email", Text),
            ("channel", Text),
            ("kind", Text),
            ("occurred_at", Time),
            ("value", Real),
            ("customer_email_normalized", Text),
        ],
    }
}

/// Whether `column` is a time column of `kind`'s table.
pub(crate) fn is_time_column(kind: EntityKind, column: &str) -> bool {
    columns_of(kind).iter().any(|(c, t)| *c == column && *t == Ty::Time)
}

/// Reads one typed value of a result row by index, on either backend.
trait Get {
    fn text(&self, i: usize) -> Result<Option<String>>;
    fn int(&self, i: usize) -> Result<Option<i64>>;
    fn real(&self, i: usize) -> Result<Option<f64>>;
    fn boolean(&self, i: usize) -> Result<bool>;
    fn time(&self, i: usize) -> Result<Option<Timestamp>>;
}

impl Get for SqliteRow {
    fn text(&self, i: usize) -> Result<Option<String>> {
        Ok(self.try_get(i)?)
    }
    fn int(&self, i: usize) -> Result<Option<i64>> {
        Ok(self.try_get(i)?)
    }
    fn real(&self, i: usize) -> Result<Option<f64>> {
        Ok(self.try_get(i)?)
    }
    fn boolean(&self, i: usize) -> Result<bool> {
        Ok(self.try_get::<i64, _>(i)? != 0)
    }
    fn time(&self, i: usize) -> Result<Option<Timestamp>> {
        let text: Option<String> = self.try_get(i)?;
        text.map(|t| {
            DateTime::parse_from_rfc3339(&t)
                .map(|d| d.with_timezone(&Utc))
                .map_err(|e| StoreError::Record(format!("stored time `{t}`: {e}")))
        })
        .transpose()
    }
}

impl Get for PgRow {
    fn text(&self, i: usize) -> Result<Option<String>> {
        Ok(self.try_get(i)?)
    }
    fn int(&self, i: usize) -> Result<Option<i64>> {
        Ok(self.try_get(i)?)
    }
    fn real(&self, i: usize) -> Result<Option<f64>> {
        Ok(self.try_get(i)?)
    }
    fn boolean(&self, i: usize) -> Result<bool> {
        Ok(self.try_get(i)?)
    }
    fn time(&self, i: usize) -> Result<Option<Timestamp>> {
        Ok(self.try_get(i)?)
    }
}

/// Walks a row's columns in order.
struct Cursor<'r, R> {
    row: &'r R,
    i: usize,
}

impl<R: Get> Cursor<'_, R> {
    fn next(&mut self) -> usize {
        self.i += 1;
        self.i - 1
    }
    fn text(&mut self) -> Result<Option<String>> {
        let i = self.next();
        self.row.text(i)
    }
    fn string(&mut self) -> Result<String> {
        Ok(self.text()?.unwrap_or_default())
    }
    fn int(&mut self) -> Result<Option<i64>> {
        let i = self.next();
        self.row.int(i)
    }
    fn real(&mut self) -> Result<Option<f64>> {
        let i = self.next();
        self.row.real(i)
    }
    fn boolean(&mut self) -> Result<bool> {
        let i = self.next();
        self.row.boolean(i)
    }
    fn time(&mut self) -> Result<Option<Timestamp>> {
        let i = self.next();
        self.row.time(i)
    }
    /// Money is selected as text on both backends and parsed exactly.
    fn decimal(&mut self) -> Result<Decimal> {
        let text = self.string()?;
        Decimal::from_str(&text)
            .or_else(|_| Decimal::from_scientific(&text))
            .map_err(|e| StoreError::Record(format!("stored amount `{text}`: {e}")))
    }
}

fn decode<R: Get>(kind: EntityKind, row: &R) -> Result<StoredEntity> {
    let mut c = Cursor { row, i: 0 };
    let connection = c.string()?;
    let stream = c.string()?;
    let source_id = c.string()?;
    let entity = match kind {
        EntityKind::Identity => {
            let email = c.text()?;
            let _normalized = c.text()?;
            Entity::Identity(Identity {
                email,
                phone: c.text()?,
                name: c.text()?,
                created_at: c.time()?,
                updated_at: c.time()?,
            })
        }
        EntityKind::Ticket => Entity::Ticket(Ticket {
            customer_source_id: c.text()?,
            customer_email: c.text()?,
            subject: c.text()?,
            channel: c.text()?,
            status: c.text()?,
            priority: c.text()?,
            created_at: c.time()?,
            updated_at: c.time()?,
            first_reply_at: c.time()?,
            solved_at: c.time()?,
            first_reply_minutes: c.real()?,
            first_resolution_minutes: c.real()?,
            full_resolution_minutes: c.real()?,
            reopens: c.int()?,
            replies: c.int()?,
            satisfaction: c.text()?,
        }),
        EntityKind::Review => Entity::Review(Review {
            platform: c.string()?,
            location: c.text()?,
            rating: c.real()?,
            source_rating: c.text()?,
            source_scale: c.text()?,
            title: c.text()?,
            body: c.text()?,
            language: c.text()?,
            author: c.text()?,
            customer_source_id: c.text()?,
            created_at: c.time()?,
            updated_at: c.time()?,
            reply_body: c.text()?,
            reply_at: c.time()?,
            url: c.text()?,
        }),
        EntityKind::EmailCampaign => Entity::EmailCampaign(EmailCampaign {
            platform: c.string()?,
            name: c.text()?,
            subject: c.text()?,
            sent_at: c.time()?,
            recipients: c.int()?,
            hard_bounces: c.int()?,
            soft_bounces: c.int()?,
            unique_opens: c.int()?,
            unique_opens_human: c.int()?,
            total_opens: c.int()?,
            unique_clickers: c.int()?,
            unique_clicks: c.int()?,
            total_clicks: c.int()?,
            unsubscribes: c.int()?,
            spam_reports: c.int()?,
        }),
        EntityKind::EmailEvent => Entity::EmailEvent(EmailEvent {
            platform: c.string()?,
            campaign_source_id: c.text()?,
            email: c.text()?,
            customer_source_id: c.text()?,
            kind: email_event_kind(&c.string()?),
            occurred_at: c.time()?,
            machine_open: c.boolean()?,
            url: c.text()?,
            bounce_type: c.text()?,
        }),
        EntityKind::SurveyResponse => Entity::SurveyResponse(SurveyResponse {
            platform: c.string()?,
            survey_id: c.text()?,
            question: c.text()?,
            kind: survey_kind(&c.string()?),
            score: c.real()?,
            scale_min: c.real()?,
            scale_max: c.real()?,
            comment: c.text()?,
            customer_source_id: c.text()?,
            customer_email: c.text()?,
            answered_at: c.time()?,
        }),
        EntityKind::Order => Entity::Order(Order {
            platform: c.string()?,
            customer_source_id: c.text()?,
            customer_email: c.text()?,
            created_at: c.time()?,
            updated_at: c.time()?,
            currency: c.text()?,
            total: c.decimal()?,
            refunded: c.decimal()?,
            item_count: c.int()?,
            guest: c.boolean()?,
            cancelled_at: c.time()?,
            financial_status: c.text()?,
        }),
        EntityKind::Interaction => {
            let customer_source_id = c.text()?;
            let customer_email = c.text()?;
            let channel = channel(&c.string()?);
            let interaction = Interaction {
                customer_source_id,
                customer_email,
                channel,
                kind: c.string()?,
                occurred_at: c.time()?,
                value: c.real()?,
            };
            let _normalized = c.text()?;
            Entity::Interaction(interaction)
        }
    };
    let deleted_at = c.time()?;
    Ok(StoredEntity { connection, stream, source_id, deleted_at, entity })
}

fn email_event_kind(s: &str) -> EmailEventKind {
    use EmailEventKind::*;
    [Processed, Delivered, Open, Click, Bounce, Dropped, Deferred, Unsubscribe, SpamReport]
        .into_iter()
        .find(|k| k.as_str() == s)
        .unwrap_or(Other)
}

fn survey_kind(s: &str) -> SurveyKind {
    use SurveyKind::*;
    [Nps, Csat, Ces, Referral].into_iter().find(|k| k.as_str() == s).unwrap_or(Custom)
}

fn channel(s: &str) -> Channel {
    use Channel::*;
    [Email, Helpdesk, Review, Survey, Shop, Web].into_iter().find(|k| k.as_str() == s).unwrap_or(Social)
}

/// The SELECT list of `kind`: keys, entity columns (money as text), `deleted_at`.
fn select_list(kind: EntityKind, postgres: bool) -> String {
    let mut cols = vec!["connection".to_owned(), "stream".to_owned(), "source_id".to_owned()];
    for (name, ty) in columns_of(kind) {
        cols.push(match (ty, postgres) {
            (Ty::Decimal, true) => format!("{name}::text"),
            (Ty::Decimal, false) => format!("CAST({name} AS TEXT)"),
            _ => (*name).to_owned(),
        });
    }
    cols.push("deleted_at".to_owned());
    cols.join(", ")
}

/// A bind value of a generated statement.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Bind {
    Text(String),
    Time(Timestamp),
}

/// The WHERE clause of `filter` for `kind`, with its binds (`?` placeholders; PostgreSQL
/// numbering is applied by [`number_placeholders`]).
pub(crate) fn where_clause(kind: EntityKind, filter: &ReadFilter) -> Result<(String, Vec<Bind>)> {
    let column = filter.time_column.unwrap_or(default_time_column(kind));
    if !is_time_column(kind, column) {
        return Err(StoreError::Record(format!("`{column}` is not a time column of {}", kind.table())));
    }
    let mut conds = Vec::new();
    let mut binds = Vec::new();
    if !filter.include_deleted {
        conds.push("deleted_at IS NULL".to_owned());
    }
    if let Some(from) = filter.from {
        conds.push(format!("{column} >= ?"));
        binds.push(Bind::Time(from));
    }
    if let Some(to) = filter.to {
        conds.push(format!("{column} < ?"));
        binds.push(Bind::Time(to));
    }
    if !filter.connections.is_empty() {
        let marks = vec!["?"; filter.connections.len()].join(", ");
        conds.push(format!("connection IN ({marks})"));
        binds.extend(filter.connections.iter().cloned().map(Bind::Text));
    }
    let sql = if conds.is_empty() { String::new() } else { format!(" WHERE {}", conds.join(" AND ")) };
    Ok((sql, binds))
}

/// Rewrites `?` placeholders as `$1, $2...` for PostgreSQL (generated SQL holds no `?` in text).
pub(crate) fn number_placeholders(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 8);
    let mut n = 0;
    for ch in sql.chars() {
        if ch == '?' {
            n += 1;
            out.push_str(&format!("${n}"));
        } else {
            out.push(ch);
        }
    }
    out
}

pub(crate) fn bind_sqlite<'q>(
    mut q: sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments<'q>>,
    binds: &'q [Bind],
) -> sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments<'q>> {
    for b in binds {
        q = match b {
            Bind::Text(t) => q.bind(t.as_str()),
            Bind::Time(t) => q.bind(sqlite_time(t)),
        };
    }
    q
}

pub(crate) fn bind_postgres<'q>(
    mut q: sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>,
    binds: &'q [Bind],
) -> sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments> {
    for b in binds {
        q = match b {
            Bind::Text(t) => q.bind(t.as_str()),
            Bind::Time(t) => q.bind(*t),
        };
    }
    q
}

impl Store {
    /// Reads the stored records of `kind` that pass `filter`, as unified entities, ordered by
    /// connection, stream and source id.
    pub async fn read_entities(&self, kind: EntityKind, filter: &ReadFilter) -> Result<Vec<StoredEntity>> {
        let (where_sql, binds) = where_clause(kind, filter)?;
        match &self.pool {
            Pool::Sqlite(pool) => {
                let sql = format!(
                    "SELECT {} FROM {}{where_sql} ORDER BY connection, stream, source_id",
                    select_list(kind, false),
                    kind.table()
                );
                let rows = bind_sqlite(sqlx::query(&sql), &binds).fetch_all(pool).await?;
                rows.iter().map(|r| decode(kind, r)).collect()
            }
            Pool::Postgres(pool) => {
                let sql = number_placeholders(&format!(
                    "SELECT {} FROM {}{where_sql} ORDER BY connection, stream, source_id",
                    select_list(kind, true),
                    kind.table()
                ));
                let rows = bind_postgres(sqlx::query(&sql), &binds).fetch_all(pool).await?;
                rows.iter().map(|r| decode(kind, r)).collect()
            }
        }
    }
}
