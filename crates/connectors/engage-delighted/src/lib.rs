//! The Delighted connector (`kind = "delighted"`), on `https://api.delighted.com/v1` with the
//! project's API key as the Basic user name.
//!
//! Streams:
//! - `survey_responses`: `GET /v1/survey_responses.json?updated_since=…&per_page=…&page=N`
//!   (creation order, oldest first), page after page until a short or empty page. Each response
//!   becomes a [`SurveyResponse`](engage_model::SurveyResponse) of the project's survey type
//!   (NPS, CSAT, CES…) under its id, and each of its `additional_answers` another one under
//!   `{response id}/{answer id}` (kind from the `questions` mapping: a "how did you hear about
//!   us" question mapped to `referral` feeds the referral rate). While a pass runs, the
//!   checkpoint keeps its `updated_since` and the next page; at the end it is the newest
//!   `updated_at` seen (inclusive: the boundary response is read again and upserted).
//! - `people`: `GET /v1/people.json?since=…&per_page=100`, following `Link: rel="next"` →
//!   identities. The list only filters on `created_at`: people are picked up once, when new.
//!
//! Delighted does not publish its rate limits; it answers 429 with `Retry-After`, which the HTTP
//! toolkit honours.

use async_trait::async_trait;
use engage_connect::http::{Auth, HttpClient, Pagination, Paginator, RequestSpec};
use engage_connect::{
    Checkpoint, Connector, ConnectorContext, ConnectorError, Field, FieldType, Page, PageStream, Schema,
    Secret, Step, StreamSpec, SyncMode, paged,
};
use engage_model::{EntityKind, SurveyKind};
use futures::StreamExt;
use serde::Deserialize;
use serde_json::{Value, json};

pub mod map;

/// Delighted's API.
pub const DEFAULT_BASE_URL: &str = "https://api.delighted.com";

/// What one additional question measures.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct QuestionMapping {
    /// The question's id (`additional_answers[].question.id`) or its exact text.
    pub question: String,
    /// `nps`, `csat`, `ces`, `referral` or `custom`.
    pub kind: String,
    /// Lowest score of a scale question.
    pub scale_min: Option<f64>,
    /// Highest score of a scale question.
    pub scale_max: Option<f64>,
}

/// Kind-specific options of a Delighted connection.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DelightedConfig {
    /// The project's API key.
    pub api_key: Secret,
    /// What the additional questions measure (unmapped ones are `custom`).
    pub questions: Option<Vec<QuestionMapping>>,
    /// Responses per page (`per_page`, 1–100, default 100).
    pub page_size: Option<i64>,
    /// Earliest `updated_at` on the first sync (`YYYY-MM-DD`); everything when absent.
    pub start_date: Option<String>,
}

/// The Delighted connector.
pub struct Delighted {
    http: HttpClient,
    questions: Vec<map::Mapped>,
    page_size: i64,
    start: Option<i64>,
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

/// The schema of one question (or field) mapping, shared in shape with the Typeform connector.
fn mapping_schema(key: &'static str, what: &'static str) -> Schema {
    Schema::new(vec![
        Field::required(key, FieldType::String, what),
        Field::required("kind", FieldType::String, "`nps`, `csat`, `ces`, `referral` or `custom`."),
        Field::optional("scale_min", FieldType::Float, "Lowest score of the scale."),
        Field::optional("scale_max", FieldType::Float, "Highest score of the scale."),
    ])
}

#[async_trait]
impl Connector for Delighted {
    type Config = DelightedConfig;
    const KIND: &'static str = "delighted";

    fn options() -> Schema {
        Schema::new(vec![
            Field::required("api_key", FieldType::Secret, "The project's API key (Basic user name)."),
            Field::optional(
                "questions",
                FieldType::TableList(mapping_schema("question", "Question id or exact text.")),
                "What additional questions measure (`referral` for \"how did you hear about us\").",
            ),
            Field::optional(
                "page_size",
                FieldType::Integer { min: 1, max: 100 },
                "Survey responses per page (default 100).",
            ),
            Field::optional("start_date", FieldType::String, "Earliest `updated_at` on the first sync."),
        ])
    }

    fn new(config: DelightedConfig, ctx: ConnectorContext) -> Result<Self, ConnectorError> {
        let start = match &config.start_date {
            Some(date) => Some(
                engage_connect::time::parse_timestamp(date)
                    .ok_or_else(|| {
                        ConnectorError::needs_human(format!("start_date `{date}` is not a date (YYYY-MM-DD)"))
                    })?
                    .timestamp(),
            ),
            None => None,
        };
        let mut questions = Vec::new();
        for q in config.questions.unwrap_or_default() {
            let kind = survey_kind(&q.kind).ok_or_else(|| {
                ConnectorError::needs_human(format!(
                    "questions: kind `{}` of `{}`: expected nps, csat, ces, referral or custom",
                    q.kind, q.question
                ))
            })?;
            questions.push(map::Mapped { key: q.question, kind, scale: (q.scale_min, q.scale_max) });
        }
        let auth = Auth::Basic {
            username: config.api_key.expose().to_owned(),
            password: Secret::new(String::new()),
        };
        let http = ctx.http(DEFAULT_BASE_URL, auth, |b| b.default_header("Accept", "application/json"))?;
        Ok(Delighted { http, questions, page_size: config.page_size.unwrap_or(100).clamp(1, 100), start })
    }

    fn streams(&self) -> Vec<StreamSpec> {
        vec![
            StreamSpec {
                name: "survey_responses",
                entity: EntityKind::SurveyResponse,
                primary_key: &["id"],
                cursor_field: Some("updated_at"),
                modes: &[SyncMode::Incremental, SyncMode::FullRefresh],
            },
            StreamSpec {
                name: "people",
                entity: EntityKind::Identity,
                primary_key: &["id"],
                cursor_field: Some("created_at"),
                modes: &[SyncMode::Incremental, SyncMode::FullRefresh],
            },
        ]
    }

    async fn check(&self) -> Result<(), ConnectorError> {
        self.http.get("/v1/people.json").query(&[("per_page", "1")]).send().await.map(|_| ())
    }

    fn read(&self, stream: &str, checkpoint: Option<Checkpoint>) -> PageStream<'_> {
        match stream {
            "survey_responses" => self.responses(checkpoint),
            "people" => self.people(checkpoint),
            other => {
                let error = ConnectorError::needs_human(format!("delighted has no stream `{other}`"));
                futures::stream::once(async move { Err(error) }).boxed()
            }
        }
    }
}

/// Where a survey-response pass is: its `updated_since`, the next page, the newest `updated_at`.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Pass {
    since: Option<i64>,
    page: u64,
    newest: Option<i64>,
}

fn pass_of(checkpoint: Option<&Checkpoint>, start: Option<i64>) -> Pass {
    let int = |k: &str| checkpoint.and_then(|c| c.get(k)).and_then(Value::as_i64);
    match int("page") {
        Some(page) if page >= 1 => {
            Pass { since: int("updated_since"), page: page as u64, newest: int("newest") }
        }
        _ => {
            let since = int("updated_since").or(start);
            Pass { since, page: 1, newest: since }
        }
    }
}

impl Delighted {
    fn responses(&self, checkpoint: Option<Checkpoint>) -> PageStream<'_> {
        let pass = pass_of(checkpoint.as_ref(), self.start);
        paged(pass, move |pass: Pass| async move {
            let mut query = vec![
                ("per_page".to_owned(), self.page_size.to_string()),
                ("page".to_owned(), pass.page.to_string()),
            ];
            if let Some(since) = pass.since {
                query.push(("updated_since".to_owned(), since.to_string()));
            }
            let (_, body) = self.http.get("/v1/survey_responses.json").query_pairs(query).send_json().await?;
            let Value::Array(items) = body else {
                return Err(ConnectorError::needs_human(
                    "GET /v1/survey_responses.json: expected a JSON array of survey responses",
                ));
            };
            let mut page = map::responses(&items, &self.questions);
            let newest = pass.newest.max(map::newest(&items, "updated_at"));
            if (items.len() as i64) < self.page_size {
                page.checkpoint = json!({ "updated_since": newest });
                Ok(Step::Last(page))
            } else {
                let next = Pass { since: pass.since, page: pass.page + 1, newest };
                page.checkpoint = json!({ "updated_since": next.since, "page": next.page, "newest": newest });
                Ok(Step::Page(page, next))
            }
        })
    }

    fn people(&self, checkpoint: Option<Checkpoint>) -> PageStream<'_> {
        let since = checkpoint.as_ref().and_then(|c| c.get("since")).and_then(Value::as_i64);
        let mut spec = RequestSpec::new("/v1/people.json").query("per_page", "100");
        if let Some(since) = since {
            spec = spec.query("since", since.to_string());
        }
        let paginator = Box::new(Paginator::new(self.http.clone(), spec, Pagination::LinkHeader, None));
        paged((paginator, since), move |(mut paginator, newest): (Box<Paginator>, Option<i64>)| async move {
            let Some(fetched) = paginator.next_page().await? else {
                return Ok(Step::Done);
            };
            let mut page: Page = map::people(&fetched.records);
            let newest = newest.max(map::newest(&fetched.records, "created_at"));
            page.checkpoint = json!({ "since": newest });
            Ok(if paginator.is_done() { Step::Last(page) } else { Step::Page(page, (paginator, newest)) })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passes_resume_from_their_page() {
        assert_eq!(pass_of(None, None), Pass { since: None, page: 1, newest: None });
        assert_eq!(pass_of(None, Some(5)), Pass { since: Some(5), page: 1, newest: Some(5) });
        let done = json!({ "updated_since": 100 });
        assert_eq!(pass_of(Some(&done), Some(5)), Pass { since: Some(100), page: 1, newest: Some(100) });
        let mid = json!({ "updated_since": null, "page": 3, "newest": 90 });
        assert_eq!(pass_of(Some(&mid), None), Pass { since: None, page: 3, newest: Some(90) });
    }
}
