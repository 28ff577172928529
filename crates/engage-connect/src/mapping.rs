//! Declarative mapping of source records to unified entities, for the generic connectors
//! (`files`, `rest`, `singer`) whose users describe the mapping in TOML.
//!
//! A mapping names the entity (`order`, `identity`...) and, per entity field, where its value
//! comes from:
//!
//! ```toml
//! [connection.stream.fields]
//! customer_source_id = "customer_id"                 # a source field (dotted path or JSON pointer)
//! created_at = { from = "date", format = "%Y%m%d" }  # with a date format
//! total = "amount"
//! currency = { value = "USD" }                       # a constant
//! kind = { from = "type", map = { promoter = "nps" } }
//! ```
//!
//! A value that does not fit its field (a date that does not parse, text where a number belongs)
//! makes [`EntityMapping::map`] fail with a reason naming the field, so the connector can
//! quarantine the record and go on.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::str::FromStr;
use std::sync::Mutex;

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone, Utc};
use engage_config::{Field, FieldType, Schema};
use engage_model::{
    Channel, EmailCampaign, EmailEvent, EmailEventKind, Entity, EntityKind, Identity, Interaction, Order,
    Review, SurveyKind, SurveyResponse, Ticket, Timestamp,
};
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::Value;

/// Where one entity field's value comes from: a source field name, or a full rule.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum FieldSpec {
    /// The value of this source field, converted to the entity field's type.
    From(String),
    /// A rule with a source or a constant, a format, a value map and a default.
    Rule(FieldRule),
}

/// A full field rule.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldRule {
    /// Source field: a dotted path (`customer.email`, `items.0.sku`) or a JSON pointer
    /// (`/customer/email`); a flat record's key is found as it is first.
    pub from: Option<String>,
    /// A constant instead of a source field.
    pub value: Option<Value>,
    /// How to read the value: for timestamps a `strftime` pattern (`%Y%m%d`, `%d/%m/%Y %H:%M`),
    /// `unix` or `unix_ms`; for amounts `cents` (integer minor units).
    pub format: Option<String>,
    /// Replaces source values (compared as text) before conversion; others pass unchanged.
    pub map: Option<BTreeMap<String, Value>>,
    /// Used when the source value is absent, null or empty.
    pub default: Option<Value>,
}

/// When a source record counts as deleted.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeletedRule {
    /// The source field that says so.
    pub from: String,
    /// Deleted when the field equals this value (compared as text); without it, deleted when
    /// the field is present and not null, empty or `false`.
    pub equals: Option<Value>,
    /// The source field holding the deletion time (else the `from` field when it is a time,
    /// else the time of the sync).
    pub at: Option<String>,
}

/// The type of an entity field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ty {
    Text,
    Time,
    Decimal,
    Float,
    Int,
    Bool,
    SurveyKind,
    Channel,
    EmailEventKind,
}

/// Every entity, its names in configurations, and its fields with their types; `required`
/// fields must be mapped (or have a default).
#[derive(Debug)]
struct EntityDef {
    kind: EntityKind,
    names: &'static [&'static str],
    fields: &'static [(&'static str, Ty)],
    required: &'static [&'static str],
}

const ENTITIES: &[EntityDef] = &[
    EntityDef {
        kind: EntityKind::Identity,
        names: &["identity", "identities", "customer", "customers"],
        fields: &[
            ("email", Ty::Text),
            ("phone", Ty::Text),
            ("name", Ty::Text),
            ("created_at", Ty::Time),
            ("updated_at", Ty::Time),
        ],
        required: &[],
    },
    EntityDef {
        kind: EntityKind::Ticket,
        names: &["ticket", "tickets"],
        fields: &[
            ("customer_source_id", Ty::Text),
            ("customer_email", Ty::Text),
            ("subject", Ty::Text),
            ("channel", Ty::Text),
            ("status", Ty::Text),
            ("priority", Ty::Text),
            ("created_at", Ty::Time),
            ("updated_at", Ty::Time),
            ("first_reply_at", Ty::Time),
            ("solved_at", Ty::Time),
            ("first_reply_minutes", Ty::Float),
            ("first_resolution_minutes", Ty::Float),
            ("full_resolution_minutes", Ty::Float),
            ("reopens", Ty::Int),
            ("replies", Ty::Int),
            ("satisfaction", Ty::Text),
        ],
        required: &[],
    },
    EntityDef {
        kind: EntityKind::Review,
        names: &["review", "reviews"],
        fields: &[
            ("platform", Ty::Text),
            ("location", Ty::Text),
            ("rating", Ty::Float),
            ("source_rating", Ty::Text),
            ("source_scale", Ty::Text),
            ("title", Ty::Text),
            ("body", Ty::Text),
            ("language", Ty::Text),
            ("author", Ty::Text),
            ("customer_source_id", Ty::Text),
            ("created_at", Ty::Time),
            ("updated_at", Ty::Time),
            ("reply_body", Ty::Text),
            ("reply_at", Ty::Time),
            ("url", Ty::Text),
        ],
        required: &[],
    },
    EntityDef {
        kind: EntityKind::EmailCampaign,
        names: &["email_campaign", "email_campaigns"],
        fields: &[
            ("platform", Ty::Text),
            ("name", Ty::Text),
            ("subject", Ty::Text),
            ("sent_at", Ty::Time),
            ("recipients", Ty::Int),
            ("hard_bounces", Ty::Int),
            ("soft_bounces", Ty::Int),
            ("unique_opens", Ty::Int),
            ("unique_opens_human", Ty::Int),
            ("total_opens", Ty::Int),
            ("unique_clickers", Ty::Int),
            ("unique_clicks", Ty::Int),
            ("total_clicks", Ty::Int),
            ("unsubscribes", Ty::Int),
            ("spam_reports", Ty::Int),
        ],
        required: &[],
    },
    EntityDef {
        kind: EntityKind::EmailEvent,
        names: &["email_event", "email_events"],
        fields: &[
            ("platform", Ty::Text),
            ("campaign_source_id", Ty::Text),
            ("email", Ty::Text),
            ("customer_source_id", Ty::Text),
            ("kind", Ty::EmailEventKind),
            ("occurred_at", Ty::Time),
            ("machine_open", Ty::Bool),
            ("url", Ty::Text),
            ("bounce_type", Ty::Text),
        ],
        required: &["kind"],
    },
    EntityDef {
        kind: EntityKind::SurveyResponse,
        names: &["survey_response", "survey_responses"],
        fields: &[
            ("platform", Ty::Text),
            ("survey_id", Ty::Text),
            ("question", Ty::Text),
            ("kind", Ty::SurveyKind),
            ("score", Ty::Float),
            ("scale_min", Ty::Float),
            ("scale_max", Ty::Float),
            ("comment", Ty::Text),
            ("customer_source_id", Ty::Text),
            ("customer_email", Ty::Text),
            ("answered_at", Ty::Time),
        ],
        required: &["kind"],
    },
    EntityDef {
        kind: EntityKind::Order,
        names: &["order", "orders"],
        fields: &[
            ("platform", Ty::Text),
            ("customer_source_id", Ty::Text),
            ("customer_email", Ty::Text),
            ("created_at", Ty::Time),
            ("updated_at", Ty::Time),
            ("currency", Ty::Text),
            ("total", Ty::Decimal),
            ("refunded", Ty::Decimal),
            ("item_count", Ty::Int),
            ("guest", Ty::Bool),
            ("cancelled_at", Ty::Time),
            ("financial_status", Ty::Text),
        ],
        required: &["total"],
    },
    EntityDef {
        kind: EntityKind::Interaction,
        names: &["interaction", "interactions"],
        fields: &[
            ("customer_source_id", Ty::Text),
            ("customer_email", Ty::Text),
            ("channel", Ty::Channel),
            ("kind", Ty::Text),
            ("occurred_at", Ty::Time),
            ("value", Ty::Float),
        ],
        required: &["channel", "kind"],
    },
];

/// The entity names a configuration may use (`order`, `identity`, `customer`...).
pub fn entity_names() -> Vec<&'static str> {
    ENTITIES.iter().map(|e| e.names[0]).collect()
}

/// The schema of a `fields` table: every field of every entity (which of them fit the chosen
/// entity is checked when the mapping is built).
pub fn fields_schema() -> Schema {
    let mut names: Vec<&'static str> = Vec::new();
    for entity in ENTITIES {
        for (name, _) in entity.fields {
            if !names.contains(name) {
                names.push(name);
            }
        }
    }
    Schema::new(
        names
            .into_iter()
            .map(|name| {
                Field::optional(
                    name,
                    FieldType::Any,
                    "A source field name, or { from, value, format, map, default }.",
                )
            })
            .collect(),
    )
}

/// The schema of a `deleted` table.
pub fn deleted_schema() -> Schema {
    Schema::new(vec![
        Field::required("from", FieldType::String, "Source field that marks a deleted record."),
        Field::optional("equals", FieldType::Any, "Deleted when the field equals this value."),
        Field::optional("at", FieldType::String, "Source field with the deletion time."),
    ])
}

/// A compiled mapping from source records to one entity kind.
#[derive(Debug, Clone)]
pub struct EntityMapping {
    def: &'static EntityDef,
    platform: String,
    rules: BTreeMap<&'static str, (Ty, FieldRule)>,
    deleted: Option<DeletedRule>,
}

impl EntityMapping {
    /// Compiles a mapping to `entity` (a name of [`entity_names`] or its plural); `platform` is
    /// the entity's `platform` unless the mapping sets one. Fails with a message naming the bad
    /// entity or field.
    pub fn new(
        entity: &str,
        fields: &BTreeMap<String, FieldSpec>,
        deleted: Option<DeletedRule>,
        platform: &str,
    ) -> Result<Self, String> {
        let wanted = entity.trim().to_ascii_lowercase();
        let def = ENTITIES
            .iter()
            .find(|e| e.names.contains(&wanted.as_str()))
            .ok_or_else(|| format!("unknown entity `{entity}` (one of: {})", entity_names().join(", ")))?;
        let mut rules = BTreeMap::new();
        for (name, spec) in fields {
            let Some((field, ty)) = def.fields.iter().find(|(f, _)| f == name) else {
                let known: Vec<&str> = def.fields.iter().map(|(f, _)| *f).collect();
                return Err(format!(
                    "entity `{}` has no field `{name}` (fields: {})",
                    def.names[0],
                    known.join(", ")
                ));
            };
            let rule = match spec {
                FieldSpec::From(from) => FieldRule { from: Some(from.clone()), ..FieldRule::default() },
                FieldSpec::Rule(rule) => rule.clone(),
            };
            if rule.from.is_none() && rule.value.is_none() && rule.default.is_none() {
                return Err(format!("field `{name}`: give `from`, `value` or `default`"));
            }
            if rule.from.is_some() && rule.value.is_some() {
                return Err(format!("field `{name}`: give `from` or `value`, not both"));
            }
            if let Some(format) = &rule.format {
                check_format(*ty, format).map_err(|e| format!("field `{name}`: {e}"))?;
            }
            rules.insert(*field, (*ty, rule));
        }
        for required in def.required {
            if !rules.contains_key(required) {
                return Err(format!("entity `{}` needs a mapping for `{required}`", def.names[0]));
            }
        }
        Ok(Self { def, platform: platform.to_owned(), rules, deleted })
    }

    /// The entity kind records are mapped to.
    pub fn kind(&self) -> EntityKind {
        self.def.kind
    }

    /// Maps one source record; the error names the field and the value that did not fit.
    pub fn map(&self, record: &Value) -> Result<Entity, String> {
        let g = Getter { mapping: self, record };
        Ok(match self.def.kind {
            EntityKind::Identity => Entity::Identity(Identity {
                email: g.text("email")?,
                phone: g.text("phone")?,
                name: g.text("name")?,
                created_at: g.time("created_at")?,
                updated_at: g.time("updated_at")?,
            }),
            EntityKind::Ticket => Entity::Ticket(Ticket {
                customer_source_id: g.text("customer_source_id")?,
                customer_email: g.text("customer_email")?,
                subject: g.text("subject")?,
                channel: g.text("channel")?.map(|s| s.to_lowercase()),
                status: g.text("status")?.map(|s| s.to_lowercase()),
                priority: g.text("priority")?.map(|s| s.to_lowercase()),
                created_at: g.time("created_at")?,
                updated_at: g.time("updated_at")?,
                first_reply_at: g.time("first_reply_at")?,
                solved_at: g.time("solved_at")?,
                first_reply_minutes: g.float("first_reply_minutes")?,
                first_resolution_minutes: g.float("first_resolution_minutes")?,
                full_resolution_minutes: g.float("full_resolution_minutes")?,
                reopens: g.int("reopens")?,
                replies: g.int("replies")?,
                satisfaction: g.text("satisfaction")?,
            }),
            EntityKind::Review => Entity::Review(Review {
                platform: g.platform()?,
                location: g.text("location")?,
                rating: g.float("rating")?,
                source_rating: g.text("source_rating")?,
                source_scale: g.text("source_scale")?,
                title: g.text("title")?,
                body: g.text("body")?,
                language: g.text("language")?,
                author: g.text("author")?,
                customer_source_id: g.text("customer_source_id")?,
                created_at: g.time("created_at")?,
                updated_at: g.time("updated_at")?,
                reply_body: g.text("reply_body")?,
                reply_at: g.time("reply_at")?,
                url: g.text("url")?,
            }),
            EntityKind::EmailCampaign => Entity::EmailCampaign(EmailCampaign {
                platform: g.platform()?,
                name: g.text("name")?,
                subject: g.text("subject")?,
                sent_at: g.time("sent_at")?,
                recipients: g.int("recipients")?,
                hard_bounces: g.int("hard_bounces")?,
                soft_bounces: g.int("soft_bounces")?,
                unique_opens: g.int("unique_opens")?,
                unique_opens_human: g.int("unique_opens_human")?,
                total_opens: g.int("total_opens")?,
                unique_clickers: g.int("unique_clickers")?,
                unique_clicks: g.int("unique_clicks")?,
                total_clicks: g.int("total_clicks")?,
                unsubscribes: g.int("unsubscribes")?,
                spam_reports: g.int("spam_reports")?,
            }),
            EntityKind::EmailEvent => Entity::EmailEvent(EmailEvent {
                platform: g.platform()?,
                campaign_source_id: g.text("campaign_source_id")?,
                email: g.text("email")?,
                customer_source_id: g.text("customer_source_id")?,
                kind: g.required("kind", parse_email_event_kind)?,
                occurred_at: g.time("occurred_at")?,
                machine_open: g.bool("machine_open")?.unwrap_or(false),
                url: g.text("url")?,
                bounce_type: g.text("bounce_type")?,
            }),
            EntityKind::SurveyResponse => Entity::SurveyResponse(SurveyResponse {
                platform: g.platform()?,
                survey_id: g.text("survey_id")?,
                question: g.text("question")?,
                kind: g.required("kind", parse_survey_kind)?,
                score: g.float("score")?,
                scale_min: g.float("scale_min")?,
                scale_max: g.float("scale_max")?,
                comment: g.text("comment")?,
                customer_source_id: g.text("customer_source_id")?,
                customer_email: g.text("customer_email")?,
                answered_at: g.time("answered_at")?,
            }),
            EntityKind::Order => {
                let customer_source_id = g.text("customer_source_id")?;
                Entity::Order(Order {
                    platform: g.platform()?,
                    guest: g.bool("guest")?.unwrap_or(customer_source_id.is_none()),
                    customer_source_id,
                    customer_email: g.text("customer_email")?,
                    created_at: g.time("created_at")?,
                    updated_at: g.time("updated_at")?,
                    currency: g.text("currency")?.map(|c| c.to_uppercase()),
                    total: g.decimal("total")?.ok_or_else(|| "`total` is missing".to_owned())?,
                    refunded: g.decimal("refunded")?.unwrap_or_default(),
                    item_count: g.int("item_count")?,
                    cancelled_at: g.time("cancelled_at")?,
                    financial_status: g.text("financial_status")?,
                })
            }
            EntityKind::Interaction => Entity::Interaction(Interaction {
                customer_source_id: g.text("customer_source_id")?,
                customer_email: g.text("customer_email")?,
                channel: g.required("channel", parse_channel)?,
                kind: g.text("kind")?.ok_or_else(|| "`kind` is missing".to_owned())?,
                occurred_at: g.time("occurred_at")?,
                value: g.float("value")?,
            }),
        })
    }

    /// When the record was deleted, if the mapping's `deleted` rule says it was; `now` when the
    /// record gives no time.
    pub fn deleted_at(&self, record: &Value, now: Timestamp) -> Result<Option<Timestamp>, String> {
        let Some(rule) = &self.deleted else { return Ok(None) };
        let value = lookup(record, &rule.from);
        let deleted = match (&rule.equals, value) {
            (Some(expected), Some(v)) => text_of(v) == text_of(expected),
            (Some(_), None) => false,
            (None, None | Some(Value::Null) | Some(Value::Bool(false))) => false,
            (None, Some(Value::String(s))) => !s.trim().is_empty(),
            (None, Some(_)) => true,
        };
        if !deleted {
            return Ok(None);
        }
        let at = match &rule.at {
            Some(field) => crate::time::json_timestamp(lookup(record, field))
                .map_err(|e| format!("deleted.at `{field}`: {e}"))?,
            None if rule.equals.is_none() => crate::time::json_timestamp(value).ok().flatten(),
            None => None,
        };
        Ok(Some(at.unwrap_or(now)))
    }
}

/// Reads typed entity fields from one record.
struct Getter<'a> {
    mapping: &'a EntityMapping,
    record: &'a Value,
}

impl Getter<'_> {
    /// The field's value after `from`/`value`, `map` and `default`; `None` when absent, null or
    /// blank text.
    fn raw(&self, field: &str) -> Option<(Value, Ty, Option<&str>)> {
        let (ty, rule) = self.mapping.rules.get(field)?;
        let mut value = match (&rule.value, &rule.from) {
            (Some(constant), _) => Some(constant.clone()),
            (None, Some(from)) => lookup(self.record, from).cloned(),
            (None, None) => None,
        };
        if let (Some(map), Some(v)) = (&rule.map, &value)
            && let Some(replacement) = map.get(&text_of(v))
        {
            value = Some(replacement.clone());
        }
        let empty = match &value {
            None | Some(Value::Null) => true,
            Some(Value::String(s)) => s.trim().is_empty(),
            _ => false,
        };
        if empty {
            value = rule.default.clone();
        }
        value.map(|v| (v, *ty, rule.format.as_deref()))
    }

    fn convert<T>(
        &self,
        field: &str,
        parse: impl FnOnce(&Value, Option<&str>) -> Result<T, String>,
    ) -> Result<Option<T>, String> {
        match self.raw(field) {
            None => Ok(None),
            Some((value, _, format)) => {
                parse(&value, format).map(Some).map_err(|e| format!("field `{field}`: {e}"))
            }
        }
    }

    fn text(&self, field: &str) -> Result<Option<String>, String> {
        self.convert(field, |v, _| match v {
            Value::String(s) => Ok(s.trim().to_owned()),
            Value::Number(_) | Value::Bool(_) => Ok(v.to_string()),
            other => Err(format!("expected text, found `{}`", excerpt(other))),
        })
    }

    fn platform(&self) -> Result<String, String> {
        Ok(self.text("platform")?.unwrap_or_else(|| self.mapping.platform.clone()))
    }

    fn time(&self, field: &str) -> Result<Option<Timestamp>, String> {
        self.convert(field, parse_time)
    }

    fn decimal(&self, field: &str) -> Result<Option<Decimal>, String> {
        self.convert(field, parse_decimal)
    }

    fn float(&self, field: &str) -> Result<Option<f64>, String> {
        self.convert(field, |v, _| match v {
            Value::Number(n) => n.as_f64().ok_or_else(|| format!("`{n}` is not a number")),
            Value::String(s) => s
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|x| x.is_finite())
                .ok_or_else(|| format!("`{s}` is not a number")),
            other => Err(format!("`{}` is not a number", excerpt(other))),
        })
    }

    fn int(&self, field: &str) -> Result<Option<i64>, String> {
        self.convert(field, |v, _| {
            let number = match v {
                Value::Number(n) => {
                    n.as_i64().or_else(|| n.as_f64().filter(|x| x.fract() == 0.0).map(|x| x as i64))
                }
                Value::String(s) => s.trim().parse::<i64>().ok().or_else(|| {
                    s.trim()
                        .parse::<f64>()
                        .ok()
                        .filter(|x| x.is_finite() && x.fract() == 0.0)
                        .map(|x| x as i64)
                }),
                _ => None,
            };
            number.ok_or_else(|| format!("`{}` is not an integer", excerpt(v)))
        })
    }

    fn bool(&self, field: &str) -> Result<Option<bool>, String> {
        self.convert(field, |v, _| match v {
            Value::Bool(b) => Ok(*b),
            Value::Number(n) if n.as_i64() == Some(0) => Ok(false),
            Value::Number(n) if n.as_i64() == Some(1) => Ok(true),
            Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
                "true" | "yes" | "y" | "1" | "t" => Ok(true),
                "false" | "no" | "n" | "0" | "f" => Ok(false),
                _ => Err(format!("`{s}` is not a boolean")),
            },
            other => Err(format!("`{}` is not a boolean", excerpt(other))),
        })
    }

    /// A required enum field: converted with `parse`, an error when missing.
    fn required<T>(&self, field: &str, parse: impl Fn(&str) -> Option<T>) -> Result<T, String> {
        let (value, ty, _) = self.raw(field).ok_or_else(|| format!("`{field}` is missing"))?;
        let text = text_of(&value);
        parse(text.trim())
            .ok_or_else(|| format!("field `{field}`: `{}` is not a known {}", excerpt(&value), ty_name(ty)))
    }
}

fn ty_name(ty: Ty) -> &'static str {
    match ty {
        Ty::SurveyKind => "survey kind (nps, csat, ces, referral, custom)",
        Ty::Channel => "channel (email, helpdesk, review, survey, shop, web, social)",
        Ty::EmailEventKind => "email event kind (delivered, open, click, bounce...)",
        _ => "value",
    }
}

fn check_format(ty: Ty, format: &str) -> Result<(), String> {
    match ty {
        Ty::Time => {
            if matches!(format, "unix" | "unix_ms") {
                return Ok(());
            }
            let items: Vec<_> = chrono::format::StrftimeItems::new(format).collect();
            if items.iter().any(|i| matches!(i, chrono::format::Item::Error)) {
                return Err(format!("`{format}` is not a valid strftime date format"));
            }
            Ok(())
        }
        Ty::Decimal if format == "cents" => Ok(()),
        Ty::Decimal => Err(format!("amounts take `format = \"cents\"` or none, not `{format}`")),
        _ => Err("`format` applies to timestamps and amounts only".to_owned()),
    }
}

/// A timestamp in `format` (strftime, `unix`, `unix_ms`), or in any form
/// [`crate::time::json_timestamp`] knows when there is no format.
fn parse_time(value: &Value, format: Option<&str>) -> Result<Timestamp, String> {
    let Some(format) = format else {
        return crate::time::json_timestamp(Some(value))?.ok_or_else(|| "empty timestamp".to_owned());
    };
    let text = text_of(value);
    let text = text.trim();
    let bad = || format!("`{text}` does not match the date format `{format}`");
    match format {
        "unix" | "unix_ms" => {
            let n: i64 = text.parse().map_err(|_| bad())?;
            let t = if format == "unix" {
                DateTime::from_timestamp(n, 0)
            } else {
                DateTime::from_timestamp_millis(n)
            };
            t.ok_or_else(bad)
        }
        _ => {
            if let Ok(t) = DateTime::parse_from_str(text, format) {
                return Ok(t.with_timezone(&Utc));
            }
            if let Ok(t) = NaiveDateTime::parse_from_str(text, format) {
                return Ok(Utc.from_utc_datetime(&t));
            }
            let date = NaiveDate::parse_from_str(text, format).map_err(|_| bad())?;
            date.and_hms_opt(0, 0, 0).map(|d| Utc.from_utc_datetime(&d)).ok_or_else(bad)
        }
    }
}

/// An exact amount from a JSON number or text (`"29.33"`, `"1e3"`); `cents` divides by 100.
fn parse_decimal(value: &Value, format: Option<&str>) -> Result<Decimal, String> {
    let text = match value {
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.trim().to_owned(),
        other => return Err(format!("`{}` is not an amount", excerpt(other))),
    };
    let amount = Decimal::from_str(&text)
        .or_else(|_| Decimal::from_scientific(&text))
        .map_err(|_| format!("`{}` is not an amount", excerpt(value)))?;
    match format {
        Some("cents") => Ok(amount / Decimal::ONE_HUNDRED),
        _ => Ok(amount),
    }
}

fn parse_survey_kind(text: &str) -> Option<SurveyKind> {
    Some(match text.to_ascii_lowercase().as_str() {
        "nps" => SurveyKind::Nps,
        "csat" => SurveyKind::Csat,
        "ces" => SurveyKind::Ces,
        "referral" => SurveyKind::Referral,
        "custom" => SurveyKind::Custom,
        _ => return None,
    })
}

fn parse_channel(text: &str) -> Option<Channel> {
    Some(match text.to_ascii_lowercase().as_str() {
        "email" => Channel::Email,
        "helpdesk" => Channel::Helpdesk,
        "review" => Channel::Review,
        "survey" => Channel::Survey,
        "shop" => Channel::Shop,
        "web" => Channel::Web,
        "social" => Channel::Social,
        _ => return None,
    })
}

fn parse_email_event_kind(text: &str) -> Option<EmailEventKind> {
    Some(match text.to_ascii_lowercase().replace(['-', ' '], "_").as_str() {
        "processed" => EmailEventKind::Processed,
        "delivered" => EmailEventKind::Delivered,
        "open" | "opened" => EmailEventKind::Open,
        "click" | "clicked" => EmailEventKind::Click,
        "bounce" | "bounced" => EmailEventKind::Bounce,
        "dropped" => EmailEventKind::Dropped,
        "deferred" => EmailEventKind::Deferred,
        "unsubscribe" | "unsubscribed" => EmailEventKind::Unsubscribe,
        "spam_report" | "spamreport" => EmailEventKind::SpamReport,
        "other" => EmailEventKind::Other,
        _ => return None,
    })
}

/// The value at `path` in `record`: the key itself when the record has it (flat rows), else a
/// JSON pointer (`/a/b`) or a dotted path (`a.b.0`).
pub fn lookup<'a>(record: &'a Value, path: &str) -> Option<&'a Value> {
    if let Some(v) = record.get(path) {
        return Some(v);
    }
    if path.starts_with('/') {
        return record.pointer(path);
    }
    let mut current = record;
    for part in path.split('.') {
        current = match current {
            Value::Object(map) => map.get(part)?,
            Value::Array(items) => items.get(part.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(current)
}

/// A value as text for comparisons and id building: strings as they are, anything else as JSON.
pub fn text_of(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// At most 80 characters of a value, for error messages.
fn excerpt(value: &Value) -> String {
    let text = text_of(value);
    match text.char_indices().nth(80) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text,
    }
}

/// A `&'static str` for a name that comes from the configuration (stream names and keys in
/// [`crate::StreamSpec`]); each distinct name is allocated once per process.
pub fn intern(name: &str) -> &'static str {
    static NAMES: Mutex<Option<HashSet<&'static str>>> = Mutex::new(None);
    let mut names = NAMES.lock().unwrap_or_else(|e| e.into_inner());
    let set = names.get_or_insert_with(HashSet::new);
    if let Some(existing) = set.get(name) {
        return existing;
    }
    let leaked: &'static str = Box::leak(name.to_owned().into_boxed_str());
    set.insert(leaked);
    leaked
}

/// A `&'static` list of interned names (a stream's primary key from the configuration); each
/// distinct list is allocated once per process.
pub fn intern_list(names: &[String]) -> &'static [&'static str] {
    type Lists = HashMap<Vec<String>, &'static [&'static str]>;
    static LISTS: Mutex<Option<Lists>> = Mutex::new(None);
    let mut lists = LISTS.lock().unwrap_or_else(|e| e.into_inner());
    let map = lists.get_or_insert_with(HashMap::new);
    if let Some(existing) = map.get(names) {
        return existing;
    }
    let leaked: &'static [&'static str] =
        Box::leak(names.iter().map(|n| intern(n)).collect::<Vec<_>>().into_boxed_slice());
    map.insert(names.to_vec(), leaked);
    leaked
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn mapping(entity: &str, fields: Value) -> Result<EntityMapping, String> {
        let fields: BTreeMap<String, FieldSpec> = serde_json::from_value(fields).unwrap();
        EntityMapping::new(entity, &fields, None, "files")
    }

    #[test]
    fn maps_an_order_with_formats_and_constants() {
        let m = mapping(
            "orders",
            json!({"customer_source_id": "cust", "created_at": {"from": "date", "format": "%Y%m%d"},
                   "total": "amount", "item_count": "n", "currency": {"value": "usd"}}),
        )
        .unwrap();
        assert_eq!(m.kind(), EntityKind::Order);
        let row = json!({"cust": "0001", "date": "19970101", "n": "2", "amount": "29.33"});
        let Entity::Order(order) = m.map(&row).unwrap() else { panic!() };
        assert_eq!(order.customer_source_id.as_deref(), Some("0001"));
        assert_eq!(order.created_at.unwrap().to_rfc3339(), "1997-01-01T00:00:00+00:00");
        assert_eq!(order.total, Decimal::new(2933, 2));
        assert_eq!(order.item_count, Some(2));
        assert_eq!(order.currency.as_deref(), Some("USD"));
        assert_eq!(order.platform, "files");
        assert!(!order.guest);
        let bad = json!({"cust": "1", "date": "1997-13-01", "n": "2", "amount": "29.33"});
        assert_eq!(
            m.map(&bad).unwrap_err(),
            "field `created_at`: `1997-13-01` does not match the date format `%Y%m%d`"
        );
        let bad = json!({"cust": "1", "date": "19970101", "n": "2", "amount": "$5"});
        assert_eq!(m.map(&bad).unwrap_err(), "field `total`: `$5` is not an amount");
        let missing = json!({"cust": "1", "date": "19970101"});
        assert_eq!(m.map(&missing).unwrap_err(), "`total` is missing");
        let guest = json!({"date": "19970101", "amount": 10});
        let Entity::Order(order) = m.map(&guest).unwrap() else { panic!() };
        assert!(order.guest);
        assert_eq!(order.total, Decimal::new(10, 0));
    }

    #[test]
    fn maps_nested_json_with_value_maps_and_defaults() {
        let m = mapping(
            "survey_response",
            json!({"kind": {"value": "csat"}, "score": {"from": "score", "map": {"good": 1, "bad": 0}},
                   "customer_source_id": "/requester/id", "comment": {"from": "comment", "default": "(none)"},
                   "answered_at": "meta.at", "platform": {"value": "zendesk"}}),
        )
        .unwrap();
        let r = json!({"score": "good", "requester": {"id": 42}, "meta": {"at": "2024-05-01T12:00:00Z"}});
        let Entity::SurveyResponse(s) = m.map(&r).unwrap() else { panic!() };
        assert_eq!(s.kind, SurveyKind::Csat);
        assert_eq!(s.score, Some(1.0));
        assert_eq!(s.customer_source_id.as_deref(), Some("42"));
        assert_eq!(s.comment.as_deref(), Some("(none)"));
        assert_eq!(s.answered_at.unwrap().timestamp(), 1_714_564_800);
        assert_eq!(s.platform, "zendesk");
        let r = json!({"score": "offered"});
        assert_eq!(m.map(&r).unwrap_err(), "field `score`: `offered` is not a number");
    }

    #[test]
    fn rejects_bad_mappings_with_their_reason() {
        assert_eq!(
            mapping("order", json!({"subject": "x", "total": "t"})).unwrap_err(),
            "entity `order` has no field `subject` (fields: platform, customer_source_id, customer_email, created_at, updated_at, currency, total, refunded, item_count, guest, cancelled_at, financial_status)"
        );
        assert_eq!(mapping("order", json!({})).unwrap_err(), "entity `order` needs a mapping for `total`");
        assert!(mapping("invoice", json!({})).unwrap_err().starts_with("unknown entity `invoice`"));
        assert_eq!(
            mapping("order", json!({"total": {"from": "t", "format": "%Q"}})).unwrap_err(),
            "field `total`: amounts take `format = \"cents\"` or none, not `%Q`"
        );
        assert_eq!(
            mapping("identity", json!({"created_at": {"from": "t", "format": "%Y-%"}})).unwrap_err(),
            "field `created_at`: `%Y-%` is not a valid strftime date format"
        );
        assert_eq!(
            mapping("identity", json!({"email": {"format": "x"}})).unwrap_err(),
            "field `email`: give `from`, `value` or `default`"
        );
    }

    #[test]
    fn enums_times_and_deletions() {
        let m = mapping(
            "interaction",
            json!({"channel": {"value": "Shop"}, "kind": {"value": "order"}, "occurred_at": {"from": "t", "format": "unix"},
                   "value": "v"}),
        )
        .unwrap();
        let Entity::Interaction(i) = m.map(&json!({"t": 1_700_000_000, "v": "12.5"})).unwrap() else {
            panic!()
        };
        assert_eq!((i.channel, i.kind.as_str(), i.value), (Channel::Shop, "order", Some(12.5)));
        assert_eq!(i.occurred_at.unwrap().timestamp(), 1_700_000_000);
        let m = mapping("interaction", json!({"channel": "c", "kind": {"value": "x"}})).unwrap();
        assert_eq!(
            m.map(&json!({"c": "fax"})).unwrap_err(),
            "field `channel`: `fax` is not a known channel (email, helpdesk, review, survey, shop, web, social)"
        );

        let fields: BTreeMap<String, FieldSpec> = serde_json::from_value(json!({"email": "email"})).unwrap();
        let now = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let rule =
            DeletedRule { from: "active".into(), equals: Some(json!(false)), at: Some("updated_at".into()) };
        let m = EntityMapping::new("customer", &fields, Some(rule), "x").unwrap();
        assert_eq!(m.deleted_at(&json!({"active": true}), now), Ok(None));
        let at = m.deleted_at(&json!({"active": false, "updated_at": "2024-01-02T00:00:00Z"}), now).unwrap();
        assert_eq!(at.unwrap().to_rfc3339(), "2024-01-02T00:00:00+00:00");
        assert_eq!(m.deleted_at(&json!({"active": false}), now), Ok(Some(now)));
        let rule = DeletedRule { from: "deleted_at".into(), equals: None, at: None };
        let m = EntityMapping::new("customer", &fields, Some(rule), "x").unwrap();
        assert_eq!(m.deleted_at(&json!({"deleted_at": null}), now), Ok(None));
        let at = m.deleted_at(&json!({"deleted_at": "2024-03-01"}), now).unwrap();
        assert_eq!(at.unwrap().to_rfc3339(), "2024-03-01T00:00:00+00:00");
        assert_eq!(m.deleted_at(&json!({"deleted_at": true}), now), Ok(Some(now)));
    }

    #[test]
    fn lookups_and_interning() {
        let r = json!({"a.b": 1, "a": {"b": 2, "c": [10, {"d": "x"}]}});
        assert_eq!(lookup(&r, "a.b"), Some(&json!(1)));
        assert_eq!(lookup(&r, "/a/b"), Some(&json!(2)));
        assert_eq!(lookup(&r, "a.c.1.d"), Some(&json!("x")));
        assert_eq!(lookup(&r, "a.c.9"), None);
        assert!(std::ptr::eq(intern("orders"), intern(&String::from("orders"))));
        let key = ["a".to_owned(), "b".to_owned()];
        assert_eq!(intern_list(&key), &["a", "b"]);
        assert!(std::ptr::eq(intern_list(&key), intern_list(&key.clone())));
    }
}
