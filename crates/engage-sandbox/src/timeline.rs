//! The order of a stream's records by version time, with memory that stays flat: the base
//! dataset is a pure function of the record index (base times grow with the index), and only
//! the records changed by [`Mutation`]s are stored.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::ops::Bound;

use rand::Rng;

use crate::rng;

/// Changes applied to the data between syncs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Mutation {
    /// Existing records to update (new `updated_at`, new content).
    pub updates: usize,
    /// Existing records to delete (where the stream models deletions).
    pub deletions: usize,
    /// New records to create.
    pub creations: usize,
}

/// The current version of one record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Version {
    /// The version time the stream is ordered and filtered by (Unix seconds).
    pub time: i64,
    /// The time of revision 0 (the base time, or the creation time of a created record).
    pub born: i64,
    /// 0 for the original record, +1 per update or deletion.
    pub revision: u32,
    /// Whether the record is deleted.
    pub deleted: bool,
}

/// A position in the stream's order: (version time, record index).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Pos {
    /// Version time.
    pub time: i64,
    /// Record index.
    pub index: u64,
}

/// Where a scan starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Start {
    /// At the first record whose version time is at or after this time.
    Time(i64),
    /// Just after this position.
    After(Pos),
}

/// One page of a scan.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Scan {
    /// The kept records, in order.
    pub items: Vec<(u64, Version)>,
    /// The position of the last record examined (kept or not): resume after it.
    pub last: Option<Pos>,
    /// Whether records remain after `last` (within the end bound).
    pub more: bool,
}

/// The indices a mutation touched.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Applied {
    /// Updated record indices.
    pub updated: Vec<u64>,
    /// Deleted record indices.
    pub deleted: Vec<u64>,
    /// Created record indices.
    pub created: Vec<u64>,
}

/// A stream's records in (version time, index) order.
///
/// Indices `0..fixed.len()` are fixed records (e.g. official examples) with given times; indices
/// `fixed.len()..fixed.len() + generated` are generated records whose base times are spread
/// evenly over `[from, to]`; later indices are records created by mutations.
#[derive(Clone, Debug)]
pub struct Timeline {
    fixed: Vec<i64>,
    generated: u64,
    from: i64,
    span: i64,
    overlay: BTreeMap<u64, Version>,
    order: BTreeSet<(i64, u64)>,
    len: u64,
    mutations: u64,
}

impl Timeline {
    /// A timeline. `fixed_times` must be non-decreasing and not later than `from`.
    pub fn new(fixed_times: Vec<i64>, generated: u64, from: i64, to: i64) -> Self {
        let len = fixed_times.len() as u64 + generated;
        Timeline {
            fixed: fixed_times,
            generated,
            from,
            span: (to - from).max(0),
            overlay: BTreeMap::new(),
            order: BTreeSet::new(),
            len,
            mutations: 0,
        }
    }

    /// Number of records, created ones included.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the timeline holds no record.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Number of fixed records.
    pub fn fixed_len(&self) -> u64 {
        self.fixed.len() as u64
    }

    /// Number of generated base records.
    pub fn generated_len(&self) -> u64 {
        self.generated
    }

    /// Number of records stored because a mutation changed or created them.
    pub fn changed_len(&self) -> usize {
        self.overlay.len()
    }

    fn base_len(&self) -> u64 {
        self.fixed.len() as u64 + self.generated
    }

    /// The base time of a fixed or generated record.
    pub fn base_time(&self, index: u64) -> i64 {
        let f = self.fixed.len() as u64;
        if index < f {
            return self.fixed[index as usize];
        }
        let k = i128::from(index - f);
        let n = i128::from(self.generated.max(1));
        self.from + (k * i128::from(self.span) / n) as i64
    }

    /// The generated base index whose base time is the latest at or before `time`
    /// (the inverse of [`Timeline::base_time`] over generated records), if any.
    pub fn generated_at_or_before(&self, time: i64) -> Option<u64> {
        if self.generated == 0 || time < self.from {
            return None;
        }
        if self.span == 0 {
            return Some(self.generated - 1);
        }
        let k = (i128::from(time - self.from) * i128::from(self.generated) / i128::from(self.span)) as u64;
        Some(k.min(self.generated - 1))
    }

    /// The current version of a record, `None` past the end.
    pub fn version(&self, index: u64) -> Option<Version> {
        if let Some(v) = self.overlay.get(&index) {
            return Some(*v);
        }
        (index < self.base_len()).then(|| {
            let t = self.base_time(index);
            Version { time: t, born: t, revision: 0, deleted: false }
        })
    }

    /// The current position of a record in the order.
    pub fn pos(&self, index: u64) -> Option<Pos> {
        self.version(index).map(|v| Pos { time: v.time, index })
    }

    /// Every record in index order (for ground truth).
    pub fn iter(&self) -> impl Iterator<Item = (u64, Version)> + '_ {
        (0..self.len).filter_map(|i| self.version(i).map(|v| (i, v)))
    }

    fn walk(&self, start: Start) -> Walk<'_> {
        let before = |p: Pos| match start {
            Start::Time(t) => p.time < t,
            Start::After(a) => p <= a,
        };
        // Base positions grow with the index: binary search the first one not before the start.
        let (mut lo, mut hi) = (0u64, self.base_len());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if before(Pos { time: self.base_time(mid), index: mid }) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        let lower = match start {
            Start::Time(t) => Bound::Included((t, 0)),
            Start::After(a) => Bound::Excluded((a.time, a.index)),
        };
        Walk { tl: self, base: lo, over: self.order.range((lower, Bound::Unbounded)).peekable() }
    }

    /// Up to `limit` records from `start` in order, stopping after version time `end` (inclusive)
    /// when given; `keep` filters records out of the page without stopping the scan.
    pub fn scan(
        &self,
        start: Start,
        end: Option<i64>,
        limit: usize,
        mut keep: impl FnMut(u64, &Version) -> bool,
    ) -> Scan {
        let within = |p: &Pos| end.is_none_or(|e| p.time <= e);
        let mut walk = self.walk(start).peekable();
        let mut scan = Scan::default();
        while scan.items.len() < limit {
            match walk.peek() {
                Some((p, _)) if within(p) => {}
                _ => break,
            }
            let Some((p, v)) = walk.next() else { break };
            scan.last = Some(p);
            if keep(p.index, &v) {
                scan.items.push((p.index, v));
            }
        }
        scan.more = walk.peek().is_some_and(|(p, _)| within(p));
        scan
    }

    fn set(&mut self, index: u64, v: Version) {
        if let Some(old) = self.overlay.insert(index, v) {
            self.order.remove(&(old.time, index));
        }
        self.order.insert((v.time, index));
    }

    /// Applies a mutation deterministically (from the seed, the stream tag and the number of
    /// mutations so far). Changed records get version times spread over `[t0, t1]`; fixed
    /// records are never touched; deletions are skipped unless `allow_delete`.
    pub fn apply(
        &mut self,
        seed: u64,
        stream_tag: u64,
        m: &Mutation,
        t0: i64,
        t1: i64,
        allow_delete: bool,
    ) -> Applied {
        let mut r = rng::rng(seed, &[stream_tag, self.mutations, 0x3717]);
        self.mutations += 1;
        let first = self.fixed.len() as u64;
        let mut chosen = HashSet::new();
        let mut pick = |tl: &Timeline, want: usize| {
            let mut out = Vec::with_capacity(want);
            if tl.len <= first {
                return out;
            }
            let mut tries = 0;
            while out.len() < want && tries < want * 20 + 64 {
                tries += 1;
                let i = r.random_range(first..tl.len);
                if tl.version(i).is_some_and(|v| !v.deleted) && chosen.insert(i) {
                    out.push(i);
                }
            }
            out
        };
        let updated = pick(self, m.updates);
        let deleted = if allow_delete { pick(self, m.deletions) } else { Vec::new() };
        let total = (updated.len() + deleted.len() + m.creations).max(1) as i128;
        let span = i128::from((t1 - t0).max(0));
        let mut slot = 0i128;
        let mut next_time = || {
            let t = t0 + (slot * span / total) as i64;
            slot += 1;
            t
        };
        for (list, deleting) in [(&updated, false), (&deleted, true)] {
            for &i in list {
                let time = next_time();
                if let Some(old) = self.version(i) {
                    let v = Version { time, born: old.born, revision: old.revision + 1, deleted: deleting };
                    self.set(i, v);
                }
            }
        }
        let mut created = Vec::with_capacity(m.creations);
        for _ in 0..m.creations {
            let time = next_time();
            let i = self.len;
            self.len += 1;
            self.set(i, Version { time, born: time, revision: 0, deleted: false });
            created.push(i);
        }
        Applied { updated, deleted, created }
    }
}

struct Walk<'a> {
    tl: &'a Timeline,
    base: u64,
    over: std::iter::Peekable<std::collections::btree_set::Range<'a, (i64, u64)>>,
}

impl Iterator for Walk<'_> {
    type Item = (Pos, Version);

    fn next(&mut self) -> Option<(Pos, Version)> {
        let base_len = self.tl.base_len();
        while self.base < base_len && self.tl.overlay.contains_key(&self.base) {
            self.base += 1;
        }
        let b = (self.base < base_len).then(|| Pos { time: self.tl.base_time(self.base), index: self.base });
        let o = self.over.peek().map(|&&(time, index)| Pos { time, index });
        let take_overlay = match (b, o) {
            (Some(b), Some(o)) => o < b,
            (None, Some(_)) => true,
            (Some(_), None) => false,
            (None, None) => return None,
        };
        if take_overlay {
            let p = o?;
            self.over.next();
            Some((p, self.tl.overlay.get(&p.index).copied()?))
        } else {
            let p = b?;
            self.base += 1;
            Some((p, Version { time: p.time, born: p.time, revision: 0, deleted: false }))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(tl: &Timeline, start: Start) -> Vec<u64> {
        tl.scan(start, None, usize::MAX, |_, _| true).items.iter().map(|(i, _)| *i).collect()
    }

    #[test]
    fn pages_cover_everything_once_in_order() {
        let mut tl = Timeline::new(vec![5, 7], 100, 1_000, 2_000);
        tl.apply(9, 1, &Mutation { updates: 10, deletions: 5, creations: 7 }, 3_000, 3_600, true);
        let mut seen = Vec::new();
        let mut start = Start::Time(0);
        loop {
            let page = tl.scan(start, None, 13, |_, _| true);
            seen.extend(page.items.iter().map(|(i, v)| (v.time, *i)));
            match page.last {
                Some(p) if page.more => start = Start::After(p),
                _ => break,
            }
        }
        assert_eq!(seen.len(), 109);
        assert!(seen.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(tl.changed_len(), 22);
        let after: Vec<u64> = all(&tl, Start::Time(3_000));
        assert_eq!(after.len(), 22);
    }

    #[test]
    fn start_time_and_end_bounds() {
        let tl = Timeline::new(vec![], 10, 0, 90);
        assert_eq!(all(&tl, Start::Time(45)), vec![5, 6, 7, 8, 9]);
        assert_eq!(all(&tl, Start::After(Pos { time: 45, index: 5 })), vec![6, 7, 8, 9]);
        let s = tl.scan(Start::Time(0), Some(27), 100, |_, _| true);
        assert_eq!(s.items.len(), 4);
        assert!(!s.more);
        assert_eq!(tl.generated_at_or_before(27), Some(3));
    }

    #[test]
    fn mutation_is_deterministic() {
        let mut a = Timeline::new(vec![], 1_000, 0, 10_000);
        let mut b = a.clone();
        let m = Mutation { updates: 20, deletions: 3, creations: 4 };
        assert_eq!(a.apply(1, 2, &m, 20_000, 21_000, true), b.apply(1, 2, &m, 20_000, 21_000, true));
    }
}
