//! Which requests the server answers at all, on every route, with or without a token.
//!
//! A web page can make its visitor's browser send requests anywhere, and DNS rebinding lets it
//! do so under a name of its own that starts resolving to this server (`attacker.example` →
//! 127.0.0.1): the browser then counts the server as the page's own origin and hands it the
//! answers. Without a token, on the process runtime, a run is a command on the user's machine,
//! so any page could run commands. Two checks close that:
//!
//! - the name a request is addressed to (its `Host`, or its URI's authority, which HTTP/2 sends
//!   instead) must be one of the server's: an IP literal (a rebinding name never is one, and
//!   probes address pods by IP), `localhost` or a name under it, the host of `--api-host`
//!   (where runs reach the API), or a name given with `--allowed-host`;
//! - a request that changes something (any method but GET, HEAD and OPTIONS) or opens a socket
//!   (an `Upgrade`) and says which page sent it (`Origin`) must come from a page of this server.
//!   Clients that are not browsers (the polyaxon CLI, the tracking client, curl) send no
//!   `Origin` and pass.

use std::borrow::Cow;
use std::net::IpAddr;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, Uri, header};
use axum::middleware::Next;
use axum::response::Response;

use crate::AppError;

/// The names the server answers to besides IP literals.
#[derive(Debug, Clone)]
pub struct AllowedHosts {
    /// Host names as [`host_name`] writes them; one with a leading dot stands for a domain and
    /// every name under it.
    names: Vec<String>,
}

impl AllowedHosts {
    /// `localhost` and the names under it, the host of `api_host`, and `configured`.
    pub fn new(configured: &[String], api_host: &str) -> Self {
        let api_host = api_host.parse::<Uri>().ok().and_then(|uri| {
            uri.authority()
                .map(|authority| host_name(authority.as_str()))
        });
        let names = std::iter::once(".localhost".to_owned())
            .chain(api_host)
            .chain(configured.iter().map(|name| host_name(name.trim())))
            .filter(|name| !name.is_empty())
            .collect();
        Self { names }
    }

    fn allows(&self, name: &str) -> bool {
        name.parse::<IpAddr>().is_ok()
            || self
                .names
                .iter()
                .any(|allowed| match allowed.strip_prefix('.') {
                    Some(domain) => {
                        name == domain
                            || name
                                .strip_suffix(domain)
                                .is_some_and(|under| under.ends_with('.'))
                    }
                    None => name == allowed,
                })
    }
}

/// The middleware: refuses a request addressed to a name that is not the server's, or one from
/// another site's page that would change something or open a socket.
pub async fn check(
    State(allowed): State<Arc<AllowedHosts>>,
    request: Request,
    next: Next,
) -> Result<Response, AppError> {
    let hosts = request
        .headers()
        .get_all(header::HOST)
        .iter()
        .map(|value| String::from_utf8_lossy(value.as_bytes()))
        .chain(
            request
                .uri()
                .authority()
                .map(|authority| Cow::Borrowed(authority.as_str())),
        );
    for host in hosts {
        let name = host_name(&host);
        if !allowed.allows(&name) {
            return Err(AppError::Forbidden(format!(
                "this server does not answer to the name `{name}`: a page from another site may \
                 be using a DNS name that points here; if this is the server's own name, start \
                 it with `--allowed-host {name}` (or MYELIN_ALLOWED_HOSTS)"
            )));
        }
    }
    let changes_state = !matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    ) || request.headers().contains_key(header::UPGRADE);
    if changes_state {
        same_origin(request.headers(), request.uri())?;
    }
    Ok(next.run(request).await)
}

/// When a browser says which page sent a request (`Origin`), that page must be this server's:
/// its host and port are the ones the request is addressed to. `Origin: null` (a sandboxed
/// frame, a file) is never this server's.
pub fn same_origin(headers: &HeaderMap, uri: &Uri) -> Result<(), AppError> {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return Ok(());
    };
    let origin = String::from_utf8_lossy(origin.as_bytes());
    let host = headers
        .get(header::HOST)
        .map(|value| value.as_bytes())
        .or_else(|| {
            uri.authority()
                .map(|authority| authority.as_str().as_bytes())
        });
    match (origin.split_once("://"), host) {
        (Some((_scheme, origin_host)), Some(host))
            if origin_host.as_bytes().eq_ignore_ascii_case(host) =>
        {
            Ok(())
        }
        _ => Err(AppError::Forbidden(format!(
            "a page from `{origin}` may not change anything on this server or open its sockets: \
             only the server's own pages may"
        ))),
    }
}

/// The host of a `Host` value or an authority (`name:port`, `[v6]:port`), as names compare:
/// lower case, without brackets, port or trailing dot.
fn host_name(authority: &str) -> String {
    let host = match authority.strip_prefix('[') {
        Some(bracketed) => bracketed.split(']').next().unwrap_or_default(),
        None => authority
            .rsplit_once(':')
            .map_or(authority, |(host, _port)| host),
    };
    host.trim_end_matches('.').to_ascii_lowercase()
}
