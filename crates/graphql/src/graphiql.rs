//! GraphiQL, served entirely from the binary: its page, scripts and styles are files of
//! `assets/graphiql/` (pinned versions; see the README there) embedded at build time, so the
//! page works with no internet access. The page is `GET /graphql` for a browser; its files are
//! `GET /graphiql/{file}`.

use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// An embedded file: its name under `/graphiql/`, media type and bytes.
struct Asset {
    name: &'static str,
    media_type: &'static str,
    bytes: &'static [u8],
}

macro_rules! asset {
    ($name:literal, $media_type:expr) => {
        Asset {
            name: $name,
            media_type: $media_type,
            bytes: include_bytes!(concat!("../assets/graphiql/", $name)),
        }
    };
}

const JS: &str = "text/javascript; charset=utf-8";

/// Every file the page loads.
const ASSETS: &[Asset] = &[
    asset!("graphiql.min.css", "text/css; charset=utf-8"),
    asset!("graphiql.min.js", JS),
    asset!("react.production.min.js", JS),
    asset!("react-dom.production.min.js", JS),
    asset!("graphql-ws.min.js", JS),
];

/// The page itself.
const PAGE: &[u8] = include_bytes!("../assets/graphiql/index.html");

/// What the page may load and connect to: this server only. Nothing can reach a CDN even if
/// a script asked for one.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self' 'unsafe-inline'; \
     style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; \
     connect-src 'self' ws: wss:";

/// The GraphiQL page.
pub fn page() -> Response {
    let mut response = ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], PAGE).into_response();
    response.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    response
}

/// `GET /graphiql/{file}`: one of the page's files, cached by the browser for a day (the
/// files change only with the server's version).
pub async fn asset(Path(file): Path<String>) -> Response {
    match ASSETS.iter().find(|asset| asset.name == file) {
        Some(asset) => (
            [
                (header::CONTENT_TYPE, asset.media_type),
                (header::CACHE_CONTROL, "public, max-age=86400"),
            ],
            asset.bytes,
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "no such file").into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_loads_only_embedded_files() {
        let page = std::str::from_utf8(PAGE).unwrap_or_default();
        for src in page
            .split("src=\"")
            .skip(1)
            .chain(page.split("href=\"").skip(1))
        {
            let url = src.split('"').next().unwrap_or_default();
            if url.starts_with("data:") {
                continue;
            }
            let name = url.strip_prefix("/graphiql/");
            assert!(
                name.is_some_and(|name| ASSETS.iter().any(|a| a.name == name)),
                "the page loads {url}, which is not embedded"
            );
        }
        assert!(
            !page.contains("http://") && !page.contains("https://"),
            "the page names an outside address"
        );
    }
}
