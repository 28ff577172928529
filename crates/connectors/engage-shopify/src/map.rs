//! Shopify REST orders and customers → unified records. A record that cannot be mapped is
//! quarantined with the reason; the rest of the page goes on.
//!
//! Money is read from Shopify's decimal strings exactly (`"598.94"`, never through a float);
//! the refunded amount is the sum of the successful `refund` transactions of `refunds[]`; an
//! order without `customer` is a guest checkout.

use std::str::FromStr;

use chrono::{DateTime, Utc};
use engage_connect::Page;
use engage_model::{Channel, Identity, Interaction, Order, Quarantined, Record, raw_json};
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use serde_json::Value;

fn text(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        _ => None,
    }
}

fn id(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        _ => None,
    }
}

fn time(item: &Value, field: &str) -> Result<Option<DateTime<Utc>>, String> {
    engage_connect::time::json_timestamp(item.get(field)).map_err(|e| format!("{field}: {e}"))
}

/// A money amount: Shopify's decimal string (a JSON number is accepted as written).
pub fn decimal(value: Option<&Value>, field: &str) -> Result<Option<Decimal>, String> {
    let text = match value {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(s)) => s.trim().to_owned(),
        Some(Value::Number(n)) => n.to_string(),
        Some(other) => return Err(format!("{field}: `{other}` is not an amount")),
    };
    Decimal::from_str(&text).map(Some).map_err(|_| format!("{field}: `{text}` is not a decimal amount"))
}

fn quarantine(item: &Value, reason: String) -> Quarantined {
    Quarantined { source_id: id(item.get("id")), raw: item.to_string(), reason }
}

/// The refunded amount: successful `refund` transactions of every refund.
pub fn refunded(item: &Value) -> Result<Decimal, String> {
    let mut sum = Decimal::ZERO;
    for refund in item.get("refunds").and_then(Value::as_array).into_iter().flatten() {
        for t in refund.get("transactions").and_then(Value::as_array).into_iter().flatten() {
            let kind = t.get("kind").and_then(Value::as_str);
            let status = t.get("status").and_then(Value::as_str);
            if kind == Some("refund") && status.is_none_or(|s| s == "success") {
                sum += decimal(t.get("amount"), "refunds.transactions.amount")?.unwrap_or_default();
            }
        }
    }
    Ok(sum)
}

/// One order → its order and its `order` interaction (same source id).
pub fn order(item: &Value) -> Result<(String, Order, Interaction), String> {
    let source_id = id(item.get("id")).ok_or("id: missing")?;
    let customer = item.get("customer").filter(|c| c.is_object());
    let customer_source_id = customer.and_then(|c| id(c.get("id")));
    let customer_email = text(item.get("email"))
        .or_else(|| text(item.get("contact_email")))
        .or_else(|| customer.and_then(|c| text(c.get("email"))));
    let created_at = time(item, "created_at")?;
    let total = decimal(item.get("total_price"), "total_price")?.ok_or("total_price: missing")?;
    let item_count = item
        .get("line_items")
        .and_then(Value::as_array)
        .map(|items| items.iter().filter_map(|l| l.get("quantity").and_then(Value::as_i64)).sum());
    let order = Order {
        platform: "shopify".to_owned(),
        customer_source_id: customer_source_id.clone(),
        customer_email: customer_email.clone(),
        created_at,
        updated_at: time(item, "updated_at")?,
        currency: text(item.get("currency")),
        total,
        refunded: refunded(item)?,
        item_count,
        guest: customer.is_none(),
        cancelled_at: time(item, "cancelled_at")?,
        financial_status: text(item.get("financial_status")),
    };
    let interaction = Interaction {
        customer_source_id,
        customer_email,
        channel: Channel::Shop,
        kind: "order".to_owned(),
        occurred_at: created_at,
        value: total.to_f64(),
    };
    Ok((source_id, order, interaction))
}

/// Orders → orders and interactions.
pub fn orders(items: &[Value]) -> Page {
    let mut page = Page::default();
    for item in items {
        match order(item)
            .and_then(|o| raw_json(&item.to_string()).map(|raw| (o, raw)).map_err(|e| e.to_string()))
        {
            Ok(((id, order, interaction), raw)) => {
                page.records.push(Record::new(id.clone(), raw.clone(), order));
                page.records.push(Record::new(id, raw, interaction));
            }
            Err(reason) => page.quarantined.push(quarantine(item, reason)),
        }
    }
    page
}

/// One customer → an identity.
pub fn customer(item: &Value) -> Result<(String, Identity), String> {
    let source_id = id(item.get("id")).ok_or("id: missing")?;
    let name = match (text(item.get("first_name")), text(item.get("last_name"))) {
        (Some(f), Some(l)) => Some(format!("{f} {l}")),
        (f, l) => f.or(l),
    };
    let identity = Identity {
        email: text(item.get("email")),
        phone: text(item.get("phone")),
        name,
        created_at: time(item, "created_at")?,
        updated_at: time(item, "updated_at")?,
    };
    Ok((source_id, identity))
}

/// Customers → identities.
pub fn customers(items: &[Value]) -> Page {
    let mut page = Page::default();
    for item in items {
        match customer(item) {
            Ok((id, identity)) => match raw_json(&item.to_string()) {
                Ok(raw) => page.records.push(Record::new(id, raw, identity)),
                Err(e) => page.quarantined.push(quarantine(item, format!("payload: {e}"))),
            },
            Err(reason) => page.quarantined.push(quarantine(item, reason)),
        }
    }
    page
}

/// The newest readable `updated_at` of a page's items (quarantined ones included: the
/// checkpoint moves past them).
pub fn newest_updated(items: &[Value]) -> Option<DateTime<Utc>> {
    items.iter().filter_map(|i| time(i, "updated_at").ok().flatten()).max()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use engage_model::Entity;
    use engage_sandbox::shopify::ORDERS_DOCS_EXAMPLE;

    fn at(s: &str) -> DateTime<Utc> {
        engage_connect::time::parse_timestamp(s).unwrap()
    }

    /// The official example order, field by field: exact money, the refund's transaction,
    /// the customer, the shop's offset turned into UTC.
    #[test]
    fn official_order() {
        let body: Value = serde_json::from_str(ORDERS_DOCS_EXAMPLE).unwrap();
        let items = body["orders"].as_array().unwrap();
        let page = orders(items);
        assert!(page.quarantined.is_empty());
        assert_eq!(page.records.len(), 2);
        assert_eq!(page.records[0].source_id, "450789469");
        assert_eq!(page.records[1].source_id, "450789469");
        assert_eq!(serde_json::from_str::<Value>(page.records[0].raw.get()).unwrap(), items[0]);
        let Entity::Order(o) = &page.records[0].entity else { panic!() };
        assert_eq!(
            *o,
            Order {
                platform: "shopify".into(),
                customer_source_id: Some("207119551".into()),
                customer_email: Some("bob.norman@mail.example.com".into()),
                created_at: Some(at("2008-01-10T16:00:00Z")),
                updated_at: Some(at("2008-01-10T16:00:00Z")),
                currency: Some("USD".into()),
                total: Decimal::from_str("598.94").unwrap(),
                refunded: Decimal::from_str("209.00").unwrap(),
                item_count: Some(3),
                guest: false,
                cancelled_at: None,
                financial_status: Some("partially_refunded".into()),
            }
        );
        let Entity::Interaction(i) = &page.records[1].entity else { panic!() };
        assert_eq!(
            *i,
            Interaction {
                customer_source_id: Some("207119551".into()),
                customer_email: Some("bob.norman@mail.example.com".into()),
                channel: Channel::Shop,
                kind: "order".into(),
                occurred_at: Some(at("2008-01-10T16:00:00Z")),
                value: Some(598.94),
            }
        );
    }

    /// A guest checkout (no customer), a cancellation with a full refund (failed refund
    /// transactions do not count), and malformed money quarantined with its reason.
    #[test]
    fn guests_cancellations_and_bad_money() {
        let guest = serde_json::json!({
            "id": 5000000001u64, "email": "guest@example.com", "created_at": "2025-01-02T10:00:00-05:00",
            "updated_at": "2025-01-03T10:00:00-05:00", "cancelled_at": "2025-01-03T10:00:00-05:00",
            "total_price": "10.10", "currency": "EUR", "financial_status": "refunded",
            "line_items": [{ "quantity": 2 }, { "quantity": 1 }],
            "refunds": [{ "transactions": [
                { "kind": "refund", "status": "success", "amount": "10.10" },
                { "kind": "refund", "status": "failure", "amount": "10.10" },
                { "kind": "sale", "status": "success", "amount": "10.10" }
            ] }]
        });
        let bad =
            serde_json::json!({ "id": 7, "total_price": "12,34", "created_at": "2025-01-02T10:00:00-05:00" });
        let page = orders(&[guest, bad]);
        let Entity::Order(o) = &page.records[0].entity else { panic!() };
        assert!(o.guest);
        assert_eq!(o.customer_source_id, None);
        assert_eq!(o.customer_email.as_deref(), Some("guest@example.com"));
        assert_eq!(o.total, Decimal::from_str("10.10").unwrap());
        assert_eq!(o.refunded, Decimal::from_str("10.10").unwrap());
        assert_eq!(o.item_count, Some(3));
        assert_eq!(o.cancelled_at, Some(at("2025-01-03T15:00:00Z")));
        assert_eq!(page.quarantined.len(), 1);
        assert_eq!(page.quarantined[0].source_id.as_deref(), Some("7"));
        assert_eq!(page.quarantined[0].reason, "total_price: `12,34` is not a decimal amount");
    }

    #[test]
    fn official_customer() {
        let body: Value = serde_json::from_str(ORDERS_DOCS_EXAMPLE).unwrap();
        let page = customers(std::slice::from_ref(&body["orders"][0]["customer"]));
        let Entity::Identity(i) = &page.records[0].entity else { panic!() };
        assert_eq!(page.records[0].source_id, "207119551");
        assert_eq!(i.email.as_deref(), Some("bob.norman@mail.example.com"));
        assert_eq!(i.phone.as_deref(), Some("+16136120707"));
        assert_eq!(i.name.as_deref(), Some("Bob Norman"));
        assert_eq!(i.updated_at, Some(at("2024-01-02T13:59:11Z")));
    }
}
