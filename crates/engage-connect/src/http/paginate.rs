//! Pagination: the styles vendors use, a position that fits in a checkpoint, and a paginator
//! that walks a list page by page.

use reqwest::header::{HeaderMap, LINK};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::client::{HttpClient, Request, Response};
use crate::ConnectorError;

/// How an API pages its lists.
///
/// In TOML/JSON: `{ style = "cursor", param = "page[after]", cursor_pointer = "/meta/after_cursor",
/// has_more_pointer = "/meta/has_more" }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "style", rename_all = "snake_case")]
pub enum Pagination {
    /// The body holds the next page's URL (`/next_page`, JSON:API `/links/next`, HAL
    /// `/_links/next/href`); done when it is absent, null or empty.
    NextUrlInBody {
        /// JSON pointer to the URL.
        pointer: String,
    },
    /// An RFC 8288 `Link: <…>; rel="next"` header; done when there is none.
    LinkHeader,
    /// A cursor from the body passed back as a query parameter (Zendesk `page[after]`, Intercom
    /// `starting_after`); done when it is absent or `has_more` is false.
    Cursor {
        /// Query parameter that takes the cursor.
        param: String,
        /// JSON pointer to the next cursor.
        cursor_pointer: String,
        /// JSON pointer to a boolean "more pages" flag, when the API has one.
        #[serde(default)]
        has_more_pointer: Option<String>,
    },
    /// A page token (Google `nextPageToken` → `pageToken`); done when it is absent.
    PageToken {
        /// Query parameter that takes the token.
        param: String,
        /// JSON pointer to the next token.
        token_pointer: String,
    },
    /// Offset and limit parameters (Mailchimp `offset`/`count`); done on an empty page, at the
    /// total when `total_pointer` gives one, else on a short page.
    OffsetLimit {
        /// Offset parameter.
        offset_param: String,
        /// Limit parameter.
        limit_param: String,
        /// Records per page.
        limit: u64,
        /// JSON pointer to the total number of records.
        #[serde(default)]
        total_pointer: Option<String>,
    },
    /// Page numbers (Freshdesk `page=N`); done on an empty page, or a short one when the size
    /// is known.
    PageNumber {
        /// Page parameter.
        param: String,
        /// Number of the first page (usually 1).
        first: u64,
        /// Page-size parameter.
        #[serde(default)]
        size_param: Option<String>,
        /// Page size.
        #[serde(default)]
        size: Option<u64>,
    },
}

/// The first request of a list: a path (or absolute URL) and its query.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestSpec {
    /// Path joined to the base URL, or an absolute URL.
    pub path: String,
    /// Query parameters.
    #[serde(default)]
    pub query: Vec<(String, String)>,
}

impl RequestSpec {
    /// A request of `path` without query.
    pub fn new(path: impl Into<String>) -> Self {
        Self { path: path.into(), query: Vec::new() }
    }

    /// Adds a query parameter.
    pub fn query(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.query.push((name.into(), value.into()));
        self
    }
}

/// Where the next page starts; serialisable, to keep in a connector's checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PageCursor {
    /// The next page's URL (next links), without the credential's query parameter.
    Url(String),
    /// The next cursor or page token.
    Token(String),
    /// The next offset.
    Offset(u64),
    /// The next page number.
    Page(u64),
}

/// One page of a list.
#[derive(Debug, Clone)]
pub struct FetchedPage {
    /// The whole body.
    pub body: Value,
    /// The records: the array at the records pointer, or the body when it is an array.
    pub records: Vec<Value>,
    /// The response (status, headers, raw body, URL).
    pub response: Response,
    /// Where the next page starts; `None` on the last page.
    pub next: Option<PageCursor>,
}

/// Walks a list page by page (GET requests).
#[derive(Debug, Clone)]
pub struct Paginator {
    client: HttpClient,
    first: RequestSpec,
    pagination: Pagination,
    records_pointer: Option<String>,
    state: State,
}

#[derive(Debug, Clone)]
enum State {
    Start,
    At(PageCursor),
    Done,
}

impl Paginator {
    /// A paginator from the first page. `records_pointer` is the JSON pointer to the records
    /// array (`/tickets`, `/data`); `None` when the body is the array.
    pub fn new(
        client: HttpClient,
        first: RequestSpec,
        pagination: Pagination,
        records_pointer: Option<String>,
    ) -> Self {
        Self { client, first, pagination, records_pointer, state: State::Start }
    }

    /// A paginator continuing from `cursor` (a [`FetchedPage::next`] kept in a checkpoint);
    /// `first` supplies the path and filters for the parameter-based styles.
    pub fn resume(
        client: HttpClient,
        cursor: PageCursor,
        first: RequestSpec,
        pagination: Pagination,
        records_pointer: Option<String>,
    ) -> Self {
        Self { state: State::At(cursor), ..Self::new(client, first, pagination, records_pointer) }
    }

    /// Whether the last page has been fetched.
    pub fn is_done(&self) -> bool {
        matches!(self.state, State::Done)
    }

    /// Fetches the next page; `None` once the list is done.
    pub async fn next_page(&mut self) -> Result<Option<FetchedPage>, ConnectorError> {
        let at = match &self.state {
            State::Done => return Ok(None),
            State::Start => self.start(),
            State::At(cursor) => Some(cursor.clone()),
        };
        let (response, body) = self.request(at.as_ref())?.send_json().await?;
        let records = self.records(&body, &response)?;
        let mut next = self.next(at.as_ref(), &response, &body, records.len());
        // A next position equal to this one would loop forever: the list is done.
        let current = at.clone().unwrap_or_else(|| PageCursor::Url(response.url.to_string()));
        if next.as_ref() == Some(&current) {
            tracing::debug!(url = %self.client.redactor().path(&response.url), "pagination did not advance: done");
            next = None;
        }
        self.state = next.clone().map_or(State::Done, State::At);
        Ok(Some(FetchedPage { body, records, response, next }))
    }

    /// The position of the first page, for the styles that name it.
    fn start(&self) -> Option<PageCursor> {
        match &self.pagination {
            Pagination::OffsetLimit { .. } => Some(PageCursor::Offset(0)),
            Pagination::PageNumber { first, .. } => Some(PageCursor::Page(*first)),
            _ => None,
        }
    }

    fn request(&self, at: Option<&PageCursor>) -> Result<Request, ConnectorError> {
        let mut query = self.first.query.clone();
        match (at, &self.pagination) {
            (None, _) => {}
            (Some(PageCursor::Url(url)), _) => return Ok(self.client.get(url)),
            (
                Some(PageCursor::Token(token)),
                Pagination::Cursor { param, .. } | Pagination::PageToken { param, .. },
            ) => {
                set_param(&mut query, param, token.clone());
            }
            (
                Some(PageCursor::Offset(offset)),
                Pagination::OffsetLimit { offset_param, limit_param, limit, .. },
            ) => {
                set_param(&mut query, offset_param, offset.to_string());
                set_param(&mut query, limit_param, limit.to_string());
            }
            (Some(PageCursor::Page(page)), Pagination::PageNumber { param, size_param, size, .. }) => {
                set_param(&mut query, param, page.to_string());
                if let (Some(name), Some(size)) = (size_param, size) {
                    set_param(&mut query, name, size.to_string());
                }
            }
            (Some(cursor), pagination) => {
                return Err(ConnectorError::needs_human(format!(
                    "page cursor {cursor:?} does not fit pagination {pagination:?}"
                )));
            }
        }
        Ok(self.client.get(&self.first.path).query_pairs(query))
    }

    fn records(&self, body: &Value, response: &Response) -> Result<Vec<Value>, ConnectorError> {
        let found = match &self.records_pointer {
            Some(pointer) => body.pointer(pointer),
            None => Some(body),
        };
        match found {
            Some(Value::Array(records)) => Ok(records.clone()),
            None | Some(Value::Null) if self.records_pointer.is_some() => Ok(Vec::new()),
            _ => Err(ConnectorError::needs_human(format!(
                "expected an array of records at `{}` in the response of GET {}",
                self.records_pointer.as_deref().unwrap_or(""),
                self.client.redactor().path(&response.url)
            ))),
        }
    }

    fn next(
        &self,
        at: Option<&PageCursor>,
        response: &Response,
        body: &Value,
        count: usize,
    ) -> Option<PageCursor> {
        let count = count as u64;
        match &self.pagination {
            Pagination::NextUrlInBody { pointer } => self.link(response, &pointer_str(body, pointer)?),
            Pagination::LinkHeader => self.link(response, &next_link(&response.headers)?),
            Pagination::Cursor { cursor_pointer, has_more_pointer, .. } => {
                if has_more_pointer.as_deref().and_then(|p| body.pointer(p)) == Some(&Value::Bool(false)) {
                    return None;
                }
                pointer_str(body, cursor_pointer).map(PageCursor::Token)
            }
            Pagination::PageToken { token_pointer, .. } => {
                pointer_str(body, token_pointer).map(PageCursor::Token)
            }
            Pagination::OffsetLimit { limit, total_pointer, .. } => {
                let offset = match at {
                    Some(PageCursor::Offset(offset)) => *offset,
                    _ => 0,
                };
                let next = offset + count;
                let total =
                    total_pointer.as_deref().and_then(|p| pointer_str(body, p)).and_then(|t| t.parse().ok());
                let done = match total {
                    Some(total) => next >= total,
                    None => count < *limit,
                };
                (count > 0 && !done).then_some(PageCursor::Offset(next))
            }
            Pagination::PageNumber { first, size, .. } => {
                let page = match at {
                    Some(PageCursor::Page(page)) => *page,
                    _ => *first,
                };
                let short = size.is_some_and(|size| count < size);
                (count > 0 && !short).then_some(PageCursor::Page(page + 1))
            }
        }
    }

    /// A next link resolved against the page's URL, without the credential's parameter.
    fn link(&self, response: &Response, link: &str) -> Option<PageCursor> {
        let mut url =
            response.url.join(link.trim()).ok().filter(|u| matches!(u.scheme(), "http" | "https"))?;
        self.client.strip_auth_param(&mut url);
        Some(PageCursor::Url(url.into()))
    }
}

/// Sets query parameter `name` (replacing its values) in a list of pairs.
fn set_param(query: &mut Vec<(String, String)>, name: &str, value: String) {
    query.retain(|(k, _)| k != name);
    query.push((name.to_owned(), value));
}

/// The target of the RFC 8288 `Link` header's `rel="next"` link, across several header fields
/// and several links per field; quoted or bare `rel`, several relation types, any spacing.
pub fn next_link(headers: &HeaderMap) -> Option<String> {
    headers.get_all(LINK).iter().filter_map(|v| v.to_str().ok()).find_map(next_in)
}

fn next_in(value: &str) -> Option<String> {
    let mut rest = value;
    loop {
        let open = rest.find('<')?;
        let close = rest[open..].find('>')? + open;
        let target = rest[open + 1..close].trim();
        let (params, tail) = split_once_unquoted(&rest[close + 1..], ',');
        let is_next = split_unquoted(params, ';').into_iter().any(|param| {
            let Some((name, value)) = param.split_once('=') else { return false };
            let value = value.trim().trim_matches('"');
            name.trim().eq_ignore_ascii_case("rel")
                && value.split_whitespace().any(|r| r.eq_ignore_ascii_case("next"))
        });
        if is_next {
            return Some(target.to_owned());
        }
        rest = tail;
    }
}

/// `s` split at each `sep` outside double quotes.
fn split_unquoted(s: &str, sep: char) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut rest = s;
    while !rest.is_empty() {
        let (part, tail) = split_once_unquoted(rest, sep);
        parts.push(part);
        rest = tail;
    }
    parts
}

/// `s` split at the first `sep` outside double quotes (the tail is empty when there is none).
fn split_once_unquoted(s: &str, sep: char) -> (&str, &str) {
    let (mut quoted, mut escaped) = (false, false);
    for (i, c) in s.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            c if c == sep && !quoted => return (&s[..i], &s[i + c.len_utf8()..]),
            _ => {}
        }
    }
    (s, "")
}

/// The string or number at JSON pointer `pointer`, as text (`"/links/next"`,
/// `"/_links/next/href"`, `"/meta/after_cursor"`); `None` when absent, null, empty or another
/// type.
pub fn pointer_str(body: &Value, pointer: &str) -> Option<String> {
    match body.pointer(pointer)? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;
    use serde_json::json;

    fn link(values: &[&str]) -> Option<String> {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append(LINK, HeaderValue::from_str(value).unwrap());
        }
        next_link(&headers)
    }

    #[test]
    fn parses_link_headers() {
        assert_eq!(
            link(&[r#"<https://a.example/x?page=2>; rel="next""#]).as_deref(),
            Some("https://a.example/x?page=2")
        );
        assert_eq!(
            link(&[r#"<https://a/x?page=1>; rel="prev", <https://a/x?page=3>; rel="next""#]).as_deref(),
            Some("https://a/x?page=3")
        );
        assert_eq!(link(&["<https://a/x?page=3>;rel=next"]).as_deref(), Some("https://a/x?page=3"));
        assert_eq!(
            link(&[r#"  < https://a/x?a=1,2 > ;  REL = "last NEXT" "#]).as_deref(),
            Some("https://a/x?a=1,2")
        );
        assert_eq!(
            link(&[r#"<https://a/p>; title="a, b; rel=next"; rel="prev", <https://a/n>; rel=next"#])
                .as_deref(),
            Some("https://a/n")
        );
        assert_eq!(
            link(&[r#"<https://a/p>; rel="prev""#, r#"<https://a/n>; rel="next""#]).as_deref(),
            Some("https://a/n")
        );
        let shopify = r#"<https://s.myshopify.com/admin/api/2024-01/orders.json?limit=250&page_info=abc>; rel="previous", <https://s.myshopify.com/admin/api/2024-01/orders.json?limit=250&page_info=def>; rel="next""#;
        assert_eq!(
            link(&[shopify]).as_deref(),
            Some("https://s.myshopify.com/admin/api/2024-01/orders.json?limit=250&page_info=def")
        );
        assert_eq!(link(&[r#"<https://a/p>; rel="prev""#]), None);
        assert_eq!(link(&[r#"<https://a/p>; rel="next-page""#]), None);
        assert_eq!(link(&["garbage <unclosed; rel=next"]), None);
        assert_eq!(link(&[]), None);
    }

    #[test]
    fn reads_pointers_as_text() {
        let body = json!({"links": {"next": "https://a/n"}, "_links": {"next": {"href": "/p/2"}},
            "meta": {"after_cursor": "xyz", "n": 42, "empty": "", "null": null, "flag": true}});
        assert_eq!(pointer_str(&body, "/links/next").as_deref(), Some("https://a/n"));
        assert_eq!(pointer_str(&body, "/_links/next/href").as_deref(), Some("/p/2"));
        assert_eq!(pointer_str(&body, "/meta/after_cursor").as_deref(), Some("xyz"));
        assert_eq!(pointer_str(&body, "/meta/n").as_deref(), Some("42"));
        for absent in ["/meta/empty", "/meta/null", "/meta/flag", "/meta/missing", "/links"] {
            assert_eq!(pointer_str(&body, absent), None, "{absent}");
        }
    }

    #[test]
    fn cursors_and_styles_round_trip_through_json() {
        for cursor in [
            PageCursor::Url("https://a/x?page_info=abc".into()),
            PageCursor::Token("WzE2".into()),
            PageCursor::Offset(300),
            PageCursor::Page(7),
        ] {
            let json = serde_json::to_value(&cursor).unwrap();
            assert_eq!(serde_json::from_value::<PageCursor>(json).unwrap(), cursor);
        }
        assert_eq!(serde_json::to_value(PageCursor::Offset(300)).unwrap(), json!({"offset": 300}));
        let style: Pagination = serde_json::from_value(json!({"style": "cursor", "param": "page[after]",
            "cursor_pointer": "/meta/after_cursor"}))
        .unwrap();
        assert_eq!(
            style,
            Pagination::Cursor {
                param: "page[after]".into(),
                cursor_pointer: "/meta/after_cursor".into(),
                has_more_pointer: None
            }
        );
        let spec: RequestSpec = serde_json::from_value(json!({"path": "/x"})).unwrap();
        assert_eq!(spec, RequestSpec::new("/x"));
    }
}
