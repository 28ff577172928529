//! Unified customers: reading the identities and the customer references of every table, and
//! applying a linking plan (computed by engage-metrics) in one transaction.

use chrono::Utc;
use sqlx::Row;

use crate::columns::sqlite_time;
use crate::{Pool, Result, Store};

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

const REF_TABLES: [&str; 5] = ["tickets", "survey_responses", "orders", "interactions", "reviews"];

impl Store {
    /// Every live identity with its link.
    pub async fn identity_links(&self) -> Result<Vec<IdentityLink>> {
        let sql = "SELECT connection, stream, source_id, email_normalized, phone, name, customer_id \
                   FROM identities WHERE deleted_at IS NULL ORDER BY connection, stream, source_id";
        macro_rules! map {
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
        match &self.pool {
            Pool::Sqlite(pool) => map!(sqlx::query(sql).fetch_all(pool).await?),
            Pool::Postgres(pool) => map!(sqlx::query(sql).fetch_all(pool).await?),
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
        macro_rules! map {
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
        match &self.pool {
            Pool::Sqlite(pool) => map!(sqlx::query(sql).fetch_all(pool).await?),
            Pool::Postgres(pool) => map!(sqlx::query(sql).fetch_all(pool).await?),
        }
    }

    /// Applies a linking plan in one transaction: creates and updates customers, moves
    /// identities, then deletes the customers merged away. Returns the id of each planned
    /// customer, in order.
    pub async fn apply_customer_plan(&self, plan: &CustomerPlan) -> Result<Vec<i64>> {
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
                tx.commit().await?;
            }
        }
        Ok(ids)
    }
}
