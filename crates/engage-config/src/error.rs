//! Configuration errors with file positions.

use std::fmt;

/// The process exit code for an invalid configuration: `EX_CONFIG` from
/// BSD `sysexits.h`. `engage` exits with it whenever loading `engage.toml` fails.
pub const EXIT_CONFIG: i32 = 78;

/// One problem in a configuration file.
///
/// Displays as `FILE:LINE:COL: key.path: message`, e.g.
/// `engage.toml:7:1: connection[0].api_tokn: unknown key ...`. Messages never
/// contain secret values.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}:{col}: {key_path}: {message}")]
pub struct ConfigError {
    /// The file name as given to the loader.
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column, counted in characters (not bytes).
    pub col: usize,
    /// Where in the document, e.g. `connection[1].api_token` (array indexes
    /// are 0-based) or `store.url`; `(root)` when no key applies.
    pub key_path: String,
    /// What is wrong.
    pub message: String,
}

/// Every problem found in a configuration file, sorted by line then column.
///
/// Displays one error per line.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl ConfigErrors {
    /// The errors, in order.
    pub fn iter(&self) -> std::slice::Iter<'_, ConfigError> {
        self.0.iter()
    }

    /// How many errors there are.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Sorts by line, then column (stable, so errors at one position keep their order).
    pub(crate) fn sorted(mut errors: Vec<ConfigError>) -> Self {
        errors.sort_by_key(|e| (e.line, e.col));
        Self(errors)
    }
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut errors: Vec<&ConfigError> = self.0.iter().collect();
        errors.sort_by_key(|e| (e.line, e.col));
        for (i, e) in errors.into_iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

impl<'a> IntoIterator for &'a ConfigErrors {
    type Item = &'a ConfigError;
    type IntoIter = std::slice::Iter<'a, ConfigError>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}
