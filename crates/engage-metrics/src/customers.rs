//! The unified customer: identities of every source linked into customers by normalised email,
//! phone and source ids, merged when identities meet, rebuilt incrementally.
//!
//! A pass reads only what changed since the last one (identities by their change time, the
//! email references records have named since), finds the customers that own the keys involved
//! (`customer_keys`), widens that region until it is closed — every identity, reference and key
//! linked to it is in — and links the region exactly as a full pass would link the whole store.
//! So merges and splits come out the same either way, and a pass costs in proportion to the
//! people touched, not to the size of the store. Only changes are written; an unchanged store
//! gets no writes.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{Duration, Utc};
use engage_model::normalize_email;
use engage_store::{
    CustomerKey, CustomerPlan, CustomerRef, IdentityLink, KeyOwner, KeyPlan, PlannedCustomer, Store,
    StoredCustomer,
};
use serde::Serialize;

/// A linking key: one way a person is recognised.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Key {
    /// A source's own id of the person, within one connection: (connection, source id).
    Source(String, String),
    /// A normalised email (trimmed, lower case).
    Email(String),
    /// A phone number reduced to its digits (with a leading `+` kept), at least 7 digits.
    Phone(String),
}

impl Key {
    /// The key as the store keeps it.
    pub fn stored(&self) -> CustomerKey {
        let (kind, scope, value) = match self {
            Key::Source(connection, id) => ("source", connection.as_str(), id.as_str()),
            Key::Email(email) => ("email", "", email.as_str()),
            Key::Phone(phone) => ("phone", "", phone.as_str()),
        };
        CustomerKey { kind: kind.to_owned(), scope: scope.to_owned(), value: value.to_owned() }
    }

    /// The key the store kept, if its kind is known.
    pub fn from_stored(key: &CustomerKey) -> Option<Key> {
        match key.kind.as_str() {
            "source" => Some(Key::Source(key.scope.clone(), key.value.clone())),
            "email" => Some(Key::Email(key.value.clone())),
            "phone" => Some(Key::Phone(key.value.clone())),
            _ => None,
        }
    }
}

/// Reduces a phone number to `+` and digits; `None` below 7 digits.
pub fn normalize_phone(phone: &str) -> Option<String> {
    let trimmed = phone.trim();
    let digits: String = trimmed.chars().filter(char::is_ascii_digit).collect();
    if digits.len() < 7 {
        return None;
    }
    Some(if trimmed.starts_with('+') { format!("+{digits}") } else { digits })
}

/// What a linking pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct LinkStats {
    /// Live identities read.
    pub identities: usize,
    /// Customers after linking.
    pub customers: usize,
    /// Customers created.
    pub created: usize,
    /// Customers merged into another one (deleted).
    pub merged: usize,
    /// Identities whose customer changed.
    pub relinked: usize,
    /// Customers whose email, name or phone changed.
    pub updated: usize,
}

struct UnionFind {
    parent: Vec<usize>,
}

impl UnionFind {
    fn find(&mut self, mut x: usize) -> usize {
        while self.parent[x] != x {
            self.parent[x] = self.parent[self.parent[x]];
            x = self.parent[x];
        }
        x
    }
    fn union(&mut self, a: usize, b: usize) {
        let (ra, rb) = (self.find(a), self.find(b));
        if ra != rb {
            let (lo, hi) = (ra.min(rb), ra.max(rb));
            self.parent[hi] = lo;
        }
    }
}

/// Groups keys into people: keys that appear on one identity or one record belong together.
pub fn components(groups: &[Vec<Key>]) -> Vec<BTreeSet<Key>> {
    let mut index: HashMap<&Key, usize> = HashMap::new();
    let mut keys: Vec<&Key> = Vec::new();
    for g in groups {
        for k in g {
            index.entry(k).or_insert_with(|| {
                keys.push(k);
                keys.len() - 1
            });
        }
    }
    let mut uf = UnionFind { parent: (0..keys.len()).collect() };
    for g in groups {
        for pair in g.windows(2) {
            uf.union(index[&pair[0]], index[&pair[1]]);
        }
    }
    let mut by_root: BTreeMap<usize, BTreeSet<Key>> = BTreeMap::new();
    for (i, k) in keys.iter().enumerate() {
        let root = uf.find(i);
        by_root.entry(root).or_default().insert((*k).clone());
    }
    let mut out: Vec<BTreeSet<Key>> = by_root.into_values().collect();
    out.sort();
    out
}

fn identity_keys(i: &IdentityLink) -> Vec<Key> {
    let mut keys = vec![Key::Source(i.connection.clone(), i.source_id.clone())];
    keys.extend(i.email.as_deref().and_then(normalize_email).map(Key::Email));
    keys.extend(i.phone.as_deref().and_then(normalize_phone).map(Key::Phone));
    keys
}

fn ref_keys(r: &CustomerRef) -> Vec<Key> {
    let mut keys = Vec::new();
    keys.extend(r.source_id.clone().map(|s| Key::Source(r.connection.clone(), s)));
    keys.extend(r.email.as_deref().and_then(normalize_email).map(Key::Email));
    keys
}

/// Plans the links: one customer per group of linked keys that holds an identity or an email.
/// Existing customers keep their ids: a group takes the smallest id among its identities'
/// customers and the customers whose email it holds; the other ids of the group are merged
/// into it. The plan holds only changes.
pub fn plan(
    identities: &[IdentityLink],
    refs: &[CustomerRef],
    existing: &[StoredCustomer],
) -> (CustomerPlan, LinkStats) {
    let (plan, stats, _) = plan_with_keys(identities, refs, existing);
    (plan, stats)
}

/// [`plan`], plus every key of every customer with its owner after the plan.
pub fn plan_with_keys(
    identities: &[IdentityLink],
    refs: &[CustomerRef],
    existing: &[StoredCustomer],
) -> (CustomerPlan, LinkStats, Vec<(CustomerKey, KeyOwner)>) {
    let mut keys: Vec<(CustomerKey, KeyOwner)> = Vec::new();
    let mut groups: Vec<Vec<Key>> = identities.iter().map(identity_keys).collect();
    groups.extend(refs.iter().map(ref_keys).filter(|g| !g.is_empty()));
    let comps = components(&groups);
    let mut comp_of: HashMap<&Key, usize> = HashMap::new();
    for (i, c) in comps.iter().enumerate() {
        for k in c {
            comp_of.insert(k, i);
        }
    }
    let mut members: Vec<Vec<&IdentityLink>> = vec![Vec::new(); comps.len()];
    for i in identities {
        members[comp_of[&Key::Source(i.connection.clone(), i.source_id.clone())]].push(i);
    }
    let by_email: HashMap<String, &StoredCustomer> =
        existing.iter().filter_map(|c| Some((c.email.as_deref().and_then(normalize_email)?, c))).collect();
    let stored: HashMap<i64, &StoredCustomer> = existing.iter().map(|c| (c.customer_id, c)).collect();

    let mut result = CustomerPlan::default();
    let mut stats = LinkStats { identities: identities.len(), ..LinkStats::default() };
    let mut taken: BTreeSet<i64> = BTreeSet::new();
    let mut kept_ids: BTreeSet<i64> = BTreeSet::new();
    for (ci, comp) in comps.iter().enumerate() {
        let emails: Vec<&String> =
            comp.iter().filter_map(|k| if let Key::Email(e) = k { Some(e) } else { None }).collect();
        if members[ci].is_empty() && emails.is_empty() {
            continue;
        }
        let mut candidates: BTreeSet<i64> = members[ci].iter().filter_map(|i| i.customer_id).collect();
        candidates.extend(emails.iter().filter_map(|e| by_email.get(*e).map(|c| c.customer_id)));
        candidates.retain(|id| stored.contains_key(id));
        let id = candidates.iter().copied().find(|id| !taken.contains(id));
        if let Some(id) = id {
            taken.insert(id);
        }
        let first = |f: fn(&IdentityLink) -> Option<&String>| members[ci].iter().find_map(|i| f(i)).cloned();
        let planned = PlannedCustomer {
            customer_id: id,
            email: first(|i| i.email.as_ref()).or_else(|| emails.first().map(|e| (*e).clone())),
            name: first(|i| i.name.as_ref()),
            phone: first(|i| i.phone.as_ref()),
        };
        let changed = match id.and_then(|id| stored.get(&id)) {
            Some(s) => s.email != planned.email || s.name != planned.name || s.phone != planned.phone,
            None => true,
        };
        let moves: Vec<&IdentityLink> =
            members[ci].iter().copied().filter(|i| i.customer_id.is_none() || i.customer_id != id).collect();
        if id.is_none() {
            stats.created += 1;
        } else if changed {
            stats.updated += 1;
        }
        if let Some(id) = id {
            kept_ids.insert(id);
        }
        stats.customers += 1;
        let owner = match id {
            Some(id) if !changed && moves.is_empty() => KeyOwner::Existing(id),
            _ => KeyOwner::Planned(result.customers.len()),
        };
        keys.extend(comp.iter().map(|k| (k.stored(), owner)));
        if changed || !moves.is_empty() {
            let index = result.customers.len();
            result.customers.push(planned);
            for i in moves {
                stats.relinked += 1;
                result
                    .assignments
                    .push(((i.connection.clone(), i.stream.clone(), i.source_id.clone()), index));
            }
        }
    }
    for c in existing {
        if !kept_ids.contains(&c.customer_id) {
            result.delete.push(c.customer_id);
            stats.merged += 1;
        }
    }
    (result, stats, keys)
}

/// How far before the last pass's start a pass reads changes again: a page committed while
/// that pass ran may carry an earlier time. Reading a change twice is harmless.
const OVERLAP: Duration = Duration::minutes(5);

/// Links what changed since the last pass (everything, the first time), writing only changes.
pub async fn link(store: &Store) -> Result<LinkStats, engage_store::StoreError> {
    match store.linked_through().await? {
        None => link_full(store).await,
        Some(since) => link_changes(store, since - OVERLAP).await,
    }
}

/// Links the whole store from scratch (and rebuilds the key table), writing only changes.
pub async fn link_full(store: &Store) -> Result<LinkStats, engage_store::StoreError> {
    let started = Utc::now();
    let identities = store.identity_links().await?;
    let refs = store.customer_refs_since(None).await?;
    let existing = store.customers().await?;
    let (p, stats, keys) = plan_with_keys(&identities, &refs, &existing);
    store.apply_link(&p, Some(&KeyPlan { replace_for: None, keys, linked_through: Some(started) })).await?;
    Ok(stats)
}

/// Links the identities changed and the references recorded at or after `since`, with every
/// customer they touch.
pub async fn link_changes(
    store: &Store,
    since: chrono::DateTime<Utc>,
) -> Result<LinkStats, engage_store::StoreError> {
    let started = Utc::now();
    let changed = store.identities_changed_since(since).await?;
    let new_refs = store.customer_refs_since(Some(since)).await?;
    if changed.is_empty() && new_refs.is_empty() {
        let customers = store.customer_count().await?;
        return Ok(LinkStats { customers, ..LinkStats::default() });
    }
    // The region: the customers owning any key involved, widened until closed.
    let mut region: BTreeSet<i64> = changed.iter().filter_map(|(i, _)| i.customer_id).collect();
    let mut seen: BTreeSet<Key> = BTreeSet::new();
    let mut pending: BTreeSet<Key> = changed.iter().flat_map(|(i, _)| identity_keys(i)).collect();
    pending.extend(new_refs.iter().flat_map(ref_keys));
    let mut identities: BTreeMap<(String, String, String), IdentityLink> = changed
        .iter()
        .filter(|(_, deleted)| !deleted)
        .map(|(i, _)| ((i.connection.clone(), i.stream.clone(), i.source_id.clone()), i.clone()))
        .collect();
    let mut refs: BTreeSet<CustomerRef> = new_refs.into_iter().collect();
    let mut loaded: BTreeSet<i64> = BTreeSet::new();
    while !pending.is_empty() {
        let batch: Vec<Key> =
            std::mem::take(&mut pending).into_iter().filter(|k| seen.insert(k.clone())).collect();
        if batch.is_empty() {
            break;
        }
        let stored: Vec<CustomerKey> = batch.iter().map(Key::stored).collect();
        region.extend(store.customer_key_owners(&stored).await?.into_iter().map(|(_, id)| id));
        // References naming the batch's emails or source ids.
        let emails: Vec<String> =
            batch.iter().filter_map(|k| if let Key::Email(e) = k { Some(e.clone()) } else { None }).collect();
        let sources: Vec<(String, String)> = batch
            .iter()
            .filter_map(|k| if let Key::Source(c, s) = k { Some((c.clone(), s.clone())) } else { None })
            .collect();
        for r in store.customer_refs_matching(&emails, &sources).await? {
            pending.extend(ref_keys(&r).into_iter().filter(|k| !seen.contains(k)));
            refs.insert(r);
        }
        // Customers newly in the region bring their identities and keys.
        let fresh: Vec<i64> = region.difference(&loaded).copied().collect();
        if !fresh.is_empty() {
            loaded.extend(&fresh);
            for i in store.identities_of_customers(&fresh).await? {
                pending.extend(identity_keys(&i).into_iter().filter(|k| !seen.contains(k)));
                identities.entry((i.connection.clone(), i.stream.clone(), i.source_id.clone())).or_insert(i);
            }
            for (k, _) in store.keys_of_customers(&fresh).await? {
                pending.extend(Key::from_stored(&k).filter(|k| !seen.contains(k)));
            }
        }
    }
    let region: Vec<i64> = region.into_iter().collect();
    let existing = store.customers_by_id(&region).await?;
    let identities: Vec<IdentityLink> = identities.into_values().collect();
    let refs: Vec<CustomerRef> = refs.into_iter().collect();
    let (p, mut stats, keys) = plan_with_keys(&identities, &refs, &existing);
    store
        .apply_link(&p, Some(&KeyPlan { replace_for: Some(region), keys, linked_through: Some(started) }))
        .await?;
    stats.customers = store.customer_count().await?;
    Ok(stats)
}

/// The keys of the person known by `email`: every key linked to it through identities and
/// records.
pub async fn keys_of(store: &Store, email: &str) -> Result<BTreeSet<Key>, engage_store::StoreError> {
    let Some(email) = normalize_email(email) else { return Ok(BTreeSet::new()) };
    let identities = store.identity_links().await?;
    let refs = store.customer_refs().await?;
    let mut groups: Vec<Vec<Key>> = identities.iter().map(identity_keys).collect();
    groups.extend(refs.iter().map(ref_keys).filter(|g| !g.is_empty()));
    let target = Key::Email(email);
    Ok(components(&groups).into_iter().find(|c| c.contains(&target)).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity(
        conn: &str,
        id: &str,
        email: Option<&str>,
        phone: Option<&str>,
        customer: Option<i64>,
    ) -> IdentityLink {
        IdentityLink {
            connection: conn.into(),
            stream: "users".into(),
            source_id: id.into(),
            email: email.map(String::from),
            phone: phone.map(String::from),
            name: Some(format!("{conn}-{id}")),
            customer_id: customer,
        }
    }

    #[test]
    fn phones_reduce_to_digits() {
        assert_eq!(normalize_phone("+48 (22) 123-45-67"), Some("+48221234567".into()));
        assert_eq!(normalize_phone("555 0100 22"), Some("555010022".into()));
        assert_eq!(normalize_phone("123"), None);
    }

    #[test]
    fn identities_meeting_by_email_phone_or_record_become_one_customer() {
        let ids = vec![
            identity("zendesk", "1", Some("ana@example.pl"), None, None),
            identity("shop", "9", Some("ANA@example.pl "), Some("+48 221 234 567"), None),
            identity("crm", "x", None, Some("+48221234567"), None),
            identity("zendesk", "2", Some("bob@example.com"), None, None),
            identity("reviews", "r7", None, None, None),
        ];
        // An order links the review platform's author id r7 to bob's email.
        let refs = vec![CustomerRef {
            connection: "reviews".into(),
            source_id: Some("r7".into()),
            email: Some("Bob@Example.com".into()),
        }];
        let (plan, stats) = plan(&ids, &refs, &[]);
        assert_eq!((stats.customers, stats.created, stats.relinked), (2, 2, 5));
        assert_eq!(plan.customers.len(), 2);
        assert_eq!(plan.assignments.len(), 5);
        let of = |conn: &str| plan.assignments.iter().find(|((c, _, _), _)| c == conn).unwrap().1;
        assert_eq!((of("zendesk"), of("shop"), of("crm")), (0, 0, 0));
        assert_eq!(of("reviews"), 1);
        let emails: BTreeSet<Option<String>> = plan.customers.iter().map(|c| c.email.clone()).collect();
        assert_eq!(emails, [Some("ana@example.pl".to_owned()), Some("bob@example.com".to_owned())].into());
    }

    #[test]
    fn relinking_an_unchanged_store_plans_nothing_and_merges_keep_the_smallest_id() {
        let stored = vec![
            StoredCustomer {
                customer_id: 1,
                email: Some("ana@example.pl".into()),
                name: Some("zendesk-1".into()),
                phone: None,
            },
            StoredCustomer {
                customer_id: 2,
                email: Some("ana@shop.pl".into()),
                name: Some("shop-9".into()),
                phone: Some("+48221234567".into()),
            },
        ];
        let ids = vec![
            identity("zendesk", "1", Some("ana@example.pl"), None, Some(1)),
            identity("shop", "9", Some("ana@shop.pl"), Some("+48221234567"), Some(2)),
        ];
        let (p, stats) = plan(&ids, &[], &stored);
        assert!(p.customers.is_empty() && p.delete.is_empty() && p.assignments.is_empty(), "{p:?}");
        assert_eq!(stats.customers, 2);
        // The zendesk identity gains the shop phone: the two meet and merge into customer 1.
        let mut met = ids.clone();
        met[0].phone = Some("+48 22 123 45 67".into());
        let (p, stats) = plan(&met, &[], &stored);
        assert_eq!(p.delete, vec![2]);
        assert_eq!(p.customers.len(), 1);
        assert_eq!(p.customers[0].customer_id, Some(1));
        assert_eq!(p.assignments, vec![(("shop".into(), "users".into(), "9".into()), 0)]);
        assert_eq!((stats.merged, stats.relinked, stats.created), (1, 1, 0));
    }
}
