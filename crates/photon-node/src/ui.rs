//! The web dashboard: a single page served at `/ui/` from files built into the binary
//! (`crates/photon-node/ui/`: plain HTML, CSS and a JavaScript module, no build step). The
//! files hold no data and need no token; everything the page shows it reads from the REST API
//! with the API's bearer token, which the page asks for when the node has one and keeps for the
//! browser tab only. Served with a content security policy that lets the page load only its
//! own files and talk only to its own origin.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;

/// A file of the page: its path under `/ui/`, its type, its bytes.
struct Asset {
    path: &'static str,
    mime: &'static str,
    body: &'static str,
}

/// Every file of the page.
const ASSETS: &[Asset] = &[
    Asset { path: "", mime: "text/html; charset=utf-8", body: include_str!("../ui/index.html") },
    Asset {
        path: "app.js",
        mime: "text/javascript; charset=utf-8",
        body: include_str!("../ui/app.js"),
    },
    Asset {
        path: "style.css",
        mime: "text/css; charset=utf-8",
        body: include_str!("../ui/style.css"),
    },
];

/// What the page may load and reach: its own files and its own origin, nothing inline, no
/// frame around it.
const POLICY: &str =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
    connect-src 'self'; form-action 'none'; base-uri 'none'; frame-ancestors 'none'";

fn serve(asset: &'static Asset) -> Response {
    let mut response = asset.body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(asset.mime));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(POLICY));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    response
}

/// The dashboard's routes: `/ui` (sent on to `/ui/`), `/ui/` and its files; an unknown file
/// is a 404.
pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    let mut router = Router::new().route("/ui", get(|| async { Redirect::permanent("/ui/") }));
    for asset in ASSETS {
        router =
            router.route(&format!("/ui/{}", asset.path), get(move || async move { serve(asset) }));
    }
    router.route(
        "/ui/{*rest}",
        get(|| async { (StatusCode::NOT_FOUND, "no such file of the dashboard") }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `path` from a server of the dashboard's routes (redirects not followed).
    async fn fetch(path: &str) -> reqwest::Response {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, router::<()>()).await });
        let client =
            reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        client.get(format!("http://{address}{path}")).send().await.unwrap()
    }

    #[tokio::test]
    async fn the_page_and_its_files_are_served_with_their_types_and_policy() {
        let page = fetch("/ui/").await;
        assert_eq!(page.status(), StatusCode::OK);
        assert_eq!(page.headers()[header::CONTENT_TYPE], "text/html; charset=utf-8");
        assert!(page.headers()[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap()
            .contains("script-src 'self'"));
        for (path, mime) in [
            ("/ui/app.js", "text/javascript; charset=utf-8"),
            ("/ui/style.css", "text/css; charset=utf-8"),
        ] {
            let file = fetch(path).await;
            assert_eq!(
                (file.status(), &file.headers()[header::CONTENT_TYPE]),
                (StatusCode::OK, &HeaderValue::from_static(mime))
            );
        }
        let bare = fetch("/ui").await;
        assert_eq!(bare.status(), StatusCode::PERMANENT_REDIRECT);
        assert_eq!(bare.headers()[header::LOCATION], "/ui/");
        assert_eq!(fetch("/ui/nothing.js").await.status(), StatusCode::NOT_FOUND);
    }

    #[test]
    fn the_page_loads_only_what_is_served() {
        // every file the page names is one of the assets (a renamed file fails here, not in a
        // browser)
        let page = ASSETS[0].body;
        for named in ["app.js", "style.css"] {
            assert!(page.contains(&format!("\"{named}\"")), "{named}");
            assert!(ASSETS.iter().any(|a| a.path == named));
        }
        // no inline script or style, which the policy forbids
        assert!(!page.contains("<script>") && !page.contains("style="));
    }
}
