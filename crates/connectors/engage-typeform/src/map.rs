//! Typeform response items → one survey answer per answered field. A response that cannot be
//! mapped is quarantined whole (under its token), with the reason.
//!
//! An answer's value by its `type`: `number` → the score; `boolean` → 1 or 0 on a 0–1 scale
//! (a yes/no referral question counts "yes" as referred); `choice` → its label (or `other`) as
//! the comment; `choices` → the labels joined with `, `; `text`, `email`, `url`, `file_url`,
//! `date`, `phone_number` → the comment. The respondent's email is the first `email` answer, or
//! the `email` hidden field.

use chrono::{DateTime, Utc};
use engage_connect::Page;
use engage_model::{Quarantined, Record, SurveyKind, SurveyResponse, raw_json};
use serde_json::Value;

/// A field mapped to what it measures.
#[derive(Debug, Clone, PartialEq)]
pub struct Mapped {
    /// Field `ref` or id.
    pub key: String,
    /// What it measures.
    pub kind: SurveyKind,
    /// Its scale, when configured.
    pub scale: (Option<f64>, Option<f64>),
    /// The question's text, when configured.
    pub question: Option<String>,
}

fn text(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        _ => None,
    }
}

/// `submitted_at` of an item; Typeform's `0001-01-01T00:00:00Z` (never submitted) is `None`.
fn submitted(item: &Value) -> Result<Option<DateTime<Utc>>, String> {
    let at = engage_connect::time::json_timestamp(item.get("submitted_at"))
        .map_err(|e| format!("submitted_at: {e}"))?;
    Ok(at.filter(|t| t.timestamp() > 0))
}

/// The newest `submitted_at` of the items (unreadable ones ignored).
pub fn newest_submitted(items: &[Value]) -> Option<DateTime<Utc>> {
    items.iter().filter_map(|i| submitted(i).ok().flatten()).max()
}

/// One response → its answers: (source id, answer).
pub fn response(
    form: &str,
    item: &Value,
    fields: &[Mapped],
) -> Result<Vec<(String, SurveyResponse)>, String> {
    let token = text(item.get("token")).or_else(|| text(item.get("response_id"))).ok_or("token: missing")?;
    let answered_at = submitted(item)?.ok_or("submitted_at: missing (not a completed response)")?;
    let answers = match item.get("answers") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => a.clone(),
        Some(other) => return Err(format!("answers: `{other}` is not an array")),
    };
    let email = answers
        .iter()
        .find(|a| a.get("type").and_then(Value::as_str) == Some("email"))
        .and_then(|a| text(a.get("email")))
        .or_else(|| text(item.pointer("/hidden/email")));
    let customer =
        text(item.pointer("/hidden/customer_id")).or_else(|| text(item.pointer("/hidden/user_id")));
    let mut out = Vec::with_capacity(answers.len());
    for (n, a) in answers.iter().enumerate() {
        let at = |what: &str| format!("answers[{n}].{what}");
        let field_id = text(a.pointer("/field/id")).ok_or_else(|| at("field.id: missing"))?;
        let field_ref = text(a.pointer("/field/ref"));
        let mapped = fields.iter().find(|m| m.key == field_id || Some(&m.key) == field_ref.as_ref());
        let kind_of = a.get("type").and_then(Value::as_str).unwrap_or_default();
        let value = a.get(kind_of);
        let (mut score, mut comment, mut scale) = (None, None, (None, None));
        match (kind_of, value) {
            (_, None | Some(Value::Null)) => {}
            ("number", Some(v)) => {
                score = Some(v.as_f64().ok_or_else(|| at(&format!("number: `{v}` is not a number")))?);
            }
            ("boolean", Some(v)) => {
                let b = v.as_bool().ok_or_else(|| at(&format!("boolean: `{v}` is not a boolean")))?;
                score = Some(if b { 1.0 } else { 0.0 });
                scale = (Some(0.0), Some(1.0));
            }
            ("choice", Some(v)) => comment = text(v.get("label")).or_else(|| text(v.get("other"))),
            ("choices", Some(v)) => {
                let mut labels: Vec<String> = v
                    .get("labels")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(|l| text(Some(l)))
                    .collect();
                labels.extend(text(v.get("other")));
                comment = (!labels.is_empty()).then(|| labels.join(", "));
            }
            (_, Some(Value::String(s))) => comment = Some(s.clone()),
            (_, Some(v)) => comment = Some(v.to_string()),
        }
        if let Some(m) = mapped
            && (m.scale.0.is_some() || m.scale.1.is_some())
        {
            scale = m.scale;
        }
        out.push((
            format!("{token}/{field_id}"),
            SurveyResponse {
                platform: "typeform".to_owned(),
                survey_id: Some(form.to_owned()),
                question: mapped.and_then(|m| m.question.clone()).or(field_ref).or(Some(field_id)),
                kind: mapped.map_or(SurveyKind::Custom, |m| m.kind),
                score,
                scale_min: scale.0,
                scale_max: scale.1,
                comment,
                customer_source_id: customer.clone(),
                customer_email: email.clone(),
                answered_at: Some(answered_at),
            },
        ));
    }
    Ok(out)
}

/// Response items of `form` → answers; bad responses quarantined.
pub fn responses(form: &str, items: &[Value], fields: &[Mapped]) -> Page {
    let mut page = Page::default();
    for item in items {
        let mapped = response(form, item, fields).and_then(|answers| {
            raw_json(&item.to_string()).map(|raw| (answers, raw)).map_err(|e| e.to_string())
        });
        match mapped {
            Ok((answers, raw)) => {
                for (id, answer) in answers {
                    page.records.push(Record::new(id, raw.clone(), answer));
                }
            }
            Err(reason) => page.quarantined.push(Quarantined {
                source_id: text(item.get("token")),
                raw: item.to_string(),
                reason,
            }),
        }
    }
    page
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use engage_model::Entity;
    use serde_json::json;

    /// (source id, kind, score, …) of one stored answer.
    type Row = (String, SurveyKind, Option<f64>, Option<f64>, Option<String>);

    fn mapping() -> Vec<Mapped> {
        vec![
            Mapped {
                key: "nps_score".into(),
                kind: SurveyKind::Nps,
                scale: (Some(0.0), Some(10.0)),
                question: None,
            },
            Mapped {
                key: "hEaR".into(),
                kind: SurveyKind::Referral,
                scale: (None, None),
                question: Some("How did you hear about us?".into()),
            },
            Mapped {
                key: "referred".into(),
                kind: SurveyKind::Referral,
                scale: (None, None),
                question: None,
            },
        ]
    }

    /// A response in the documented shape: the NPS answer mapped by `ref`, the referral
    /// question by id, a yes/no referral, an unmapped text answer and the respondent's email.
    #[test]
    fn answers_map_by_ref_or_id() {
        let item = json!({
            "landing_id": "21085286190ffad1248d17c4135ee56f", "token": "21085286190ffad1248d17c4135ee56f",
            "response_id": "21085286190ffad1248d17c4135ee56f",
            "landed_at": "2017-09-14T22:33:59Z", "submitted_at": "2017-09-14T22:38:22Z",
            "metadata": { "browser": "default" }, "hidden": {}, "calculated": { "score": 0 },
            "answers": [
                { "field": { "id": "hVONkQcnSNRj", "type": "opinion_scale", "ref": "nps_score" }, "type": "number", "number": 9 },
                { "field": { "id": "hEaR", "type": "multiple_choice", "ref": "source" }, "type": "choice",
                  "choice": { "label": "A friend recommended you" } },
                { "field": { "id": "yN", "type": "yes_no", "ref": "referred" }, "type": "boolean", "boolean": true },
                { "field": { "id": "tXt", "type": "long_text", "ref": "comment" }, "type": "text", "text": "Świetna obsługa" },
                { "field": { "id": "mAiL", "type": "email", "ref": "email" }, "type": "email", "email": "ana@example.com" },
                { "field": { "id": "mAnY", "type": "multiple_choice", "ref": "features" }, "type": "choices",
                  "choices": { "labels": ["Reports", "API"], "other": "Webhooks" } }
            ]
        });
        let page = responses("u6nXL7", std::slice::from_ref(&item), &mapping());
        assert!(page.quarantined.is_empty());
        let got: Vec<Row> = page
            .records
            .iter()
            .map(|r| match &r.entity {
                Entity::SurveyResponse(s) => {
                    (r.source_id.clone(), s.kind, s.score, s.scale_max, s.comment.clone())
                }
                _ => panic!(),
            })
            .collect();
        let t = "21085286190ffad1248d17c4135ee56f";
        assert_eq!(
            got,
            [
                (format!("{t}/hVONkQcnSNRj"), SurveyKind::Nps, Some(9.0), Some(10.0), None),
                (
                    format!("{t}/hEaR"),
                    SurveyKind::Referral,
                    None,
                    None,
                    Some("A friend recommended you".into())
                ),
                (format!("{t}/yN"), SurveyKind::Referral, Some(1.0), Some(1.0), None),
                (format!("{t}/tXt"), SurveyKind::Custom, None, None, Some("Świetna obsługa".into())),
                (format!("{t}/mAiL"), SurveyKind::Custom, None, None, Some("ana@example.com".into())),
                (format!("{t}/mAnY"), SurveyKind::Custom, None, None, Some("Reports, API, Webhooks".into())),
            ]
        );
        let Entity::SurveyResponse(s) = &page.records[1].entity else { panic!() };
        assert_eq!(s.question.as_deref(), Some("How did you hear about us?"));
        assert_eq!(s.customer_email.as_deref(), Some("ana@example.com"));
        assert_eq!(s.survey_id.as_deref(), Some("u6nXL7"));
        assert_eq!(s.answered_at.unwrap().to_rfc3339(), "2017-09-14T22:38:22+00:00");
        assert_eq!(serde_json::from_str::<Value>(page.records[0].raw.get()).unwrap(), item);
        assert_eq!(newest_submitted(&[item]).unwrap().timestamp(), 1_505_428_702);
    }

    #[test]
    fn bad_responses_are_quarantined_whole() {
        let bad_time = json!({ "token": "a1", "submitted_at": "yesterday", "answers": [] });
        let bad_number = json!({ "token": "b2", "submitted_at": "2024-01-01T00:00:00Z", "answers": [
            { "field": { "id": "x", "ref": "nps_score" }, "type": "number", "number": "nine" } ] });
        let partial = json!({ "token": "c3", "submitted_at": "0001-01-01T00:00:00Z", "answers": null });
        let page = responses("f", &[bad_time, bad_number, partial], &mapping());
        assert!(page.records.is_empty());
        let reasons: Vec<(&str, &str)> =
            page.quarantined.iter().map(|q| (q.source_id.as_deref().unwrap(), q.reason.as_str())).collect();
        assert_eq!(
            reasons,
            [
                ("a1", "submitted_at: `yesterday` is not a timestamp"),
                ("b2", "answers[0].number: `\"nine\"` is not a number"),
                ("c3", "submitted_at: missing (not a completed response)")
            ]
        );
    }
}
