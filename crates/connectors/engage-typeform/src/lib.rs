//! The Typeform connector (`kind = "typeform"`), on the Responses API with a personal access
//! token (or OAuth access token) as `Authorization: Bearer`.
//!
//! One stream, `responses`, over the configured `forms`: `GET /forms/{id}/responses?
//! response_type=completed&page_size=…&since=…`, newest first, then the same with
//! `before=<token of the last item>` until a short page. Only completed responses are read
//! (Typeform's default, sent explicitly). Each answer becomes a
//! [`SurveyResponse`](engage_model::SurveyResponse) under `{token}/{field id}`; the `fields`
//! mapping says which field (by `ref` or id) is the NPS, CSAT or CES question or the "how did you
//! hear about us" question (`referral`); other answers are `custom`.
//!
//! The checkpoint holds, per form, the `since` of the pass and, while the pass runs, the token
//! to continue `before` and the newest `submitted_at` seen; at the end of a pass `since` becomes
//! that newest time (inclusive: the boundary responses are read again and upserted).
//!
//! Typeform allows 2 requests a second per account: the client paces itself below that
//! (110 a minute, or the connection's `max_requests_per_minute` when lower) and honours
//! `Retry-After` on a 429.

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use engage_connect::http::{Auth, HttpClient};
use engage_connect::{
    Checkpoint, Connector, ConnectorContext, ConnectorError, Field, FieldType, Page, PageStream, Schema,
    Secret, Step, StreamSpec, SyncMode, paged,
};
use engage_model::{EntityKind, SurveyKind};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub mod map;

/// Typeform's API (EU accounts: `https://api.eu.typeform.com` as `base_url`).
pub const DEFAULT_BASE_URL: &str = "https://api.typeform.com";
/// Requests a minute the client allows itself: under Typeform's 2 a second, so that a strict
/// one-second window never sees three.
pub const REQUESTS_PER_MINUTE: u32 = 110;

/// What one form field measures.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FieldMapping {
    /// The field's `ref` or id.
    pub field: String,
    /// `nps`, `csat`, `ces`, `referral` or `custom`.
    pub kind: String,
    /// Lowest score of the field's scale.
    pub scale_min: Option<f64>,
    /// Highest score of the field's scale.
    pub scale_max: Option<f64>,
    /// The question's text, stored with each answer (default: the field's `ref`).
    pub question: Option<String>,
}

/// Kind-specific options of a Typeform connection.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TypeformConfig {
    /// A personal access token (`tfp_…`) or OAuth access token with `responses:read`.
    pub access_token: Secret,
    /// The ids of the forms to read (`u6nXL7` of `…typeform.com/to/u6nXL7`).
    pub forms: Vec<String>,
    /// What the fields measure.
    pub fields: Option<Vec<FieldMapping>>,
    /// Responses per page (`page_size`, 1–1000, default 1000).
    pub page_size: Option<i64>,
    /// Earliest `submitted_at` on the first sync (`YYYY-MM-DD`); everything when absent.
    pub start_date: Option<String>,
}

/// The Typeform connector.
pub struct Typeform {
    http: HttpClient,
    forms: Vec<String>,
    fields: Vec<map::Mapped>,
    page_size: usize,
    start: Option<DateTime<Utc>>,
}

/// Where the pass over one form is.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FormPass {
    /// `since` of the pass (inclusive), `YYYY-MM-DDTHH:MM:SS` UTC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
    /// The token to continue `before`, while the pass runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<String>,
    /// The newest `submitted_at` seen in the running pass.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub newest: Option<String>,
}

/// The stream's checkpoint: one pass per form.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Position {
    /// Form id → pass.
    #[serde(default)]
    pub forms: BTreeMap<String, FormPass>,
}

/// Typeform's form of `since`: UTC to the second, `T` between date and time.
pub fn since_text(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S").to_string()
}

fn mapping_schema() -> Schema {
    Schema::new(vec![
        Field::required("field", FieldType::String, "The field's `ref` or id."),
        Field::required("kind", FieldType::String, "`nps`, `csat`, `ces`, `referral` or `custom`."),
        Field::optional("scale_min", FieldType::Float, "Lowest score of the field's scale."),
        Field::optional("scale_max", FieldType::Float, "Highest score of the field's scale."),
        Field::optional("question", FieldType::String, "The question's text (default: the field's ref)."),
    ])
}

/// A survey kind by name.
pub fn survey_kind(name: &str) -> Option<SurveyKind> {
    Some(match name {
        "nps" => SurveyKind::Nps,
        "csat" => SurveyKind::Csat,
        "ces" => SurveyKind::Ces,
        "referral" => SurveyKind::Referral,
        "custom" => SurveyKind::Custom,
        _ => return None,
    })
}

#[async_trait]
impl Connector for Typeform {
    type Config = TypeformConfig;
    const KIND: &'static str = "typeform";

    fn options() -> Schema {
        Schema::new(vec![
            Field::required(
                "access_token",
                FieldType::Secret,
                "Personal access token (`tfp_…`) or OAuth token with responses:read.",
            ),
            Field::required("forms", FieldType::StringList, "Ids of the forms to read."),
            Field::optional(
                "fields",
                FieldType::TableList(mapping_schema()),
                "What fields measure: NPS, CSAT, CES, referral (\"how did you hear about us\").",
            ),
            Field::optional(
                "page_size",
                FieldType::Integer { min: 1, max: 1000 },
                "Responses per page (default 1000).",
            ),
            Field::optional("start_date", FieldType::String, "Earliest `submitted_at` on the first sync."),
        ])
    }

    fn new(config: TypeformConfig, ctx: ConnectorContext) -> Result<Self, ConnectorError> {
        let start = match &config.start_date {
            Some(date) => Some(engage_connect::time::parse_timestamp(date).ok_or_else(|| {
                ConnectorError::needs_human(format!("start_date `{date}` is not a date (YYYY-MM-DD)"))
            })?),
            None => None,
        };
        if config.forms.is_empty() {
            return Err(ConnectorError::needs_human("typeform needs at least one form id in `forms`"));
        }
        if let Some(bad) = config
            .forms
            .iter()
            .find(|f| f.is_empty() || !f.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'))
        {
            return Err(ConnectorError::needs_human(format!("forms: `{bad}` is not a form id")));
        }
        let mut fields = Vec::new();
        for f in config.fields.unwrap_or_default() {
            let kind = survey_kind(&f.kind).ok_or_else(|| {
                ConnectorError::needs_human(format!(
                    "fields: kind `{}` of `{}`: expected nps, csat, ces, referral or custom",
                    f.kind, f.field
                ))
            })?;
            fields.push(map::Mapped {
                key: f.field,
                kind,
                scale: (f.scale_min, f.scale_max),
                question: f.question,
            });
        }
        let limit = ctx
            .max_requests_per_minute
            .filter(|n| *n > 0)
            .map_or(REQUESTS_PER_MINUTE, |n| n.min(REQUESTS_PER_MINUTE));
        let http = ctx.http(DEFAULT_BASE_URL, Auth::Bearer(config.access_token), |b| {
            b.max_requests_per_minute(Some(limit)).default_header("Accept", "application/json")
        })?;
        Ok(Typeform {
            http,
            forms: config.forms,
            fields,
            page_size: config.page_size.unwrap_or(1000).clamp(1, 1000) as usize,
            start,
        })
    }

    fn streams(&self) -> Vec<StreamSpec> {
        vec![StreamSpec {
            name: "responses",
            entity: EntityKind::SurveyResponse,
            primary_key: &["token", "field.id"],
            cursor_field: Some("submitted_at"),
            modes: &[SyncMode::Incremental, SyncMode::FullRefresh],
        }]
    }

    async fn check(&self) -> Result<(), ConnectorError> {
        for form in &self.forms {
            self.http.get(&format!("/forms/{form}/responses")).query(&[("page_size", "1")]).send().await?;
        }
        Ok(())
    }

    fn read(&self, stream: &str, checkpoint: Option<Checkpoint>) -> PageStream<'_> {
        if stream != "responses" {
            let error = ConnectorError::needs_human(format!("typeform has no stream `{stream}`"));
            return futures::stream::once(async move { Err(error) }).boxed();
        }
        let position: Position = checkpoint.and_then(|c| serde_json::from_value(c).ok()).unwrap_or_default();
        paged((0usize, position), move |(form_index, mut position): (usize, Position)| async move {
            let Some(form) = self.forms.get(form_index) else {
                return Ok(Step::Done);
            };
            let pass = position
                .forms
                .get(form)
                .cloned()
                .unwrap_or_else(|| FormPass { since: self.start.map(since_text), ..FormPass::default() });
            let mut query = vec![
                ("response_type".to_owned(), "completed".to_owned()),
                ("page_size".to_owned(), self.page_size.to_string()),
            ];
            if let Some(since) = &pass.since {
                query.push(("since".to_owned(), since.clone()));
            }
            if let Some(before) = &pass.before {
                query.push(("before".to_owned(), before.clone()));
            }
            let path = format!("/forms/{form}/responses");
            let (_, body) = self.http.get(&path).query_pairs(query).send_json().await?;
            let items: Vec<Value> = match body.get("items") {
                Some(Value::Array(items)) => items.clone(),
                None | Some(Value::Null) => Vec::new(),
                Some(_) => {
                    return Err(ConnectorError::needs_human(format!("GET {path}: `items` is not an array")));
                }
            };
            let mut page: Page = map::responses(form, &items, &self.fields);
            let newest =
                [pass.newest.clone().or(pass.since.clone()), map::newest_submitted(&items).map(since_text)]
                    .into_iter()
                    .flatten()
                    .max();
            let last_token =
                items.last().and_then(|i| i.get("token")).and_then(Value::as_str).map(str::to_owned);
            let done = items.len() < self.page_size || last_token.is_none();
            let next = if done {
                FormPass { since: newest, before: None, newest: None }
            } else {
                FormPass { since: pass.since, before: last_token, newest }
            };
            position.forms.insert(form.clone(), next);
            page.checkpoint = serde_json::to_value(&position).unwrap_or(Value::Null);
            let next_form = if done { form_index + 1 } else { form_index };
            Ok(if next_form >= self.forms.len() {
                Step::Last(page)
            } else {
                Step::Page(page, (next_form, position))
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_round_trip() {
        let mut p = Position::default();
        p.forms.insert(
            "u6nXL7".into(),
            FormPass { since: Some("2024-01-01T00:00:00".into()), before: Some("abc".into()), newest: None },
        );
        let json = serde_json::to_value(&p).unwrap();
        assert_eq!(
            json,
            serde_json::json!({ "forms": { "u6nXL7": { "since": "2024-01-01T00:00:00", "before": "abc" } } })
        );
        assert_eq!(serde_json::from_value::<Position>(json).unwrap(), p);
        let t = DateTime::from_timestamp(1_584_712_859, 0).unwrap();
        assert_eq!(since_text(t), "2020-03-20T14:00:59");
    }
}
