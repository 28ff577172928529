//! Delighted survey responses and people → unified records. A response that cannot be mapped
//! is quarantined whole, with the reason; the rest of the page goes on.
//!
//! The response's own score is an answer of the project's survey type:
//!
//! | `survey_type` | kind | scale |
//! |---|---|---|
//! | `nps` | NPS | 0–10 |
//! | `csat`, `smileys`, `5star` | CSAT | 1–5 |
//! | `thumbs` | CSAT | 0–1 |
//! | `ces` | CES | 1–7 |
//! | `enps`, `pmf`, others | custom | 0–10, 1–3, none |
//!
//! Each additional answer is another answer: `scale` gives the score, `free_response` the
//! comment, `select_one` its option's text and `select_many` its options' texts (joined with
//! `, `) as the comment.

use chrono::{DateTime, Utc};
use engage_connect::Page;
use engage_model::{Identity, Quarantined, Record, SurveyKind, SurveyResponse, raw_json};
use serde_json::Value;

/// A question mapped to what it measures.
#[derive(Debug, Clone, PartialEq)]
pub struct Mapped {
    /// Question id or exact text.
    pub key: String,
    /// What it measures.
    pub kind: SurveyKind,
    /// Its scale, when configured.
    pub scale: (Option<f64>, Option<f64>),
}

fn text(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn time(item: &Value, field: &str) -> Result<Option<DateTime<Utc>>, String> {
    engage_connect::time::json_timestamp(item.get(field)).map_err(|e| format!("{field}: {e}"))
}

/// The kind and scale of a survey type's score.
pub fn survey_type(name: &str) -> (SurveyKind, Option<f64>, Option<f64>) {
    match name {
        "nps" => (SurveyKind::Nps, Some(0.0), Some(10.0)),
        "csat" | "smileys" | "5star" => (SurveyKind::Csat, Some(1.0), Some(5.0)),
        "thumbs" => (SurveyKind::Csat, Some(0.0), Some(1.0)),
        "ces" => (SurveyKind::Ces, Some(1.0), Some(7.0)),
        "enps" => (SurveyKind::Custom, Some(0.0), Some(10.0)),
        "pmf" => (SurveyKind::Custom, Some(1.0), Some(3.0)),
        _ => (SurveyKind::Custom, None, None),
    }
}

fn score(value: Option<&Value>, field: &str) -> Result<Option<f64>, String> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => {
            n.as_f64().map(Some).ok_or_else(|| format!("{field}: `{n}` is not a number"))
        }
        Some(other) => Err(format!("{field}: `{other}` is not a number")),
    }
}

/// One survey response → its own answer and one per additional answer.
pub fn response(item: &Value, questions: &[Mapped]) -> Result<Vec<(String, SurveyResponse)>, String> {
    let id = text(item.get("id")).ok_or("id: missing")?;
    let survey = text(item.get("survey_type"));
    let (kind, scale_min, scale_max) = survey_type(survey.as_deref().unwrap_or(""));
    let answered_at = time(item, "created_at")?;
    time(item, "updated_at")?;
    let person = text(item.get("person"));
    let own = SurveyResponse {
        platform: "delighted".to_owned(),
        survey_id: survey.clone(),
        question: None,
        kind,
        score: score(item.get("score"), "score")?,
        scale_min,
        scale_max,
        comment: text(item.get("comment")),
        customer_source_id: person.clone(),
        customer_email: None,
        answered_at,
    };
    let mut out = vec![(id.clone(), own)];
    for (n, answer) in
        item.get("additional_answers").and_then(Value::as_array).into_iter().flatten().enumerate()
    {
        let answer_id = text(answer.get("id")).ok_or(format!("additional_answers[{n}].id: missing"))?;
        let question = answer.get("question");
        let question_id = text(question.and_then(|q| q.get("id")));
        let question_text = text(question.and_then(|q| q.get("text")));
        let mapped = questions
            .iter()
            .find(|m| Some(&m.key) == question_id.as_ref() || Some(&m.key) == question_text.as_ref());
        let value = answer.get("value");
        let field = |k: &str| value.and_then(|v| v.get(k));
        let answer_score = score(field("scale"), &format!("additional_answers[{n}].value.scale"))?;
        let comment = text(field("free_response"))
            .or_else(|| text(field("select_one").and_then(|o| o.get("text"))))
            .or_else(|| {
                let texts: Vec<String> = field("select_many")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(|o| text(o.get("text")))
                    .collect();
                (!texts.is_empty()).then(|| texts.join(", "))
            });
        out.push((
            format!("{id}/{answer_id}"),
            SurveyResponse {
                platform: "delighted".to_owned(),
                survey_id: survey.clone(),
                question: question_text.or(question_id),
                kind: mapped.map_or(SurveyKind::Custom, |m| m.kind),
                score: answer_score,
                scale_min: mapped.and_then(|m| m.scale.0),
                scale_max: mapped.and_then(|m| m.scale.1),
                comment,
                customer_source_id: person.clone(),
                customer_email: None,
                answered_at,
            },
        ));
    }
    Ok(out)
}

fn quarantine(item: &Value, reason: String) -> Quarantined {
    Quarantined { source_id: text(item.get("id")), raw: item.to_string(), reason }
}

/// Survey responses → one record per answer.
pub fn responses(items: &[Value], questions: &[Mapped]) -> Page {
    let mut page = Page::default();
    for item in items {
        let mapped = response(item, questions).and_then(|answers| {
            raw_json(&item.to_string()).map(|raw| (answers, raw)).map_err(|e| e.to_string())
        });
        match mapped {
            Ok((answers, raw)) => {
                for (id, answer) in answers {
                    page.records.push(Record::new(id, raw.clone(), answer));
                }
            }
            Err(reason) => page.quarantined.push(quarantine(item, reason)),
        }
    }
    page
}

/// One person → an identity.
pub fn person(item: &Value) -> Result<(String, Identity), String> {
    let id = text(item.get("id")).ok_or("id: missing")?;
    let created_at = time(item, "created_at")?;
    let identity = Identity {
        email: text(item.get("email")),
        phone: text(item.get("phone_number")),
        name: text(item.get("name")),
        created_at,
        updated_at: None,
    };
    Ok((id, identity))
}

/// People → identities.
pub fn people(items: &[Value]) -> Page {
    let mut page = Page::default();
    for item in items {
        match person(item)
            .and_then(|p| raw_json(&item.to_string()).map(|raw| (p, raw)).map_err(|e| e.to_string()))
        {
            Ok(((id, identity), raw)) => page.records.push(Record::new(id, raw, identity)),
            Err(reason) => page.quarantined.push(quarantine(item, reason)),
        }
    }
    page
}

/// The newest Unix time in `field` among the items (unreadable ones ignored).
pub fn newest(items: &[Value], field: &str) -> Option<i64> {
    items.iter().filter_map(|i| i.get(field).and_then(Value::as_i64)).max()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use engage_model::Entity;
    use engage_sandbox::delighted::{PEOPLE_DOCS_EXAMPLE, RESPONSE_DOCS_EXAMPLE};
    use serde_json::json;

    /// (source id, kind, score, …) of one stored answer.
    type Row = (String, SurveyKind, Option<f64>, Option<String>, Option<f64>);

    fn at(unix: i64) -> Option<DateTime<Utc>> {
        DateTime::from_timestamp(unix, 0)
    }

    #[test]
    fn official_response_and_person() {
        let item: Value = serde_json::from_str(RESPONSE_DOCS_EXAMPLE).unwrap();
        let page = responses(std::slice::from_ref(&item), &[]);
        assert_eq!(page.records.len(), 1);
        assert_eq!(page.records[0].source_id, "2");
        assert_eq!(serde_json::from_str::<Value>(page.records[0].raw.get()).unwrap(), item);
        assert_eq!(
            page.records[0].entity,
            Entity::SurveyResponse(SurveyResponse {
                platform: "delighted".into(),
                survey_id: Some("nps".into()),
                question: None,
                kind: SurveyKind::Nps,
                score: Some(9.0),
                scale_min: Some(0.0),
                scale_max: Some(10.0),
                comment: None,
                customer_source_id: Some("1".into()),
                customer_email: None,
                answered_at: at(1_713_497_396),
            })
        );
        let people_list: Vec<Value> = serde_json::from_str(PEOPLE_DOCS_EXAMPLE).unwrap();
        let page = people(&people_list);
        assert_eq!(page.records[0].source_id, "1");
        assert_eq!(
            page.records[0].entity,
            Entity::Identity(Identity {
                email: Some("gabriel.larson@simsarnold.com".into()),
                phone: Some("+17132746524".into()),
                name: Some("Gabriel Larson".into()),
                created_at: at(1_708_404_257),
                updated_at: None,
            })
        );
    }

    /// Additional answers in the four documented shapes; a mapped "how did you hear about us"
    /// becomes a referral answer; a CES project's score is a CES answer on 1–7.
    #[test]
    fn additional_answers_and_survey_types() {
        let item = json!({
            "id": "77", "person": "9", "survey_type": "ces", "score": 6, "comment": "Easy enough",
            "created_at": 1_700_000_000, "updated_at": 1_700_000_100,
            "additional_answers": [
                { "id": "1", "value": { "select_one": { "id": "31", "text": "A friend recommended you" } },
                  "question": { "id": "21", "type": "select_one", "text": "How did you hear about us?" } },
                { "id": "2", "value": { "scale": 4 }, "question": { "id": "22", "type": "scale", "text": "Ease?" } },
                { "id": "3", "value": { "free_response": "Más rápido, por favor" },
                  "question": { "id": "23", "type": "free_response", "text": "What could we do better?" } },
                { "id": "4", "value": { "select_many": [{ "id": "41", "text": "Reports" }, { "id": "43", "text": "Integrations" }] },
                  "question": { "id": "24", "type": "select_many", "text": "Which features do you use?" } }
            ]
        });
        let questions = [
            Mapped { key: "21".into(), kind: SurveyKind::Referral, scale: (None, None) },
            Mapped { key: "Ease?".into(), kind: SurveyKind::Csat, scale: (Some(1.0), Some(5.0)) },
        ];
        let page = responses(&[item], &questions);
        let got: Vec<Row> = page
            .records
            .iter()
            .map(|r| match &r.entity {
                Entity::SurveyResponse(s) => {
                    (r.source_id.clone(), s.kind, s.score, s.comment.clone(), s.scale_max)
                }
                _ => panic!(),
            })
            .collect();
        assert_eq!(
            got,
            [
                ("77".into(), SurveyKind::Ces, Some(6.0), Some("Easy enough".into()), Some(7.0)),
                ("77/1".into(), SurveyKind::Referral, None, Some("A friend recommended you".into()), None),
                ("77/2".into(), SurveyKind::Csat, Some(4.0), None, Some(5.0)),
                ("77/3".into(), SurveyKind::Custom, None, Some("Más rápido, por favor".into()), None),
                ("77/4".into(), SurveyKind::Custom, None, Some("Reports, Integrations".into()), None),
            ]
        );
        let Entity::SurveyResponse(s) = &page.records[1].entity else { panic!() };
        assert_eq!(s.question.as_deref(), Some("How did you hear about us?"));
        assert_eq!(s.customer_source_id.as_deref(), Some("9"));
    }

    #[test]
    fn malformed_responses_are_quarantined_whole() {
        let bad_score = json!({ "id": "5", "survey_type": "nps", "score": "ten", "created_at": 1 });
        let bad_time = json!({ "id": "6", "survey_type": "nps", "score": 3, "created_at": "yesterday" });
        let page = responses(&[bad_score, bad_time], &[]);
        assert!(page.records.is_empty());
        let reasons: Vec<(Option<&str>, &str)> =
            page.quarantined.iter().map(|q| (q.source_id.as_deref(), q.reason.as_str())).collect();
        assert_eq!(
            reasons,
            [
                (Some("5"), "score: `\"ten\"` is not a number"),
                (Some("6"), "created_at: `yesterday` is not a timestamp")
            ]
        );
    }
}
