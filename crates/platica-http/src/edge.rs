//! The server's edge: who the client is behind trusted proxies, whether the request came over
//! HTTPS, which browser origins may use a session cookie, the security headers of every answer,
//! and the token `/metrics` may require. It reads only its own settings ([`Edge`]), never the
//! whole application state.
//!
//! - The client's address is the peer's, unless the peer is a trusted proxy: then the rightmost
//!   address of `X-Forwarded-For` that is not itself a trusted proxy. A request that did not come
//!   through a trusted proxy cannot choose its address (so per-address limits hold), and clients
//!   behind one proxy are not one bucket.
//! - A request came over HTTPS when a trusted proxy says so (`X-Forwarded-Proto: https`); the
//!   session cookie is then `Secure` (always, with `server.secure_cookies`).
//! - A request authenticated by the session cookie (not by an `Authorization` header or an API
//!   token) from a browser page of another origin is refused (403 `bad_origin`): the `Origin`
//!   header must be the server's own origin (as the request's `Host` names it) or one of
//!   `server.allowed_origins`. The same holds for WebSocket upgrades with a session.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;

use crate::error::ApiError;

/// How the server meets the outside: proxies, origins, the metrics token.
#[derive(Clone, Debug, Default)]
pub struct Edge {
    /// Proxies (addresses or CIDR blocks) whose `X-Forwarded-For` and `X-Forwarded-Proto` are
    /// believed.
    pub trusted_proxies: Vec<Cidr>,
    /// Browser origins besides the server's own that may use its session cookie and be connected
    /// to from its pages (`scheme://host[:port]`).
    pub allowed_origins: Vec<String>,
    /// When set, `/metrics` answers only `Authorization: Bearer <token>`.
    pub metrics_token: Option<String>,
}

/// An address block: `10.0.0.0/8`, `::1/128`, or one address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Parses `addr` or `addr/prefix`.
    pub fn parse(text: &str) -> Result<Cidr, String> {
        let text = text.trim();
        let (addr, prefix) = match text.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (text, None),
        };
        let addr: IpAddr = addr.parse().map_err(|_| format!("{text:?} is not an IP address or CIDR block"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("{text:?}: the prefix length must be 0 to {max}"))?,
        };
        Ok(Cidr { addr, prefix })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.prefix)).unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX.checked_shl(128 - u32::from(self.prefix)).unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// IPv4-mapped IPv6 addresses as IPv4.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

impl Edge {
    /// Whether `ip` is a trusted proxy.
    pub fn trusted(&self, ip: IpAddr) -> bool {
        self.trusted_proxies.iter().any(|c| c.contains(ip))
    }

    /// The client's address: see the module docs.
    pub fn client_ip(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let peer = canonical(peer);
        if !self.trusted(peer) {
            return peer;
        }
        let hops: Vec<IpAddr> = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|a| a.trim().parse::<IpAddr>().ok())
            .map(canonical)
            .collect();
        hops.iter().rev().copied().find(|ip| !self.trusted(*ip)).unwrap_or(peer)
    }

    /// Whether the request reached the proxy in front of us over HTTPS.
    pub fn over_https(&self, peer: IpAddr, headers: &HeaderMap) -> bool {
        self.trusted(canonical(peer))
            && headers
                .get("x-forwarded-proto")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.rsplit(',').next())
                .is_some_and(|p| p.trim().eq_ignore_ascii_case("https"))
    }

    /// Whether a browser page of `origin` may use this server's session (its own origin, as the
    /// request's host names it, or a configured one).
    pub fn origin_allowed(&self, origin: &str, host: Option<&str>, https: bool) -> bool {
        let origin = origin.trim_end_matches('/');
        if self.allowed_origins.iter().any(|o| o.trim_end_matches('/').eq_ignore_ascii_case(origin)) {
            return true;
        }
        let Some(host) = host else { return false };
        let own = |scheme: &str| format!("{scheme}://{host}");
        origin.eq_ignore_ascii_case(&own(if https { "https" } else { "http" }))
            || (!https && origin.eq_ignore_ascii_case(&own("https")))
    }

    /// The Content-Security-Policy of every answer.
    fn csp(&self) -> String {
        let mut connect = vec!["'self'".to_owned()];
        for o in &self.allowed_origins {
            connect.push(o.clone());
            if let Some(rest) = o.strip_prefix("https://") {
                connect.push(format!("wss://{rest}"));
            } else if let Some(rest) = o.strip_prefix("http://") {
                connect.push(format!("ws://{rest}"));
            }
        }
        format!(
            "default-src 'self'; connect-src {}; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; \
             object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
            connect.join(" ")
        )
    }
}

/// The peer's address (unspecified when the server runs without connection info, as in some
/// tests).
pub fn peer(parts_extensions: &axum::http::Extensions) -> IpAddr {
    parts_extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
        .unwrap_or(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED))
}

/// Refuses a cookie-authenticated request from a page of another origin (see module docs).
pub fn check_origin(edge: &Edge, parts: &Parts) -> Result<(), ApiError> {
    let headers = &parts.headers;
    let cross_site = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) == Some("cross-site");
    let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok());
    let allowed = match origin {
        // A page that hides its origin ("null": sandboxed frames, some redirects) is not trusted.
        Some(o) => {
            let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
            o != "null" && edge.origin_allowed(o, host, edge.over_https(peer(&parts.extensions), headers))
        }
        // No Origin: not a cross-origin browser request (browsers send it on those), unless the
        // browser says the request is cross-site.
        None => !cross_site,
    };
    if allowed {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "bad_origin",
            "this session cookie may not be used from another site's page (Origin not allowed)",
        ))
    }
}

/// Security headers on every answer, and `Cache-Control: no-store` on the API's.
pub async fn headers(State(edge): State<Arc<Edge>>, req: Request, next: Next) -> Response {
    let api = req.uri().path().starts_with("/api/");
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    if let Ok(csp) = HeaderValue::from_str(&edge.csp()) {
        h.insert(header::CONTENT_SECURITY_POLICY, csp);
    }
    if api && !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    resp
}

/// `/metrics` behind its token, when one is configured.
pub async fn metrics_guard(State(edge): State<Arc<Edge>>, req: Request, next: Next) -> Response {
    if let Some(token) = &edge.metrics_token {
        let given = bearer(req.headers());
        let ok = given.is_some_and(|g| constant_time_eq(g.as_bytes(), token.as_bytes()));
        if !ok {
            return axum::response::IntoResponse::into_response(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "/metrics needs Authorization: Bearer <metrics token>",
            ));
        }
    }
    next.run(req).await
}

/// The token of an `Authorization: Bearer` header, if any.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// Compares two secrets in time independent of where they differ.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn edge(proxies: &[&str]) -> Edge {
        Edge { trusted_proxies: proxies.iter().map(|p| Cidr::parse(p).unwrap()).collect(), ..Edge::default() }
    }

    fn xff(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", HeaderValue::from_str(v).unwrap());
        h
    }

    #[test]
    fn blocks_contain_what_they_should() {
        let c = Cidr::parse("10.1.0.0/16").unwrap();
        assert!(c.contains("10.1.200.3".parse().unwrap()));
        assert!(!c.contains("10.2.0.1".parse().unwrap()));
        assert!(Cidr::parse("::1").unwrap().contains("::1".parse().unwrap()));
        assert!(Cidr::parse("127.0.0.1").unwrap().contains("::ffff:127.0.0.1".parse().unwrap()));
        assert!(Cidr::parse("0.0.0.0/0").unwrap().contains("8.8.8.8".parse().unwrap()));
        for bad in ["", "10.0.0.0/33", "x", "::/129", "1.2.3.4/"] {
            assert!(Cidr::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_client_is_found_only_through_trusted_proxies() {
        let peer: IpAddr = "10.0.0.5".parse().unwrap();
        // Not trusted: the header is ignored (a client cannot choose its address).
        assert_eq!(edge(&[]).client_ip(peer, &xff("1.2.3.4")), peer);
        // Trusted: the rightmost untrusted hop.
        let e = edge(&["10.0.0.0/8"]);
        assert_eq!(e.client_ip(peer, &xff("6.6.6.6, 1.2.3.4")), "1.2.3.4".parse::<IpAddr>().unwrap());
        assert_eq!(e.client_ip(peer, &xff("6.6.6.6, 1.2.3.4, 10.0.0.9")), "1.2.3.4".parse::<IpAddr>().unwrap());
        assert_eq!(e.client_ip(peer, &HeaderMap::new()), peer);
        assert_eq!(e.client_ip(peer, &xff("garbage")), peer);
    }

    #[test]
    fn origins_are_the_servers_own_or_configured() {
        let e = Edge { allowed_origins: vec!["https://crm.example.com".into()], ..Edge::default() };
        assert!(e.origin_allowed("http://127.0.0.1:8080", Some("127.0.0.1:8080"), false));
        assert!(!e.origin_allowed("http://evil.test", Some("127.0.0.1:8080"), false));
        assert!(!e.origin_allowed("http://127.0.0.1:8081", Some("127.0.0.1:8080"), false));
        assert!(e.origin_allowed("https://crm.example.com/", None, false));
        assert!(!e.origin_allowed("http://platica.example.com", Some("platica.example.com"), true), "https only");
        assert!(e.csp().contains("connect-src 'self' https://crm.example.com wss://crm.example.com;"));
    }
}
