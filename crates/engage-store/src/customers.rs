//! Unified customers: reading the identities and the customer references of every table, and
//! applying a linking plan (computed by engage-metrics) in one transaction.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use engage_model::{Entity, EntityKind, Record, normalize_email};
use sqlx::Row;

use crate::columns::sqlite_time;
use crate::{Pool, Result, Store};

/// The (customer source id or `""`, normalised email) a record names, when it names an email:
/// such a record links the email to the source's id of the person.
fn email_ref(entity: &Entity) -> Option<(&str, String)> {
    let (source_id, email) = match entity {
        Entity::Ticket(t) => (&t.customer_source_id, &t.customer_email),
        Entity::SurveyResponse(r) => (&r.customer_source_id, &r.customer_email),
        Entity::Order(o) => (&o.customer_source_id, &o.customer_email),
        Entity::Interaction(i) => (&i.customer_source_id, &i.customer_email),
        Entity::EmailEvent(e) => (&e.customer_source_id, &e.email),
        Entity::Identity(_) | Entity::Review(_) | Entity::EmailCampaign(_) => return None,
    };
    Some((source_id.as_deref().unwrap_or(""), normalize_email(email.as_deref()?)?))
}

/// The distinct email references of a page's records (identities are linked from their own
/// table).
fn page_refs<'a>(groups: &'a [(EntityKind, Vec<&'a Record>)]) -> BTreeSet<(&'a str, String)> {
    groups
        .iter()
        .filter(|(kind, _)| *kind != EntityKind::Identity)
        .flat_map(|(_, records)| records.iter().filter_map(|r| email_ref(&r.entity)))
        .collect()
}

/// Records the page's email references (SQLite), inside the page's transaction.
pub(crate) async fn write_refs_sqlite(
    tx: &mut sqlx::SqliteConnection,
    connection: &str,
    groups: &[(EntityKind, Vec<&Record>)],
    now: &str,
) -> Result<()> {
    let refs: Vec<_> = page_refs(groups).into_iter().collect();
    // 4 parameters a row, well under SQLite's 32,766.
    for chunk in refs.chunks(4_000) {
        let mut sql =
            String::from("INSERT INTO customer_refs (connection, source_id, email, seen_at) VALUES ");
        for i in 0..chunk.len() {
            sql.push_str(if i == 0 { "(?, ?, ?, ?)" } else { ", (?, ?, ?, ?)" });
        }
        sql.push_str(" ON CONFLICT DO NOTHING");
        let mut query = sqlx::query(&sql);
        for (source_id, email) in chunk {
            query = query.bind(connection).bind(*source_id).bind(email.as_str()).bind(now);
        }
        query.execute(&mut *tx).await?;
    }
    Ok(())
}

/// Records the page's email references (PostgreSQL), inside the page's transaction.
pub(crate) async fn write_refs_postgres(
    tx: &mut sqlx::PgConnection,
    connection: &str,
    groups: &[(EntityKind, Vec<&Record>)],
    now: DateTime<Utc>,
) -> Result<()> {
    let refs = page_refs(groups);
    if refs.is_empty() {
        return Ok(());
    }
    let (source_ids, emails): (Vec<String>, Vec<String>) =
        refs.into_iter().map(|(s, e)| (s.replace('\0', "\u{FFFD}"), e.replace('\0', "\u{FFFD}"))).unzip();
    sqlx::query(
        "INSERT INTO customer_refs (connection, source_id, email, seen_at) \
         SELECT $1, s, e, $2 FROM UNNEST($3::text[], $4::text[]) AS r(s, e) ON CONFLICT DO NOTHING",
    )
    .bind(connection)
    .bind(now)
    .bind(source_ids)
    .bind(emails)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// One identity row, as linking sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityLink {
    /// Connection.
    pub connection: String,
    /// Stream.
    pub stream: String,
    /// The source's id of the person.
    pub source_id: String,
    /// The normalised email (`email_normalized`).
    pub email: Option<String>,
    /// The phone as the source gave it.
    pub phone: Option<String>,
    /// The display name.
    pub name: Option<String>,
    /// The customer it is linked to now.
    pub customer_id: Option<i64>,
}

/// A person named by a record of another table: the connection's customer id and/or an email.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct CustomerRef {
    /// Connection.
    pub connection: String,
    /// `customer_source_id` of the record.
    pub source_id: Option<String>,
    /// The email on the record, as given.
    pub email: Option<String>,
}

/// A row of `customers`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCustomer {
    /// Id.
    pub customer_id: i64,
    /// Email.
    pub email: Option<String>,
    /// Name.
    pub name: Option<String>,
    /// Phone.
    pub phone: Option<String>,
}

/// A customer to write: an existing one to update, or a new one (`customer_id` = `None`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedCustomer {
    /// Existing id, or `None` to create.
    pub customer_id: Option<i64>,
    /// Email.
    pub email: Option<String>,
    /// Name.
    pub name: Option<String>,
    /// Phone.
    pub phone: Option<String>,
}

/// The changes linking makes: customers to create or update, identities to (re)assign, and
/// customers merged away.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CustomerPlan {
    /// Customers to create or update.
    pub customers: Vec<PlannedCustomer>,
    /// (connection, stream, source id) of an identity → index into `customers`.
    pub assignments: Vec<((String, String, String), usize)>,
    /// Customers merged into others; deleted after their identities moved.
    pub delete: Vec<i64>,
}

macro_rules! identity_rows {
    ($rows:expr) => {
        $rows
            .iter()
            .map(|r| {
                Ok(IdentityLink {
                    connection: r.try_get(0)?,
                    stream: r.try_get(1)?,
                    source_id: r.try_get(2)?,
                    email: r.try_get(3)?,
                    phone: r.try_get(4)?,
                    name: r.try_get(5)?,
                    customer_id: r.try_get(6)?,
                })
            })
            .collect::<Result<Vec<_>>>()
    };
}

macro_rules! customer_rows {
    ($rows:expr) => {
        $rows
            .iter()
            .map(|r| {
                Ok(StoredCustomer {
                    customer_id: r.try_get(0)?,
                    email: r.try_get(1)?,
                    name: r.try_get(2)?,
                    phone: r.try_get(3)?,
                })
            })
            .collect::<Result<Vec<_>>>()
    };
}

const REF_TABLES: [&str; 5] = ["tickets", "survey_responses", "orders", "interactions", "reviews"];

impl Store {
    /// Every live identity with its link.
    pub async fn identity_links(&self) -> Result<Vec<IdentityLink>> {
        let sql = "SELECT connection, stream, source_id, email_normalized, phone, name, customer_id \
                   FROM identities WHERE deleted_at IS NULL ORDER BY connection, stream, source_id";
        match &self.pool {
            Pool::Sqlite(pool) => identity_rows!(sqlx::query(sql).fetch_all(pool).await?),
            Pool::Postgres(pool) => identity_rows!(sqlx::query(sql).fetch_all(pool).await?),
        }
    }

    /// The distinct (connection, customer id, email) named by live tickets, survey answers,
    /// orders, interactions, reviews (id only) and email events (email only).
    pub async fn customer_refs(&self) -> Result<Vec<CustomerRef>> {
        let mut parts: Vec<String> = REF_TABLES
            .iter()
            .map(|t| {
                let email = if *t == "reviews" { "CAST(NULL AS TEXT)" } else { "customer_email" };
                format!(
                    "SELECT connection, customer_source_id, {email} FROM {t} WHERE deleted_at IS NULL \
                     AND (customer_source_id IS NOT NULL OR {email} IS NOT NULL)"
                )
            })
            .collect();
        parts.push(
            "SELECT connection, customer_source_id, email FROM email_events WHERE deleted_at IS NULL \
             AND (customer_source_id IS NOT NULL OR email IS NOT NULL)"
                .into(),
        );
        let sql = format!("SELECT DISTINCT * FROM ({}) refs", parts.join(" UNION "));
        macro_rules! map {
            ($rows:expr) => {
                $rows
                    .iter()
                    .map(|r| {
                        Ok(CustomerRef {
                            connection: r.try_get(0)?,
                            source_id: r.try_get(1)?,
                            email: r.try_get(2)?,
                        })
                    })
                    .collect::<Result<Vec<_>>>()
            };
        }
        let mut refs = match &self.pool {
            Pool::Sqlite(pool) => map!(sqlx::query(&sql).fetch_all(pool).await?)?,
            Pool::Postgres(pool) => map!(sqlx::query(&sql).fetch_all(pool).await?)?,
        };
        refs.sort();
        Ok(refs)
    }

    /// Every customer.
    pub async fn customers(&self) -> Result<Vec<StoredCustomer>> {
        let sql = "SELECT customer_id, email, name, phone FROM customers ORDER BY customer_id";
        match &self.pool {
            Pool::Sqlite(pool) => customer_rows!(sqlx::query(sql).fetch_all(pool).await?),
            Pool::Postgres(pool) => customer_rows!(sqlx::query(sql).fetch_all(pool).await?),
        }
    }

    /// Applies a linking plan in one transaction: creates and updates customers, moves
    /// identities, then deletes the customers merged away. Returns the id of each planned
    /// customer, in order. Leaves `customer_keys` alone.
    pub async fn apply_customer_plan(&self, plan: &CustomerPlan) -> Result<Vec<i64>> {
        self.apply_link(plan, None).await
    }

    /// [`apply_customer_plan`](Self::apply_customer_plan) and, in the same transaction, the
    /// key table's side of the pass.
    pub async fn apply_link(&self, plan: &CustomerPlan, keys: Option<&KeyPlan>) -> Result<Vec<i64>> {
        let now = Utc::now();
        let mut ids = Vec::with_capacity(plan.customers.len());
        match &self.writer {
            Pool::Sqlite(pool) => {
                let now = sqlite_time(&now);
                let mut tx = pool.begin().await?;
                for c in &plan.customers {
                    let id = match c.customer_id {
                        Some(id) => {
                            sqlx::query(
                                "UPDATE customers SET email = ?1, name = ?2, phone = ?3, updated_at = ?4 WHERE customer_id = ?5 \
                                 AND (email IS NOT ?1 OR name IS NOT ?2 OR phone IS NOT ?3)",
                            )
                            .bind(&c.email)
                            .bind(&c.name)
                            .bind(&c.phone)
                            .bind(&now)
                            .bind(id)
                            .execute(&mut *tx)
                            .await?;
                            id
                        }
                        None => sqlx::query_scalar(
                            "INSERT INTO customers (email, name, phone, created_at, updated_at) VALUES (?, ?, ?, ?, ?) \
                             RETURNING customer_id",
                        )
                        .bind(&c.email)
                        .bind(&c.name)
                        .bind(&c.phone)
                        .bind(&now)
                        .bind(&now)
                        .fetch_one(&mut *tx)
                        .await?,
                    };
                    ids.push(id);
                }
                for ((connection, stream, source_id), i) in &plan.assignments {
                    sqlx::query(
                        "UPDATE identities SET customer_id = ? WHERE connection = ? AND stream = ? AND source_id = ?",
                    )
                    .bind(ids[*i])
                    .bind(connection)
                    .bind(stream)
                    .bind(source_id)
                    .execute(&mut *tx)
                    .await?;
                }
                for id in &plan.delete {
                    sqlx::query("UPDATE identities SET customer_id = NULL WHERE customer_id = ?")
                        .bind(id)
                        .execute(&mut *tx)
                        .await?;
                    sqlx::query("DELETE FROM customers WHERE customer_id = ?")
                        .bind(id)
                        .execute(&mut *tx)
                        .await?;
                }
                if let Some(keys) = keys {
                    match &keys.replace_for {
                        None => sqlx::query("DELETE FROM customer_keys").execute(&mut *tx).await?,
                        Some(ids) => sqlx::query(
                            "DELETE FROM customer_keys WHERE customer_id IN (SELECT value FROM json_each(?))",
                        )
                        .bind(json_list(ids))
                        .execute(&mut *tx)
                        .await?,
                    };
                    for chunk in keys.keys.chunks(4_000) {
                        let mut sql = String::from(
                            "INSERT INTO customer_keys (kind, scope, value, customer_id) VALUES ",
                        );
                        for i in 0..chunk.len() {
                            sql.push_str(if i == 0 { "(?, ?, ?, ?)" } else { ", (?, ?, ?, ?)" });
                        }
                        sql.push_str(" ON CONFLICT (kind, scope, value) DO UPDATE SET customer_id = excluded.customer_id");
                        let mut query = sqlx::query(&sql);
                        for (key, owner) in chunk {
                            let id = match owner {
                                KeyOwner::Planned(i) => ids[*i],
                                KeyOwner::Existing(id) => *id,
                            };
                            query = query.bind(&key.kind).bind(&key.scope).bind(&key.value).bind(id);
                        }
                        query.execute(&mut *tx).await?;
                    }
                    if let Some(at) = keys.linked_through {
                        sqlx::query(
                            "INSERT INTO customer_link_state (id, linked_through) VALUES (1, ?) \
                             ON CONFLICT (id) DO UPDATE SET linked_through = excluded.linked_through",
                        )
                        .bind(sqlite_time(&at))
                        .execute(&mut *tx)
                        .await?;
                    }
                }
                tx.commit().await?;
            }
            Pool::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                for c in &plan.customers {
                    let id = match c.customer_id {
                        Some(id) => {
                            sqlx::query(
                                "UPDATE customers SET email = $1, name = $2, phone = $3, updated_at = $4 WHERE customer_id = $5 \
                                 AND (email IS DISTINCT FROM $1 OR name IS DISTINCT FROM $2 OR phone IS DISTINCT FROM $3)",
                            )
                            .bind(&c.email)
                            .bind(&c.name)
                            .bind(&c.phone)
                            .bind(now)
                            .bind(id)
                            .execute(&mut *tx)
                            .await?;
                            id
                        }
                        None => {
                            sqlx::query_scalar(
                                "INSERT INTO customers (email, name, phone, created_at, updated_at) \
                             VALUES ($1, $2, $3, $4, $4) RETURNING customer_id",
                            )
                            .bind(&c.email)
                            .bind(&c.name)
                            .bind(&c.phone)
                            .bind(now)
                            .fetch_one(&mut *tx)
                            .await?
                        }
                    };
                    ids.push(id);
                }
                for ((connection, stream, source_id), i) in &plan.assignments {
                    sqlx::query(
                        "UPDATE identities SET customer_id = $1 WHERE connection = $2 AND stream = $3 AND source_id = $4",
                    )
                    .bind(ids[*i])
                    .bind(connection)
                    .bind(stream)
                    .bind(source_id)
                    .execute(&mut *tx)
                    .await?;
                }
                for id in &plan.delete {
                    sqlx::query("UPDATE identities SET customer_id = NULL WHERE customer_id = $1")
                        .bind(id)
                        .execute(&mut *tx)
                        .await?;
                    sqlx::query("DELETE FROM customers WHERE customer_id = $1")
                        .bind(id)
                        .execute(&mut *tx)
                        .await?;
                }
                if let Some(keys) = keys {
                    match &keys.replace_for {
                        None => sqlx::query("DELETE FROM customer_keys").execute(&mut *tx).await?,
                        Some(ids) => {
                            sqlx::query("DELETE FROM customer_keys WHERE customer_id = ANY($1)")
                                .bind(ids)
                                .execute(&mut *tx)
                                .await?
                        }
                    };
                    let mut columns: [Vec<&str>; 3] = Default::default();
                    let mut owners = Vec::with_capacity(keys.keys.len());
                    for (key, owner) in &keys.keys {
                        columns[0].push(&key.kind);
                        columns[1].push(&key.scope);
                        columns[2].push(&key.value);
                        owners.push(match owner {
                            KeyOwner::Planned(i) => ids[*i],
                            KeyOwner::Existing(id) => *id,
                        });
                    }
                    let [kinds, scopes, values] = columns;
                    sqlx::query(
                        "INSERT INTO customer_keys (kind, scope, value, customer_id) \
                         SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::bigint[]) \
                         ON CONFLICT (kind, scope, value) DO UPDATE SET customer_id = excluded.customer_id",
                    )
                    .bind(kinds)
                    .bind(scopes)
                    .bind(values)
                    .bind(owners)
                    .execute(&mut *tx)
                    .await?;
                    if let Some(at) = keys.linked_through {
                        sqlx::query(
                            "INSERT INTO customer_link_state (id, linked_through) VALUES (1, $1) \
                             ON CONFLICT (id) DO UPDATE SET linked_through = excluded.linked_through",
                        )
                        .bind(at)
                        .execute(&mut *tx)
                        .await?;
                    }
                }
                tx.commit().await?;
            }
        }
        Ok(ids)
    }
}

/// One linking key as `customer_keys` stores it: kind `source` (scope = connection), `email` or
/// `phone` (scope = `""`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CustomerKey {
    /// `source`, `email` or `phone`.
    pub kind: String,
    /// The connection of a source key, else `""`.
    pub scope: String,
    /// The source's id, the normalised email or the normalised phone.
    pub value: String,
}

/// Who owns a key after linking: a customer of the plan (by index) or an existing one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyOwner {
    /// `CustomerPlan::customers[i]`.
    Planned(usize),
    /// An existing customer the plan leaves as it is.
    Existing(i64),
}

/// The key table's side of a linking pass, written with the plan in one transaction.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyPlan {
    /// Customers whose keys are replaced by `keys` (every key of theirs is deleted first);
    /// `None` replaces the whole table.
    pub replace_for: Option<Vec<i64>>,
    /// Every key of the customers linked in this pass, with its owner.
    pub keys: Vec<(CustomerKey, KeyOwner)>,
    /// The pass's start time, from which the next pass reads changes.
    pub linked_through: Option<DateTime<Utc>>,
}

/// JSON array text of `items`, for SQLite's `json_each`.
fn json_list<T: serde::Serialize>(items: &T) -> String {
    serde_json::to_string(items).unwrap_or_else(|_| "[]".to_owned())
}

macro_rules! ref_rows {
    ($rows:expr) => {
        $rows
            .iter()
            .map(|r| {
                let source_id: String = r.try_get(1)?;
                Ok(CustomerRef {
                    connection: r.try_get(0)?,
                    source_id: (!source_id.is_empty()).then_some(source_id),
                    email: r.try_get(2)?,
                })
            })
            .collect::<Result<Vec<_>>>()
    };
}

macro_rules! key_rows {
    ($rows:expr) => {
        $rows
            .iter()
            .map(|r| {
                Ok((
                    CustomerKey { kind: r.try_get(0)?, scope: r.try_get(1)?, value: r.try_get(2)? },
                    r.try_get::<i64, _>(3)?,
                ))
            })
            .collect::<Result<Vec<_>>>()
    };
}

impl Store {
    /// When the last completed linking pass started, if one ever completed.
    pub async fn linked_through(&self) -> Result<Option<DateTime<Utc>>> {
        match &self.pool {
            Pool::Sqlite(pool) => {
                let text: Option<String> =
                    sqlx::query_scalar("SELECT linked_through FROM customer_link_state WHERE id = 1")
                        .fetch_optional(pool)
                        .await?;
                Ok(text.and_then(|t| DateTime::parse_from_rfc3339(&t).ok()).map(|t| t.with_timezone(&Utc)))
            }
            Pool::Postgres(pool) => {
                Ok(sqlx::query_scalar("SELECT linked_through FROM customer_link_state WHERE id = 1")
                    .fetch_optional(pool)
                    .await?)
            }
        }
    }

    /// Identities changed (written, edited or deleted) at or after `since`, live or not, with
    /// `deleted` telling which.
    pub async fn identities_changed_since(&self, since: DateTime<Utc>) -> Result<Vec<(IdentityLink, bool)>> {
        const SQL: &str = "SELECT connection, stream, source_id, email_normalized, phone, name, customer_id, \
                           deleted_at IS NOT NULL FROM identities WHERE last_seen_at >= $1 \
                           ORDER BY connection, stream, source_id";
        macro_rules! map {
            ($rows:expr) => {{
                let rows = $rows;
                let links = identity_rows!(rows)?;
                let deleted = rows.iter().map(|r| r.try_get::<bool, _>(7)).collect::<Result<Vec<_>, _>>()?;
                Ok(links.into_iter().zip(deleted).collect())
            }};
        }
        match &self.pool {
            Pool::Sqlite(pool) => map!(sqlx::query(SQL).bind(sqlite_time(&since)).fetch_all(pool).await?),
            Pool::Postgres(pool) => map!(sqlx::query(SQL).bind(since).fetch_all(pool).await?),
        }
    }

    /// The live identities linked to any of `customers`.
    pub async fn identities_of_customers(&self, customers: &[i64]) -> Result<Vec<IdentityLink>> {
        const COLUMNS: &str = "SELECT connection, stream, source_id, email_normalized, phone, name, customer_id \
                               FROM identities WHERE deleted_at IS NULL AND customer_id";
        match &self.pool {
            Pool::Sqlite(pool) => identity_rows!(
                sqlx::query(&format!("{COLUMNS} IN (SELECT value FROM json_each(?))"))
                    .bind(json_list(&customers))
                    .fetch_all(pool)
                    .await?
            ),
            Pool::Postgres(pool) => identity_rows!(
                sqlx::query(&format!("{COLUMNS} = ANY($1)")).bind(customers).fetch_all(pool).await?
            ),
        }
    }

    /// Email references recorded at or after `since` (every one without `since`).
    pub async fn customer_refs_since(&self, since: Option<DateTime<Utc>>) -> Result<Vec<CustomerRef>> {
        const SQL: &str = "SELECT connection, source_id, email FROM customer_refs WHERE seen_at >= $1 \
                           ORDER BY connection, source_id, email";
        match &self.pool {
            Pool::Sqlite(pool) => {
                let since = since.map(|s| sqlite_time(&s)).unwrap_or_default();
                ref_rows!(sqlx::query(SQL).bind(since).fetch_all(pool).await?)
            }
            Pool::Postgres(pool) => {
                let since = since.unwrap_or(DateTime::<Utc>::UNIX_EPOCH);
                ref_rows!(sqlx::query(SQL).bind(since).fetch_all(pool).await?)
            }
        }
    }

    /// Email references that name any of `emails` or any (connection, source id) of `sources`.
    pub async fn customer_refs_matching(
        &self,
        emails: &[String],
        sources: &[(String, String)],
    ) -> Result<Vec<CustomerRef>> {
        match &self.pool {
            Pool::Sqlite(pool) => ref_rows!(
                sqlx::query(
                    "SELECT connection, source_id, email FROM customer_refs \
                     WHERE email IN (SELECT value FROM json_each(?1)) \
                     UNION SELECT connection, source_id, email FROM customer_refs \
                     WHERE (connection, source_id) IN \
                       (SELECT value ->> 0, value ->> 1 FROM json_each(?2))",
                )
                .bind(json_list(&emails))
                .bind(json_list(&sources))
                .fetch_all(pool)
                .await?
            ),
            Pool::Postgres(pool) => {
                let (connections, ids): (Vec<&str>, Vec<&str>) =
                    sources.iter().map(|(c, s)| (c.as_str(), s.as_str())).unzip();
                ref_rows!(
                    sqlx::query(
                        "SELECT connection, source_id, email FROM customer_refs WHERE email = ANY($1) \
                         UNION SELECT connection, source_id, email FROM customer_refs \
                         WHERE (connection, source_id) IN (SELECT * FROM UNNEST($2::text[], $3::text[]))",
                    )
                    .bind(emails)
                    .bind(connections)
                    .bind(ids)
                    .fetch_all(pool)
                    .await?
                )
            }
        }
    }

    /// The owners of those of `keys` that belong to a customer.
    pub async fn customer_key_owners(&self, keys: &[CustomerKey]) -> Result<Vec<(CustomerKey, i64)>> {
        let triples: Vec<[&str; 3]> =
            keys.iter().map(|k| [k.kind.as_str(), k.scope.as_str(), k.value.as_str()]).collect();
        match &self.pool {
            Pool::Sqlite(pool) => key_rows!(
                sqlx::query(
                    "SELECT kind, scope, value, customer_id FROM customer_keys WHERE (kind, scope, value) IN \
                     (SELECT value ->> 0, value ->> 1, value ->> 2 FROM json_each(?))",
                )
                .bind(json_list(&triples))
                .fetch_all(pool)
                .await?
            ),
            Pool::Postgres(pool) => {
                let kinds: Vec<&str> = triples.iter().map(|t| t[0]).collect();
                let scopes: Vec<&str> = triples.iter().map(|t| t[1]).collect();
                let values: Vec<&str> = triples.iter().map(|t| t[2]).collect();
                key_rows!(
                    sqlx::query(
                        "SELECT kind, scope, value, customer_id FROM customer_keys WHERE (kind, scope, value) IN \
                         (SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[]))",
                    )
                    .bind(kinds)
                    .bind(scopes)
                    .bind(values)
                    .fetch_all(pool)
                    .await?
                )
            }
        }
    }

    /// Every key of `customers`, with its owner.
    pub async fn keys_of_customers(&self, customers: &[i64]) -> Result<Vec<(CustomerKey, i64)>> {
        const SQL: &str = "SELECT kind, scope, value, customer_id FROM customer_keys WHERE customer_id";
        match &self.pool {
            Pool::Sqlite(pool) => key_rows!(
                sqlx::query(&format!("{SQL} IN (SELECT value FROM json_each(?))"))
                    .bind(json_list(&customers))
                    .fetch_all(pool)
                    .await?
            ),
            Pool::Postgres(pool) => {
                key_rows!(sqlx::query(&format!("{SQL} = ANY($1)")).bind(customers).fetch_all(pool).await?)
            }
        }
    }

    /// How many customers there are.
    pub async fn customer_count(&self) -> Result<usize> {
        const SQL: &str = "SELECT COUNT(*) FROM customers";
        let n: i64 = match &self.pool {
            Pool::Sqlite(pool) => sqlx::query_scalar(SQL).fetch_one(pool).await?,
            Pool::Postgres(pool) => sqlx::query_scalar(SQL).fetch_one(pool).await?,
        };
        Ok(usize::try_from(n).unwrap_or(0))
    }

    /// The customers with these ids.
    pub async fn customers_by_id(&self, ids: &[i64]) -> Result<Vec<StoredCustomer>> {
        const SQL: &str = "SELECT customer_id, email, name, phone FROM customers WHERE customer_id";
        match &self.pool {
            Pool::Sqlite(pool) => customer_rows!(
                sqlx::query(&format!("{SQL} IN (SELECT value FROM json_each(?)) ORDER BY customer_id"))
                    .bind(json_list(&ids))
                    .fetch_all(pool)
                    .await?
            ),
            Pool::Postgres(pool) => customer_rows!(
                sqlx::query(&format!("{SQL} = ANY($1) ORDER BY customer_id"))
                    .bind(ids)
                    .fetch_all(pool)
                    .await?
            ),
        }
    }
}

/// After migration 4: the email references of the records written before it (the email
/// normalisation is Rust's, so SQL cannot compute it).
pub(crate) async fn fill_customer_refs(pool: &Pool) -> Result<()> {
    let mut parts: Vec<String> = REF_TABLES
        .iter()
        .filter(|t| **t != "reviews")
        .map(|t| format!("SELECT connection, customer_source_id, customer_email FROM {t} WHERE customer_email IS NOT NULL"))
        .collect();
    parts.push(
        "SELECT connection, customer_source_id, email FROM email_events WHERE email IS NOT NULL".into(),
    );
    let sql = format!("SELECT DISTINCT * FROM ({}) refs", parts.join(" UNION "));
    let now = Utc::now();
    macro_rules! refs {
        ($rows:expr) => {{
            let mut out = BTreeSet::new();
            for r in $rows {
                let connection: String = r.try_get(0)?;
                let source_id: Option<String> = r.try_get(1)?;
                let email: String = r.try_get(2)?;
                if let Some(email) = normalize_email(&email) {
                    out.insert((connection, source_id.unwrap_or_default(), email));
                }
            }
            out
        }};
    }
    match pool {
        Pool::Sqlite(p) => {
            let refs = refs!(sqlx::query(&sql).fetch_all(p).await?);
            let now = sqlite_time(&now);
            let mut tx = p.begin().await?;
            for (connection, source_id, email) in refs {
                sqlx::query("INSERT INTO customer_refs VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING")
                    .bind(connection)
                    .bind(source_id)
                    .bind(email)
                    .bind(&now)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
        }
        Pool::Postgres(p) => {
            let refs = refs!(sqlx::query(&sql).fetch_all(p).await?);
            let mut tx = p.begin().await?;
            for (connection, source_id, email) in refs {
                sqlx::query("INSERT INTO customer_refs VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING")
                    .bind(connection)
                    .bind(source_id)
                    .bind(email)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
        }
    }
    Ok(())
}
