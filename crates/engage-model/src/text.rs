//! Text normalisation shared by identity linking.

/// Normalises an email address for identity matching: trimmed and lower-cased.
/// Returns `None` when the text cannot be an address (no `@` between non-empty parts).
pub fn normalize_email(email: &str) -> Option<String> {
    let trimmed = email.trim();
    let (local, domain) = trimmed.rsplit_once('@')?;
    if local.is_empty() || domain.is_empty() || domain.contains(char::is_whitespace) {
        return None;
    }
    Some(trimmed.to_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_case_and_space() {
        assert_eq!(normalize_email("  Ana.Kowalska@Example.PL "), Some("ana.kowalska@example.pl".into()));
        assert_eq!(normalize_email("no-at-sign"), None);
        assert_eq!(normalize_email("@example.com"), None);
        assert_eq!(normalize_email("a@"), None);
    }
}
