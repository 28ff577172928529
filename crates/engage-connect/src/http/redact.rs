//! Keeps secrets out of messages and logs: every text the toolkit shows passes through here.

use std::sync::RwLock;

use reqwest::Url;

/// What a secret is replaced with.
pub(crate) const REDACTED: &str = "[redacted]";

/// Query parameters whose values are always hidden, whatever their value.
const SECRET_PARAMS: &[&str] = &[
    "key",
    "api_key",
    "apikey",
    "api-key",
    "access_token",
    "token",
    "auth",
    "client_secret",
    "password",
    "secret",
    "signature",
    "sig",
];

/// The longest body excerpt put into an error message, in characters.
const EXCERPT_CHARS: usize = 200;

/// Shorter values (a Basic password of `X`) are not searched for in text: replacing every `X`
/// would garble messages, and the toolkit never writes a credential into a message itself.
const MIN_SECRET_LEN: usize = 4;

/// The secrets of one client, known at build time or learned later (OAuth access tokens).
#[derive(Debug, Default)]
pub(crate) struct Redactor {
    secrets: RwLock<Vec<String>>,
    params: Vec<String>,
}

impl Redactor {
    /// A redactor for `secrets`; `param` is the name of a query parameter carrying one.
    pub(crate) fn new<'a>(secrets: impl IntoIterator<Item = &'a str>, param: Option<&str>) -> Self {
        let redactor = Self {
            secrets: RwLock::default(),
            params: param.map(str::to_ascii_lowercase).into_iter().collect(),
        };
        for secret in secrets {
            redactor.learn(secret);
        }
        redactor
    }

    /// Adds a secret, with the forms it takes in URLs and in words.
    pub(crate) fn learn(&self, secret: &str) {
        let mut forms = vec![secret.to_owned(), percent_encode(secret, false), percent_encode(secret, true)];
        // "Klaviyo-API-Key pk_123...": the key alone is secret too.
        forms.extend(secret.split_whitespace().filter(|w| w.len() >= 8).map(str::to_owned));
        let mut secrets = self.secrets.write().unwrap_or_else(|e| e.into_inner());
        for form in forms {
            if form.len() >= MIN_SECRET_LEN && !secrets.contains(&form) {
                secrets.push(form);
            }
        }
        // Longest first, so that a secret containing another is replaced whole.
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    }

    /// `text` with every known secret replaced by `[redacted]`.
    pub(crate) fn redact(&self, text: &str) -> String {
        let secrets = self.secrets.read().unwrap_or_else(|e| e.into_inner());
        let mut out = text.to_owned();
        for secret in secrets.iter() {
            if out.contains(secret.as_str()) {
                out = out.replace(secret.as_str(), REDACTED);
            }
        }
        out
    }

    /// Whether query parameter `name` carries a secret.
    pub(crate) fn is_secret_param(&self, name: &str) -> bool {
        let name = name.to_ascii_lowercase();
        SECRET_PARAMS.contains(&name.as_str()) || self.params.contains(&name)
    }

    /// A URL's path and query, for messages: secret parameters show as `name=[redacted]`.
    pub(crate) fn path(&self, url: &Url) -> String {
        let mut shown = url.path().to_owned();
        if let Some(query) = url.query() {
            let pairs: Vec<String> = query
                .split('&')
                .map(|pair| match pair.split_once('=') {
                    Some((name, _)) if self.is_secret_param(name) => format!("{name}={REDACTED}"),
                    _ => pair.to_owned(),
                })
                .collect();
            shown.push('?');
            shown.push_str(&pairs.join("&"));
        }
        self.redact(&shown)
    }

    /// A whole URL for messages, redacted like [`Redactor::path`].
    pub(crate) fn url(&self, url: &Url) -> String {
        let mut origin = url.clone();
        origin.set_path("");
        origin.set_query(None);
        origin.set_fragment(None);
        let _ = origin.set_password(None);
        format!("{}{}", origin.as_str().trim_end_matches('/'), self.path(url))
    }

    /// The first 200 characters of a body, on one line, redacted; empty when the body is.
    pub(crate) fn excerpt(&self, body: &[u8]) -> String {
        // Redact before cutting, so that a cut never leaves part of a secret behind.
        let head = &body[..body.len().min(64 * 1024)];
        let text = self.redact(&String::from_utf8_lossy(head));
        let line = text.split_whitespace().collect::<Vec<_>>().join(" ");
        match line.char_indices().nth(EXCERPT_CHARS) {
            Some((cut, _)) => format!("{}…", &line[..cut]),
            None => line,
        }
    }
}

/// Percent-encodes everything but unreserved characters; `plus` writes spaces as `+` (forms).
fn percent_encode(value: &str, plus: bool) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => out.push(char::from(byte)),
            b' ' if plus => out.push('+'),
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_values_their_encodings_and_secret_params() {
        let r = Redactor::new(["s3cret/+value", "Klaviyo-API-Key pk_abcdefgh"], Some("X-Key"));
        assert_eq!(r.redact("a s3cret/+value b"), "a [redacted] b");
        assert_eq!(r.redact("a s3cret%2F%2Bvalue b"), "a [redacted] b");
        assert_eq!(r.redact("key pk_abcdefgh"), "key [redacted]");
        let url =
            Url::parse("https://u:p@h.example/a/b?page=2&x-key=zzz&api_key=yyy&q=s3cret%2F%2Bvalue").unwrap();
        assert_eq!(r.path(&url), "/a/b?page=2&x-key=[redacted]&api_key=[redacted]&q=[redacted]");
        assert_eq!(
            r.url(&url),
            "https://u@h.example/a/b?page=2&x-key=[redacted]&api_key=[redacted]&q=[redacted]"
        );
        r.learn("X");
        assert_eq!(r.redact("X-RateLimit-Remaining"), "X-RateLimit-Remaining", "too short to search for");
        r.learn("tok-learned");
        assert_eq!(r.redact("Bearer tok-learned"), "Bearer [redacted]");
    }

    #[test]
    fn excerpt_is_short_single_line_and_redacted() {
        let r = Redactor::new(["hunter2"], None);
        assert_eq!(r.excerpt(b"bad\n  password hunter2\n"), "bad password [redacted]");
        let long = format!("{}hunter2", "é".repeat(199));
        assert_eq!(r.excerpt(long.as_bytes()), format!("{}[…", "é".repeat(199)));
        assert_eq!(r.excerpt(b""), "");
        assert_eq!(r.excerpt(&[0xff, 0xfe, b'x']), "\u{fffd}\u{fffd}x");
    }
}
