//! The generic validator: walks the spanned TOML tree against [`Schema`]s,
//! producing [`Options`] and collecting every problem as a [`ConfigError`].

use std::io::Read;
use std::ops::Range;
use std::path::Path;

use toml::Spanned;
use toml::de::{DeInteger, DeTable, DeValue};

use crate::env::{Env, SubstError, substitute};
use crate::{ConfigError, FieldType, OptionValue, Options, Schema, Secret};

/// Byte range in the source text.
pub(crate) type Span = Range<usize>;

/// Largest secret file read, so a wrong path cannot swallow memory.
const MAX_SECRET_FILE: u64 = 64 * 1024;

/// What to do with keys no schema describes.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unknown {
    /// Report them.
    Reject,
    /// Skip them silently (the schema is incomplete, e.g. unknown kind).
    Ignore,
}

/// Validation state for one file.
pub(crate) struct Walker<'a> {
    file: &'a str,
    src: &'a str,
    env: &'a dyn Env,
    /// Relative secret file paths are resolved here (else: the working directory).
    base_dir: Option<&'a Path>,
    pub(crate) errors: Vec<ConfigError>,
}

impl<'a> Walker<'a> {
    pub(crate) fn new(file: &'a str, src: &'a str, env: &'a dyn Env, base_dir: Option<&'a Path>) -> Self {
        Self { file, src, env, base_dir, errors: Vec::new() }
    }

    /// Records an error at the start of `span`.
    pub(crate) fn error(&mut self, span: &Span, path: &str, message: impl Into<String>) {
        let (line, col) = line_col(self.src, span.start);
        self.errors.push(ConfigError {
            file: self.file.to_owned(),
            line,
            col,
            key_path: if path.is_empty() { "(root)" } else { path }.to_owned(),
            message: message.into(),
        });
    }

    /// The 1-based line of a byte offset.
    pub(crate) fn line(&self, offset: usize) -> usize {
        line_col(self.src, offset).0
    }

    /// Validates `table` (whose header or opening brace is at `span`) against
    /// the union of `schemas` (the first schema naming a key wins). Keys in
    /// `skip` are left for the caller.
    pub(crate) fn table(
        &mut self,
        table: &DeTable<'_>,
        span: &Span,
        path: &str,
        schemas: &[&Schema],
        unknown: Unknown,
        skip: &[&str],
    ) -> Options {
        let lookup = |name: &str| schemas.iter().find_map(|s| s.field(name));
        let mut out = Options::new();
        for (key, value) in sorted(table) {
            let name: &str = key.get_ref();
            let key_path = child(path, name);
            if skip.contains(&name) {
                continue;
            }
            if let Some(field) = lookup(name) {
                if let Some(v) = self.value(value, &field.ty, &key_path) {
                    out.insert(name, v);
                }
            } else if let Some(base) = name.strip_suffix("_file")
                && lookup(base).is_some_and(|f| f.ty == FieldType::Secret)
            {
                if table.contains_key(base) {
                    let msg = format!("both `{base}` and `{name}` are set; keep only one");
                    self.error(&key.span(), &key_path, msg);
                } else if let Some(secret) = self.secret_file(value, &key_path) {
                    out.insert(base, OptionValue::Secret(secret));
                }
            } else if unknown == Unknown::Reject {
                let known = schemas.iter().flat_map(|s| &s.fields).flat_map(|f| {
                    let file = (f.ty == FieldType::Secret).then(|| format!("{}_file", f.name));
                    std::iter::once(f.name.to_owned()).chain(file)
                });
                let msg = unknown_message("key", name, &known.collect::<Vec<_>>());
                self.error(&key.span(), &key_path, msg);
            }
        }
        let mut checked: Vec<&str> = Vec::new();
        for field in schemas.iter().flat_map(|s| &s.fields) {
            if !field.required || checked.contains(&field.name) {
                continue;
            }
            checked.push(field.name);
            let file_key = format!("{}_file", field.name);
            let secret = field.ty == FieldType::Secret;
            if table.contains_key(field.name) || (secret && table.contains_key(file_key.as_str())) {
                continue;
            }
            let msg = if secret {
                format!("missing required key `{}` (or `{file_key}`)", field.name)
            } else {
                format!("missing required key `{}`", field.name)
            };
            self.error(span, &child(path, field.name), msg);
        }
        out
    }

    /// Validates one value against its field type.
    fn value(&mut self, v: &Spanned<DeValue<'_>>, ty: &FieldType, path: &str) -> Option<OptionValue> {
        let span = v.span();
        Some(match (ty, v.get_ref()) {
            (FieldType::String, DeValue::String(s)) => OptionValue::String(self.subst(s, &span, path)?),
            (FieldType::Secret, DeValue::String(s)) => {
                OptionValue::Secret(Secret::new(self.subst(s, &span, path)?))
            }
            (FieldType::Url, DeValue::String(s)) => {
                let url = self.subst(s, &span, path)?;
                if !is_http_url(&url) {
                    self.error(&span, path, "expected an http:// or https:// URL with a host");
                    return None;
                }
                OptionValue::String(url)
            }
            (FieldType::Path, DeValue::String(s)) => {
                let value = self.subst(s, &span, path)?;
                if value.trim().is_empty() {
                    self.error(&span, path, "expected a path, found an empty string");
                    return None;
                }
                OptionValue::String(match self.base_dir {
                    Some(dir) if Path::new(&value).is_relative() => dir.join(&value).display().to_string(),
                    _ => value,
                })
            }
            (FieldType::Integer { min, max }, DeValue::Integer(i)) => {
                let n = self.integer(i, &span, path)?;
                if n < *min || n > *max {
                    let msg = format!("must be between {min} and {max}, found {n}");
                    self.error(&span, path, msg);
                    return None;
                }
                OptionValue::Integer(n)
            }
            (FieldType::Float, DeValue::Integer(i)) => {
                OptionValue::Float(self.integer(i, &span, path)? as f64)
            }
            (FieldType::Float, DeValue::Float(x)) => {
                OptionValue::Float(self.float(x.as_str(), &span, path)?)
            }
            (FieldType::Bool, DeValue::Boolean(b)) => OptionValue::Bool(*b),
            (FieldType::StringList, DeValue::Array(items)) => {
                return self.list(items, path, |w, item, p| w.value(item, &FieldType::String, p));
            }
            (FieldType::Table(schema), DeValue::Table(t)) => {
                OptionValue::Table(self.table(t, &span, path, &[schema], Unknown::Reject, &[]))
            }
            (FieldType::TableList(schema), DeValue::Array(items)) => {
                return self.list(items, path, |w, item, p| match item.get_ref() {
                    DeValue::Table(t) => {
                        let options = w.table(t, &item.span(), p, &[schema], Unknown::Reject, &[]);
                        Some(OptionValue::Table(options))
                    }
                    other => w.type_error(&item.span(), p, "a table", other),
                });
            }
            (FieldType::Any, _) => return self.any(v, path),
            (ty, other) => return self.type_error(&span, path, ty.expected(), other),
        })
    }

    /// Reports "expected X, found Y"; never shows the value itself.
    pub(crate) fn type_error(
        &mut self,
        span: &Span,
        path: &str,
        expected: &str,
        found: &DeValue<'_>,
    ) -> Option<OptionValue> {
        let found = match found {
            DeValue::String(_) => "a string",
            DeValue::Integer(_) => "an integer",
            DeValue::Float(_) => "a float",
            DeValue::Boolean(_) => "a boolean",
            DeValue::Datetime(_) => "a datetime",
            DeValue::Array(_) => "an array",
            DeValue::Table(_) => "a table",
        };
        self.error(span, path, format!("expected {expected}, found {found}"));
        None
    }

    /// Validates each element with `each`; `None` if any element failed.
    fn list(
        &mut self,
        items: &[Spanned<DeValue<'_>>],
        path: &str,
        mut each: impl FnMut(&mut Self, &Spanned<DeValue<'_>>, &str) -> Option<OptionValue>,
    ) -> Option<OptionValue> {
        let mut out = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            out.push(each(self, item, &format!("{path}[{i}]")));
        }
        out.into_iter().collect::<Option<_>>().map(OptionValue::Array)
    }

    /// Takes any value as it is (strings still get substitution).
    fn any(&mut self, v: &Spanned<DeValue<'_>>, path: &str) -> Option<OptionValue> {
        let span = v.span();
        Some(match v.get_ref() {
            DeValue::String(s) => OptionValue::String(self.subst(s, &span, path)?),
            DeValue::Integer(i) => OptionValue::Integer(self.integer(i, &span, path)?),
            DeValue::Float(x) => OptionValue::Float(self.float(x.as_str(), &span, path)?),
            DeValue::Boolean(b) => OptionValue::Bool(*b),
            DeValue::Datetime(d) => OptionValue::String(d.to_string()),
            DeValue::Array(items) => return self.list(items, path, Self::any),
            DeValue::Table(t) => {
                let mut out = Options::new();
                for (key, value) in sorted(t) {
                    let name: &str = key.get_ref();
                    if let Some(v) = self.any(value, &child(path, name)) {
                        out.insert(name, v);
                    }
                }
                OptionValue::Table(out)
            }
        })
    }

    /// Substitutes `${ENV}` references, reporting unset variables by name.
    pub(crate) fn subst(&mut self, text: &str, span: &Span, path: &str) -> Option<String> {
        match substitute(text, self.env) {
            Ok(s) => Some(s),
            Err(SubstError::Unset(names)) => {
                let list = names.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>();
                let msg = match list.as_slice() {
                    [one] => format!("environment variable {one} is not set"),
                    many => format!("environment variables {} are not set", many.join(", ")),
                };
                self.error(span, path, msg);
                None
            }
            Err(SubstError::Malformed) => {
                let msg = "`${` must be followed by a variable name and `}` (write `$${` for a literal `${`)";
                self.error(span, path, msg);
                None
            }
        }
    }

    fn integer(&mut self, i: &DeInteger<'_>, span: &Span, path: &str) -> Option<i64> {
        let n = i64::from_str_radix(&i.as_str().replace('_', ""), i.radix()).ok();
        if n.is_none() {
            self.error(span, path, "integer does not fit in 64 bits");
        }
        n
    }

    fn float(&mut self, text: &str, span: &Span, path: &str) -> Option<f64> {
        let x = text.replace('_', "").parse().ok();
        if x.is_none() {
            self.error(span, path, "invalid float");
        }
        x
    }

    /// Reads the secret named by a `KEY_file` value.
    fn secret_file(&mut self, v: &Spanned<DeValue<'_>>, path: &str) -> Option<Secret> {
        let span = v.span();
        let DeValue::String(raw) = v.get_ref() else {
            self.type_error(&span, path, "a file path string", v.get_ref());
            return None;
        };
        let name = self.subst(raw, &span, path)?;
        let file = match self.base_dir {
            Some(dir) => dir.join(&name),
            None => Path::new(&name).to_path_buf(),
        };
        match read_secret(&file) {
            Ok(s) => Some(Secret::new(s.trim_end_matches(['\n', '\r']))),
            Err(e) => {
                // The path as written: a mistaken `KEY_file = "${TOKEN}"` must not echo it.
                let msg = format!("cannot read secret file `{}`: {e}", raw.escape_debug());
                self.error(&span, path, msg);
                None
            }
        }
    }
}

/// Reads a small regular file as UTF-8.
fn read_secret(path: &Path) -> Result<String, String> {
    let meta = std::fs::metadata(path).map_err(|e| e.to_string())?;
    if !meta.is_file() {
        return Err("not a regular file".into());
    }
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_SECRET_FILE + 1).read_to_end(&mut bytes))
        .map_err(|e| e.to_string())?;
    if bytes.len() as u64 > MAX_SECRET_FILE {
        return Err(format!("larger than {MAX_SECRET_FILE} bytes"));
    }
    String::from_utf8(bytes).map_err(|_| "not valid UTF-8".into())
}

/// A table's entries in file order.
fn sorted<'t, 'i>(
    table: &'t DeTable<'i>,
) -> Vec<(&'t Spanned<toml::de::DeString<'i>>, &'t Spanned<DeValue<'i>>)> {
    let mut entries: Vec<_> = table.iter().collect();
    entries.sort_by_key(|(k, _)| k.span().start);
    entries
}

/// `path.key`, quoting keys that are not bare TOML keys.
pub(crate) fn child(path: &str, key: &str) -> String {
    let bare = !key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    let key = if bare { key.to_owned() } else { format!("\"{}\"", key.escape_debug()) };
    if path.is_empty() { key } else { format!("{path}.{key}") }
}

/// 1-based line and column (in characters) of a byte offset.
pub(crate) fn line_col(src: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(src.len());
    while !src.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = src.get(..offset).unwrap_or_default();
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let line = before.matches('\n').count() + 1;
    let col = before.get(line_start..).unwrap_or_default().chars().count() + 1;
    (line, col)
}

/// "unknown WHAT `name`" plus a "did you mean" hint, or else the list of
/// allowed names.
pub(crate) fn unknown_message(what: &str, name: &str, known: &[String]) -> String {
    let name_shown = name.escape_debug();
    match closest(name, known) {
        Some(hint) => format!("unknown {what} `{name_shown}`; did you mean `{hint}`?"),
        None if known.is_empty() => format!("unknown {what} `{name_shown}`"),
        None => format!("unknown {what} `{name_shown}`; expected one of {}", backticked(known)),
    }
}

/// `` `a`, `b`, `c` ``
pub(crate) fn backticked(names: &[String]) -> String {
    names.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ")
}

/// The known name closest to `name` by edit distance, if close enough to be a typo.
pub(crate) fn closest<'k>(name: &str, known: &'k [String]) -> Option<&'k str> {
    let lower = name.to_lowercase();
    known
        .iter()
        .map(|k| (edit_distance(&lower, &k.to_lowercase()), k))
        .filter(|(d, k)| *d <= (k.chars().count() / 3).max(1))
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k.as_str())
}

/// Levenshtein distance over characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diag = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let next = (diag + usize::from(ca != *cb)).min(row[j] + 1).min(row[j + 1] + 1);
            diag = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
}

/// Whether `s` is an `http://` or `https://` URL with a plausible host.
fn is_http_url(s: &str) -> bool {
    let lower = s.to_ascii_lowercase();
    let Some(rest) = ["https://", "http://"].iter().find_map(|p| lower.strip_prefix(p)) else {
        return false;
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host_port = authority.rsplit('@').next().unwrap_or_default();
    let (host, port) = match host_port.strip_prefix('[') {
        Some(v6) => match v6.split_once(']') {
            Some((h, p)) => (h, p.strip_prefix(':')),
            None => return false,
        },
        None => match host_port.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (host_port, None),
        },
    };
    !host.is_empty()
        && port.is_none_or(|p| p.parse::<u16>().is_ok())
        && !s.chars().any(|c| c.is_whitespace() || c.is_control())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_count_characters() {
        let src = "a = 1\nżółw = \"x\"\n";
        assert_eq!(line_col(src, 0), (1, 1));
        assert_eq!(line_col(src, 6), (2, 1));
        // "żółw = " is 7 characters but 10 bytes.
        assert_eq!(line_col(src, 6 + "żółw = ".len()), (2, 8));
        assert_eq!(line_col(src, 7), (2, 1)); // inside `ż`: rounds down
        assert_eq!(line_col(src, 999), (3, 1));
        assert_eq!(line_col("", 5), (1, 1));
    }

    #[test]
    fn urls() {
        for ok in [
            "https://x.example.com",
            "http://localhost:8080/api?x=1",
            "HTTPS://user:pw@host/",
            "http://[::1]:80",
        ] {
            assert!(is_http_url(ok), "{ok}");
        }
        for bad in [
            "",
            "ftp://x",
            "https://",
            "https:///path",
            "https://host:port",
            "https://a b",
            "x.example.com",
            "http://[::1",
        ] {
            assert!(!is_http_url(bad), "{bad}");
        }
    }

    #[test]
    fn hints() {
        let known = ["api_token".to_owned(), "enabled".to_owned(), "url".to_owned()];
        assert_eq!(closest("api_tokn", &known), Some("api_token"));
        assert_eq!(closest("Enabeld", &known), Some("enabled"));
        assert_eq!(closest("uri", &known), Some("url"));
        assert_eq!(closest("colour", &known), None);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }

    #[test]
    fn key_paths() {
        assert_eq!(child("", "store"), "store");
        assert_eq!(child("connection[0]", "api_token"), "connection[0].api_token");
        assert_eq!(child("a", "b.c"), "a.\"b.c\"");
        assert_eq!(child("a", "x\ny"), "a.\"x\\ny\"");
    }
}
