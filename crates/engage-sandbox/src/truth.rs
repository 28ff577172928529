//! Ground truth: what a correct connector must have stored after syncing a simulator.

use std::collections::{BTreeMap, BTreeSet};

/// One record as the connector must store it.
#[derive(Clone, Debug, PartialEq)]
pub struct TruthRecord {
    /// Exactly the object the connector should store as `raw`.
    pub raw: serde_json::Value,
    /// Whether the source reports the record as deleted.
    pub deleted: bool,
}

/// Every stream's expected records, by source id, plus the records that must be quarantined.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct GroundTruth {
    /// Stream name -> source id -> expected record. Malformed records are not listed here.
    pub streams: BTreeMap<String, BTreeMap<String, TruthRecord>>,
    /// Stream name -> source ids of the records served malformed (quarantine, do not store).
    pub malformed: BTreeMap<String, BTreeSet<String>>,
}

impl GroundTruth {
    /// The expected records of one stream (empty when the stream is unknown).
    pub fn stream(&self, name: &str) -> &BTreeMap<String, TruthRecord> {
        static EMPTY: BTreeMap<String, TruthRecord> = BTreeMap::new();
        self.streams.get(name).unwrap_or(&EMPTY)
    }

    /// The malformed source ids of one stream (empty when there are none).
    pub fn malformed(&self, name: &str) -> &BTreeSet<String> {
        static EMPTY: BTreeSet<String> = BTreeSet::new();
        self.malformed.get(name).unwrap_or(&EMPTY)
    }

    /// Adds a record: into the stream when well-formed, into `malformed` otherwise.
    pub fn insert(&mut self, stream: &str, source_id: String, record: TruthRecord, malformed: bool) {
        if malformed {
            self.malformed.entry(stream.to_owned()).or_default().insert(source_id);
        } else {
            self.streams.entry(stream.to_owned()).or_default().insert(source_id, record);
        }
    }
}

/// The records of `after` that are new or differ from `before` (what an incremental read after
/// a mutation must deliver).
pub fn changed(
    before: &BTreeMap<String, TruthRecord>,
    after: &BTreeMap<String, TruthRecord>,
) -> BTreeMap<String, TruthRecord> {
    after
        .iter()
        .filter(|(id, r)| before.get(*id) != Some(*r))
        .map(|(id, r)| (id.clone(), r.clone()))
        .collect()
}
