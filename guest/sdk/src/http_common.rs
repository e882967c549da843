//! What the 0.2 (`http`) and 0.3 (`p3`) handler APIs share: a request's
//! path and query, its method's name, and a whole response.

/// A request's path and query, as `wasi:http` gives them.
pub(crate) struct Target(String);

impl Target {
    /// `path_with_query`, or `/` when the request has none.
    pub(crate) fn new(path_with_query: Option<String>) -> Self {
        Self(path_with_query.unwrap_or_else(|| "/".to_string()))
    }

    /// The path, without the query.
    pub(crate) fn path(&self) -> &str {
        self.0.split_once('?').map_or(&self.0, |(path, _)| path)
    }

    /// The value of query parameter `name` (no percent-decoding).
    pub(crate) fn query(&self, name: &str) -> Option<&str> {
        let (_, query) = self.0.split_once('?')?;
        query
            .split('&')
            .filter_map(|pair| pair.split_once('=').or(Some((pair, ""))))
            .find(|(key, _)| *key == name)
            .map(|(_, value)| value)
    }
}

/// The upper-case name of a `wasi:http` method, of either generation's
/// bindings (the enums are alike but distinct types).
macro_rules! method_name {
    ($method:ty, $value:expr) => {{
        type M = $method;
        match $value {
            M::Get => "GET".to_string(),
            M::Head => "HEAD".to_string(),
            M::Post => "POST".to_string(),
            M::Put => "PUT".to_string(),
            M::Delete => "DELETE".to_string(),
            M::Connect => "CONNECT".to_string(),
            M::Options => "OPTIONS".to_string(),
            M::Trace => "TRACE".to_string(),
            M::Patch => "PATCH".to_string(),
            M::Other(other) => other,
        }
    }};
}
pub(crate) use method_name;

/// A whole response: status, content type and body.
pub struct Response {
    pub(crate) status: u16,
    pub(crate) content_type: String,
    pub(crate) body: Vec<u8>,
}

impl Response {
    /// A `text/plain` response.
    pub fn text(status: u16, body: impl Into<String>) -> Self {
        Self::bytes(
            status,
            "text/plain; charset=utf-8",
            body.into().into_bytes(),
        )
    }

    /// A response with any content type.
    pub fn bytes(status: u16, content_type: &str, body: impl Into<Vec<u8>>) -> Self {
        Self {
            status,
            content_type: content_type.into(),
            body: body.into(),
        }
    }

    /// The `content-type` and `content-length` headers, as `wasi:http`
    /// fields take them.
    pub(crate) fn headers(&self) -> Vec<(String, Vec<u8>)> {
        vec![
            (
                "content-type".to_string(),
                self.content_type.clone().into_bytes(),
            ),
            (
                "content-length".to_string(),
                self.body.len().to_string().into_bytes(),
            ),
        ]
    }
}
