//! Which files a stream's path or glob names, and their fingerprints (time, size, content hash).

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Component, Path, PathBuf};
use std::time::UNIX_EPOCH;

use engage_connect::ConnectorError;

/// One matched file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Matched {
    /// Where it is.
    pub path: PathBuf,
    /// Its name relative to the pattern's fixed directory (`orders.csv`, `2024/orders.csv`):
    /// the key of its checkpoint entry and the `$file` of its rows.
    pub name: String,
}

/// The files `pattern` names, sorted by name. A pattern without wildcards names one file (it
/// must exist); `*` and `?` match within a path component, `**` matches any number of folders.
pub(crate) fn expand(pattern: &Path) -> Result<Vec<Matched>, ConnectorError> {
    let components: Vec<String> = pattern
        .components()
        .map(|c| match c {
            Component::Normal(s) => s.to_string_lossy().into_owned(),
            other => other.as_os_str().to_string_lossy().into_owned(),
        })
        .collect();
    let wild = components.iter().position(|c| c.contains(['*', '?']));
    let Some(first_wild) = wild else {
        let meta = std::fs::metadata(pattern)
            .map_err(|e| ConnectorError::needs_human(format!("cannot read {}: {e}", pattern.display())))?;
        if !meta.is_file() {
            return Err(ConnectorError::needs_human(format!("{} is not a file", pattern.display())));
        }
        let name = pattern.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        return Ok(vec![Matched { path: pattern.to_path_buf(), name }]);
    };
    let base: PathBuf = components[..first_wild].iter().collect();
    let base = if base.as_os_str().is_empty() { PathBuf::from(".") } else { base };
    let mut found = Vec::new();
    walk(&base, &components[first_wild..], &mut Vec::new(), &mut found, 0);
    found.sort_by(|a, b| a.name.cmp(&b.name));
    found.dedup_by(|a, b| a.name == b.name);
    Ok(found)
}

/// Matches `rest` of the pattern below `dir`; `rel` is the path so far below the fixed base.
fn walk(dir: &Path, rest: &[String], rel: &mut Vec<String>, found: &mut Vec<Matched>, depth: usize) {
    let Some((head, tail)) = rest.split_first() else { return };
    if depth > 64 {
        return;
    }
    if head == "**" {
        // Zero folders...
        walk(dir, tail, rel, found, depth + 1);
        // ...or one more, keeping `**` for the next level.
        for (name, path, is_dir) in entries(dir) {
            if is_dir && !name.starts_with('.') {
                rel.push(name);
                walk(&path, rest, rel, found, depth + 1);
                rel.pop();
            }
        }
        return;
    }
    for (name, path, is_dir) in entries(dir) {
        if !wildcard(head, &name) {
            continue;
        }
        rel.push(name);
        if tail.is_empty() {
            if !is_dir {
                found.push(Matched { path, name: rel.join("/") });
            }
        } else if is_dir {
            walk(&path, tail, rel, found, depth + 1);
        }
        rel.pop();
    }
}

/// The entries of `dir` (name, path, is a folder); none when it cannot be read.
fn entries(dir: &Path) -> Vec<(String, PathBuf, bool)> {
    let Ok(read) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut out: Vec<(String, PathBuf, bool)> = read
        .filter_map(Result::ok)
        .map(|e| {
            let path = e.path();
            let is_dir = path.is_dir();
            (e.file_name().to_string_lossy().into_owned(), path, is_dir)
        })
        .collect();
    out.sort();
    out
}

/// Whether `name` matches `pattern` (`*` any run, `?` one character); a leading dot must be
/// matched explicitly.
pub(crate) fn wildcard(pattern: &str, name: &str) -> bool {
    if name.starts_with('.') && !pattern.starts_with('.') {
        return false;
    }
    let (p, n): (Vec<char>, Vec<char>) = (pattern.chars().collect(), name.chars().collect());
    let (mut pi, mut ni) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while ni < n.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == n[ni]) {
            pi += 1;
            ni += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ni;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ni = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// A file's modification time (milliseconds since the Unix epoch; 0 when unknown) and size.
pub(crate) fn stat(path: &Path) -> Result<(i64, u64), ConnectorError> {
    let meta = std::fs::metadata(path)
        .map_err(|e| ConnectorError::needs_human(format!("cannot read {}: {e}", path.display())))?;
    let modified = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    Ok((modified, meta.len()))
}

/// The FNV-1a offset basis: the hash of no bytes.
pub(crate) const FNV_START: u64 = 0xcbf2_9ce4_8422_2325;

/// Continues a 64-bit FNV-1a hash over `bytes` (the state is the hash so far, so a hash can be
/// kept in a checkpoint and continued later).
pub(crate) fn fnv(state: u64, bytes: &[u8]) -> u64 {
    bytes.iter().fold(state, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3))
}

/// The hash of the first `len` bytes of `path`; `None` when the file is shorter.
pub(crate) fn prefix_hash(path: &Path, len: u64) -> Result<Option<u64>, ConnectorError> {
    let file = File::open(path)
        .map_err(|e| ConnectorError::needs_human(format!("cannot open {}: {e}", path.display())))?;
    let mut reader = BufReader::with_capacity(1 << 16, file).take(len);
    let mut buf = vec![0u8; 1 << 16];
    let (mut hash, mut read) = (FNV_START, 0u64);
    loop {
        let n = reader
            .read(&mut buf)
            .map_err(|e| ConnectorError::retry(format!("reading {}: {e}", path.display())))?;
        if n == 0 {
            break;
        }
        hash = fnv(hash, &buf[..n]);
        read += n as u64;
    }
    Ok((read == len).then_some(hash))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards() {
        assert!(wildcard("*.csv", "orders.csv"));
        assert!(wildcard("orders-????.csv", "orders-2024.csv"));
        assert!(!wildcard("orders-????.csv", "orders-24.csv"));
        assert!(wildcard("*", "x"));
        assert!(!wildcard("*", ".hidden"));
        assert!(wildcard(".*", ".hidden"));
        assert!(wildcard("a*b*c", "aXXbYYc"));
        assert!(!wildcard("a*b*c", "aXXbYY"));
    }

    #[test]
    fn globs_and_hashes() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("2024/01")).unwrap();
        for f in ["a.csv", "b.csv", "c.txt", "2024/d.csv", "2024/01/e.csv", ".hidden.csv"] {
            std::fs::write(root.join(f), f).unwrap();
        }
        let names = |pattern: &str| -> Vec<String> {
            expand(&root.join(pattern)).unwrap().into_iter().map(|m| m.name).collect()
        };
        assert_eq!(names("*.csv"), ["a.csv", "b.csv"]);
        assert_eq!(names("**/*.csv"), ["2024/01/e.csv", "2024/d.csv", "a.csv", "b.csv"]);
        assert_eq!(names("2024/*/*.csv"), ["01/e.csv"]);
        assert_eq!(names("*.json"), Vec::<String>::new());
        assert_eq!(names("c.txt"), ["c.txt"]);
        assert!(expand(&root.join("missing.csv")).unwrap_err().message.contains("cannot read"));
        assert!(expand(&root.join("2024")).unwrap_err().message.contains("is not a file"));

        assert_eq!(fnv(FNV_START, b""), FNV_START);
        assert_eq!(fnv(FNV_START, b"a"), 0xaf63_dc4c_8601_ec8c); // the published FNV-1a test vector
        assert_eq!(fnv(fnv(FNV_START, b"fo"), b"obar"), fnv(FNV_START, b"foobar"));
        assert_eq!(prefix_hash(&root.join("a.csv"), 2).unwrap(), Some(fnv(FNV_START, b"a.")));
        assert_eq!(prefix_hash(&root.join("a.csv"), 99).unwrap(), None);
    }
}
