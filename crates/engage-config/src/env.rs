//! Environment access and `${ENV_VAR}` substitution.

use std::collections::{BTreeMap, HashMap};
use std::hash::BuildHasher;

/// Where `${ENV_VAR}` references are looked up.
pub trait Env {
    /// The value of variable `name`, or `None` when it is not set.
    fn var(&self, name: &str) -> Option<String>;
}

/// The process environment. Variables whose value is not valid UTF-8 count as unset.
#[derive(Clone, Copy, Debug, Default)]
pub struct ProcessEnv;

impl Env for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
}

impl<S: BuildHasher> Env for HashMap<String, String, S> {
    fn var(&self, name: &str) -> Option<String> {
        self.get(name).cloned()
    }
}

impl Env for BTreeMap<String, String> {
    fn var(&self, name: &str) -> Option<String> {
        self.get(name).cloned()
    }
}

/// Why a string could not be substituted.
#[derive(Debug, PartialEq)]
pub(crate) enum SubstError {
    /// These variables are not set (in order of appearance).
    Unset(Vec<String>),
    /// A `${` without a valid name and closing `}`.
    Malformed,
}

/// Replaces every `${NAME}` in `text` with the variable's value and every
/// `$${` with a literal `${`. Substituted values are not scanned again.
pub(crate) fn substitute(text: &str, env: &dyn Env) -> Result<String, SubstError> {
    let mut out = String::with_capacity(text.len());
    let mut unset = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        if let Some(after) = tail.strip_prefix("$${") {
            out.push_str("${");
            rest = after;
        } else if let Some(after) = tail.strip_prefix("${") {
            let end = after.find('}').ok_or(SubstError::Malformed)?;
            let name = &after[..end];
            if !is_var_name(name) {
                return Err(SubstError::Malformed);
            }
            match env.var(name) {
                Some(value) => out.push_str(&value),
                None if unset.iter().any(|u| u == name) => {}
                None => unset.push(name.to_owned()),
            }
            rest = &after[end + 1..];
        } else {
            out.push('$');
            rest = &tail[1..];
        }
    }
    out.push_str(rest);
    if unset.is_empty() { Ok(out) } else { Err(SubstError::Unset(unset)) }
}

/// `[A-Za-z_][A-Za-z0-9_]*`
fn is_var_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env() -> HashMap<String, String> {
        [("A", "alpha"), ("B_2", "${A}"), ("EMPTY", "")]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect()
    }

    fn sub(text: &str) -> Result<String, SubstError> {
        substitute(text, &env())
    }

    #[test]
    fn substitutes_and_escapes() {
        assert_eq!(sub("x${A}y").unwrap(), "xalphay");
        assert_eq!(sub("${A}${A}").unwrap(), "alphaalpha");
        assert_eq!(sub("$${A}").unwrap(), "${A}");
        assert_eq!(sub("$$${A}").unwrap(), "$${A}");
        assert_eq!(sub("$$").unwrap(), "$$");
        assert_eq!(sub("cost: 5$ {A}").unwrap(), "cost: 5$ {A}");
        assert_eq!(sub("trailing $").unwrap(), "trailing $");
        assert_eq!(sub("[${EMPTY}]").unwrap(), "[]");
        // Values are not expanded again.
        assert_eq!(sub("${B_2}").unwrap(), "${A}");
        assert_eq!(sub("zażółć ${A} جان").unwrap(), "zażółć alpha جان");
    }

    #[test]
    fn reports_unset_and_malformed() {
        assert_eq!(
            sub("${NOPE}/${A}/${NOPE}/${NADA}"),
            Err(SubstError::Unset(vec!["NOPE".into(), "NADA".into()]))
        );
        assert_eq!(sub("${"), Err(SubstError::Malformed));
        assert_eq!(sub("${}"), Err(SubstError::Malformed));
        assert_eq!(sub("${1A}"), Err(SubstError::Malformed));
        assert_eq!(sub("${A-B}"), Err(SubstError::Malformed));
        assert_eq!(sub("${A"), Err(SubstError::Malformed));
    }
}
