//! Outgoing targets (webhook URLs, SMTP hosts) must not reach the server's
//! own network: a user who can save a webhook URL must not be able to make
//! the server call `http://127.0.0.1:6379/`, the cloud metadata service at
//! `169.254.169.254`, or anything else on a private network.
//!
//! Two checks, both needed:
//!
//! - [`check_url`] / [`check_host`] when a target is saved and again before
//!   every request: the URL's shape, and every address its host resolves to;
//! - [`client`], whose DNS resolver ([`GuardedResolver`]) drops forbidden
//!   addresses at connection time, so a name that resolved to a public
//!   address during the check and to `127.0.0.1` a moment later (DNS
//!   rebinding) still cannot reach the private one.
//!
//! Operators who do want private targets (a webhook receiver on the same
//! LAN) set `ALLOW_PRIVATE_TARGETS`, which is the `allow_private` argument.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use ipnet::{Ipv4Net, Ipv6Net};
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use url::{Host, Url};

/// `User-Agent` of every outgoing webhook request.
pub const USER_AGENT: &str = concat!("MarketScout-Webhooks/", env!("CARGO_PKG_VERSION"));

const fn v4(a: u8, b: u8, c: u8, d: u8, prefix: u8) -> Ipv4Net {
    Ipv4Net::new_assert(Ipv4Addr::new(a, b, c, d), prefix)
}

const fn v6(segments: [u16; 8], prefix: u8) -> Ipv6Net {
    let [a, b, c, d, e, f, g, h] = segments;
    Ipv6Net::new_assert(Ipv6Addr::new(a, b, c, d, e, f, g, h), prefix)
}

/// IPv4 ranges no outgoing request may reach.
const FORBIDDEN_V4: [Ipv4Net; 15] = [
    v4(0, 0, 0, 0, 8),       // "this network", 0.0.0.0 included
    v4(10, 0, 0, 0, 8),      // private
    v4(100, 64, 0, 0, 10),   // carrier-grade NAT
    v4(127, 0, 0, 0, 8),     // loopback
    v4(169, 254, 0, 0, 16),  // link-local, cloud metadata services
    v4(172, 16, 0, 0, 12),   // private
    v4(192, 0, 0, 0, 24),    // IETF protocol assignments
    v4(192, 0, 2, 0, 24),    // documentation (TEST-NET-1)
    v4(192, 88, 99, 0, 24),  // 6to4 relay anycast (deprecated)
    v4(192, 168, 0, 0, 16),  // private
    v4(198, 18, 0, 0, 15),   // benchmarking
    v4(198, 51, 100, 0, 24), // documentation (TEST-NET-2)
    v4(203, 0, 113, 0, 24),  // documentation (TEST-NET-3)
    v4(224, 0, 0, 0, 4),     // multicast
    v4(240, 0, 0, 0, 4),     // reserved, 255.255.255.255 broadcast included
];

/// IPv6 ranges no outgoing request may reach (besides those embedding a
/// forbidden IPv4 address, see [`embedded_v4`]).
const FORBIDDEN_V6: [Ipv6Net; 10] = [
    v6([0, 0, 0, 0, 0, 0, 0, 0], 128),         // unspecified
    v6([0, 0, 0, 0, 0, 0, 0, 1], 128),         // loopback
    v6([0x64, 0xff9b, 1, 0, 0, 0, 0, 0], 48),  // NAT64 for local use
    v6([0x100, 0, 0, 0, 0, 0, 0, 0], 64),      // discard-only
    v6([0x2001, 0xdb8, 0, 0, 0, 0, 0, 0], 32), // documentation
    v6([0x3fff, 0, 0, 0, 0, 0, 0, 0], 20),     // documentation (RFC 9637)
    v6([0xfc00, 0, 0, 0, 0, 0, 0, 0], 7),      // unique-local
    v6([0xfe80, 0, 0, 0, 0, 0, 0, 0], 10),     // link-local
    v6([0xfec0, 0, 0, 0, 0, 0, 0, 0], 10),     // site-local (deprecated)
    v6([0xff00, 0, 0, 0, 0, 0, 0, 0], 8),      // multicast
];

/// Whether `ip` is on a network outgoing requests must not reach: loopback,
/// unspecified, private, link-local, carrier-grade NAT, broadcast,
/// multicast, documentation, benchmarking and reserved IPv4 ranges;
/// loopback, unspecified, unique-local, link-local, site-local, multicast
/// and documentation IPv6 ranges; and IPv6 addresses that carry a forbidden
/// IPv4 address (IPv4-mapped `::ffff:127.0.0.1`, IPv4-compatible, NAT64
/// `64:ff9b::/96`, 6to4 `2002::/16`, Teredo).
pub fn is_forbidden(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(ip) => forbidden_v4(ip),
        IpAddr::V6(ip) => {
            FORBIDDEN_V6.iter().any(|net| net.contains(&ip))
                || embedded_v4(ip).into_iter().flatten().any(forbidden_v4)
        }
    }
}

fn forbidden_v4(ip: Ipv4Addr) -> bool {
    FORBIDDEN_V4.iter().any(|net| net.contains(&ip))
}

/// The IPv4 addresses an IPv6 address stands for, where it has that shape.
fn embedded_v4(ip: Ipv6Addr) -> [Option<Ipv4Addr>; 2] {
    let s = ip.segments();
    let o = ip.octets();
    let last = Ipv4Addr::new(o[12], o[13], o[14], o[15]);
    match s {
        // ::ffff:a.b.c.d (mapped), ::a.b.c.d (compatible), ::ffff:0:a.b.c.d (SIIT)
        [0, 0, 0, 0, 0, 0xffff, _, _]
        | [0, 0, 0, 0, 0, 0, _, _]
        | [0, 0, 0, 0, 0xffff, 0, _, _] => [Some(last), None],
        // NAT64 well-known prefix
        [0x64, 0xff9b, 0, 0, 0, 0, _, _] => [Some(last), None],
        // 6to4: 2002:AABB:CCDD::/48
        [0x2002, ..] => [Some(Ipv4Addr::new(o[2], o[3], o[4], o[5])), None],
        // Teredo: 2001:0:<server>:<flags>:<port>:<client, inverted>
        [0x2001, 0, ..] => [
            Some(Ipv4Addr::new(o[4], o[5], o[6], o[7])),
            Some(Ipv4Addr::new(!o[12], !o[13], !o[14], !o[15])),
        ],
        _ => [None, None],
    }
}

/// Why a target was refused.
#[derive(Debug, Clone, thiserror::Error)]
pub enum TargetError {
    #[error("only http and https targets are allowed, not {0}")]
    UnsupportedScheme(String),
    #[error("the URL has no host")]
    NoHost,
    #[error("not a valid URL: {0}")]
    BadUrl(String),
    #[error(
        "URLs with credentials (user:password@) are refused: put the secret in the path or the query instead"
    )]
    Credentials,
    #[error(
        "{host} resolves to a private or loopback address ({ip}); refused unless ALLOW_PRIVATE_TARGETS is set"
    )]
    Forbidden { host: String, ip: IpAddr },
    #[error("{host} does not resolve: {reason}")]
    Unresolvable { host: String, reason: String },
}

/// `url` parsed, if it is a target outgoing requests may go to: http or
/// https, a host, no `user:password@`, and (unless `allow_private`) no
/// address of its host forbidden by [`is_forbidden`]. The host is resolved
/// either way, so a name that does not resolve is refused.
pub async fn check_url(url: &str, allow_private: bool) -> Result<Url, TargetError> {
    let parsed = Url::parse(url).map_err(|e| TargetError::BadUrl(e.to_string()))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(TargetError::UnsupportedScheme(parsed.scheme().to_owned()));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(TargetError::Credentials);
    }
    let port = parsed.port_or_known_default().unwrap_or(80);
    match parsed.host() {
        None => return Err(TargetError::NoHost),
        Some(Host::Ipv4(ip)) => check_addrs(&ip.to_string(), vec![ip.into()], allow_private)?,
        Some(Host::Ipv6(ip)) => check_addrs(&ip.to_string(), vec![ip.into()], allow_private)?,
        Some(Host::Domain(domain)) => {
            let addrs = resolve(domain, port).await?;
            check_addrs(domain, addrs, allow_private)?;
        }
    }
    Ok(parsed)
}

/// The same rule for a bare host (an SMTP server): a name or an IP
/// literal, IPv6 with or without brackets.
pub async fn check_host(host: &str, port: u16, allow_private: bool) -> Result<(), TargetError> {
    let host = host.trim();
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    if bare.is_empty() {
        return Err(TargetError::NoHost);
    }
    let addrs = match bare.parse::<IpAddr>() {
        Ok(ip) => vec![ip],
        Err(_) => resolve(bare, port).await?,
    };
    check_addrs(bare, addrs, allow_private)
}

async fn resolve(host: &str, port: u16) -> Result<Vec<IpAddr>, TargetError> {
    let unresolvable = |reason: String| TargetError::Unresolvable {
        host: host.to_owned(),
        reason,
    };
    let addrs: Vec<IpAddr> = tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| unresolvable(e.to_string()))?
        .map(|a| a.ip())
        .collect();
    if addrs.is_empty() {
        return Err(unresolvable("no addresses".into()));
    }
    Ok(addrs)
}

fn check_addrs(host: &str, addrs: Vec<IpAddr>, allow_private: bool) -> Result<(), TargetError> {
    if allow_private {
        return Ok(());
    }
    match addrs.into_iter().find(|ip| is_forbidden(*ip)) {
        Some(ip) => Err(TargetError::Forbidden {
            host: host.to_owned(),
            ip,
        }),
        None => Ok(()),
    }
}

/// A DNS resolver for reqwest that drops forbidden addresses (unless
/// `allow_private`) and fails, with a [`TargetError`], when none remain.
#[derive(Debug, Clone, Copy)]
pub struct GuardedResolver {
    allow_private: bool,
}

impl GuardedResolver {
    pub fn new(allow_private: bool) -> Self {
        GuardedResolver { allow_private }
    }
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow_private = self.allow_private;
        let host = name.as_str().to_owned();
        Box::pin(async move {
            // Port 0: reqwest puts the URL's port (or the scheme's) in its place.
            let lookup: std::io::Result<Vec<SocketAddr>> =
                tokio::net::lookup_host((host.as_str(), 0))
                    .await
                    .map(Iterator::collect);
            let resolved = match lookup {
                Ok(addrs) => addrs,
                Err(e) => {
                    let reason = e.to_string();
                    return Err(TargetError::Unresolvable { host, reason }.into());
                }
            };
            let mut refused = None;
            let allowed: Vec<SocketAddr> = resolved
                .into_iter()
                .filter(|addr| {
                    let ok = allow_private || !is_forbidden(addr.ip());
                    if !ok {
                        refused.get_or_insert(addr.ip());
                    }
                    ok
                })
                .collect();
            if allowed.is_empty() {
                let err = match refused {
                    Some(ip) => TargetError::Forbidden { host, ip },
                    None => TargetError::Unresolvable {
                        host,
                        reason: "no addresses".into(),
                    },
                };
                return Err(err.into());
            }
            Ok(Box::new(allowed.into_iter()) as Addrs)
        })
    }
}

/// The HTTP client for outgoing webhook requests: the [`GuardedResolver`],
/// no redirects followed (a `302` to an internal address must not be
/// followed; the answer is the `302`), no proxy (a proxy would resolve the
/// target itself, out of the guard's reach; this also ignores
/// `HTTP(S)_PROXY`), the given timeout per request, and
/// `User-Agent: MarketScout-Webhooks/<version>`.
///
/// reqwest does not call the resolver for hosts that are IP literals
/// (`http://127.0.0.1/`, `http://[::1]/`): the delivery code must call
/// [`check_url`] before each request too, not only when the URL is saved.
pub fn client(allow_private: bool, timeout: Duration) -> reqwest::Client {
    reqwest::Client::builder()
        .dns_resolver(GuardedResolver::new(allow_private))
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .timeout(timeout)
        .user_agent(USER_AGENT)
        .build()
        .expect("the webhook HTTP client's configuration is valid")
}

/// The guard's refusal inside an error from [`client`] (a request that
/// failed because [`GuardedResolver`] refused its host), if that is why it
/// failed.
pub fn refusal<'a>(err: &'a (dyn std::error::Error + 'static)) -> Option<&'a TargetError> {
    let mut source = Some(err);
    while let Some(err) = source {
        if let Some(target) = err.downcast_ref::<TargetError>() {
            return Some(target);
        }
        source = err.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    use super::*;

    #[test]
    fn forbidden_addresses() {
        let allowed = [
            "8.8.8.8",
            "1.1.1.1",
            "93.184.216.34",
            "100.63.255.255",
            "100.128.0.0",
            "172.15.255.255",
            "172.32.0.0",
            "192.167.255.255",
            "2606:4700::1111",
            "2a00:1450:4001:82a::200e",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
            "2002:808:808::1",
        ];
        let forbidden = [
            // IPv4
            "0.0.0.0",
            "0.1.2.3",
            "10.0.0.1",
            "10.255.255.255",
            "100.64.0.1",
            "100.127.255.255",
            "127.0.0.1",
            "127.1.2.3",
            "169.254.169.254",
            "172.16.0.1",
            "172.31.255.255",
            "192.0.0.8",
            "192.0.2.1",
            "192.88.99.1",
            "192.168.1.1",
            "198.18.0.1",
            "198.51.100.7",
            "203.0.113.9",
            "224.0.0.1",
            "239.255.255.250",
            "240.0.0.1",
            "255.255.255.255",
            // IPv6
            "::",
            "::1",
            "fe80::1",
            "febf:ffff::1",
            "fec0::1",
            "fc00::1",
            "fd12:3456:789a::1",
            "ff02::1",
            "2001:db8::1",
            "3fff::1",
            "100::1",
            "64:ff9b:1::a00:1",
            // IPv4 inside IPv6
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::ffff:169.254.169.254",
            "::ffff:0:192.168.0.1",
            "::127.0.0.1",
            "::10.0.0.1",
            "64:ff9b::127.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "2002:7f00:1::",
            "2002:c0a8:101::1",
            "2001:0:4136:e378:8000:63bf:f5ff:fffe", // Teredo, client 10.0.0.1
        ];
        for ip in allowed {
            assert!(!is_forbidden(ip.parse().unwrap()), "{ip} should be allowed");
        }
        for ip in forbidden {
            assert!(
                is_forbidden(ip.parse().unwrap()),
                "{ip} should be forbidden"
            );
        }
    }

    #[tokio::test]
    async fn check_url_refuses_loopback_unless_private_targets_are_allowed() {
        let err = check_url("http://127.0.0.1:9/x", false).await.unwrap_err();
        assert!(matches!(err, TargetError::Forbidden { .. }), "{err:?}");
        assert_eq!(
            err.to_string(),
            "127.0.0.1 resolves to a private or loopback address (127.0.0.1); \
             refused unless ALLOW_PRIVATE_TARGETS is set"
        );
        let url = check_url("http://127.0.0.1:9/x", true).await.unwrap();
        assert_eq!(url.as_str(), "http://127.0.0.1:9/x");
    }

    #[tokio::test]
    async fn check_url_refuses_ip_literals_in_every_spelling() {
        for url in [
            "http://[::1]/",
            "http://[::ffff:127.0.0.1]/",
            "http://[::ffff:10.0.0.1]:8080/",
            "http://2130706433/", // 127.0.0.1 as one number
            "http://0x7f.1/",
            "http://0/",
            "https://169.254.169.254/latest/meta-data/",
        ] {
            let err = check_url(url, false).await.unwrap_err();
            assert!(
                matches!(err, TargetError::Forbidden { .. }),
                "{url}: {err:?}"
            );
        }
    }

    #[tokio::test]
    async fn check_url_accepts_public_literals() {
        check_url("https://93.184.216.34/hook", false)
            .await
            .unwrap();
        check_url("http://[2606:4700::1111]:8080/", false)
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn check_url_refuses_other_schemes_credentials_and_garbage() {
        assert!(matches!(
            check_url("ftp://example.com/file", false).await,
            Err(TargetError::UnsupportedScheme(s)) if s == "ftp"
        ));
        assert!(matches!(
            check_url("file:///etc/passwd", true).await,
            Err(TargetError::UnsupportedScheme(_))
        ));
        assert!(matches!(
            check_url("http://user:pw@example.com/", false).await,
            Err(TargetError::Credentials)
        ));
        assert!(matches!(
            check_url("https://token@example.com/", true).await,
            Err(TargetError::Credentials)
        ));
        assert!(matches!(
            check_url("not a url", false).await,
            Err(TargetError::BadUrl(_))
        ));
        assert!(matches!(
            check_url("http://", false).await,
            Err(TargetError::BadUrl(_))
        ));
    }

    #[tokio::test]
    async fn check_url_refuses_names_that_resolve_to_loopback() {
        let err = check_url("http://localhost/", false).await.unwrap_err();
        assert!(
            matches!(&err, TargetError::Forbidden { host, ip } if host == "localhost" && ip.is_loopback()),
            "{err:?}"
        );
        check_url("http://localhost/", true).await.unwrap();
    }

    #[tokio::test]
    async fn check_host_applies_the_same_rule_to_smtp_hosts() {
        assert!(matches!(
            check_host("127.0.0.1", 25, false).await,
            Err(TargetError::Forbidden { .. })
        ));
        assert!(matches!(
            check_host("[::1]", 587, false).await,
            Err(TargetError::Forbidden { .. })
        ));
        assert!(matches!(
            check_host("localhost", 587, false).await,
            Err(TargetError::Forbidden { .. })
        ));
        assert!(matches!(
            check_host(" ", 25, false).await,
            Err(TargetError::NoHost)
        ));
        check_host("localhost", 587, true).await.unwrap();
        check_host("8.8.8.8", 25, false).await.unwrap();
        check_host("2606:4700::1111", 25, false).await.unwrap();
    }

    /// A tiny HTTP server on 127.0.0.1: `/redirect` answers a 302 to
    /// `/secret`, anything else `200 ok`. Counts connections and keeps the
    /// request heads.
    async fn server() -> (
        u16,
        Arc<AtomicUsize>,
        tokio::sync::mpsc::UnboundedReceiver<String>,
    ) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let connections = Arc::new(AtomicUsize::new(0));
        let (heads_tx, heads_rx) = tokio::sync::mpsc::unbounded_channel();
        let counter = connections.clone();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                counter.fetch_add(1, Ordering::SeqCst);
                let heads_tx = heads_tx.clone();
                tokio::spawn(async move {
                    let mut head = Vec::new();
                    let mut buf = [0u8; 1024];
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                        match stream.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => head.extend_from_slice(&buf[..n]),
                        }
                    }
                    let head = String::from_utf8_lossy(&head).into_owned();
                    let answer = if head.starts_with("GET /redirect ") {
                        format!(
                            "HTTP/1.1 302 Found\r\nlocation: http://127.0.0.1:{port}/secret\r\n\
                             content-length: 0\r\nconnection: close\r\n\r\n"
                        )
                    } else {
                        "HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok".into()
                    };
                    let _ = heads_tx.send(head);
                    let _ = stream.write_all(answer.as_bytes()).await;
                    let _ = stream.shutdown().await;
                });
            }
        });
        (port, connections, heads_rx)
    }

    #[tokio::test]
    async fn guarded_client_refuses_names_that_resolve_to_loopback() {
        let (port, connections, _) = server().await;
        let url = format!("http://localhost:{port}/hook");
        let err = client(false, Duration::from_secs(5))
            .post(&url)
            .body("{}")
            .send()
            .await
            .unwrap_err();
        assert!(err.is_connect(), "{err:?}");
        let refusal = refusal(&err).expect("the guard's refusal is in the error chain");
        assert!(
            matches!(refusal, TargetError::Forbidden { host, ip } if host == "localhost" && ip.is_loopback()),
            "{refusal:?}"
        );
        assert_eq!(connections.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn guarded_client_reaches_private_targets_when_allowed() {
        let (port, connections, mut heads) = server().await;
        let url = format!("http://localhost:{port}/hook");
        let response = client(true, Duration::from_secs(5))
            .post(&url)
            .body("{}")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.text().await.unwrap(), "ok");
        assert_eq!(connections.load(Ordering::SeqCst), 1);
        let head = heads.recv().await.unwrap().to_ascii_lowercase();
        assert!(head.starts_with("post /hook http/1.1\r\n"), "{head}");
        assert!(
            head.contains(&format!(
                "\r\nuser-agent: {}\r\n",
                USER_AGENT.to_ascii_lowercase()
            )),
            "{head}"
        );
    }

    #[tokio::test]
    async fn guarded_client_does_not_follow_redirects() {
        let (port, connections, _) = server().await;
        let response = client(true, Duration::from_secs(5))
            .get(format!("http://localhost:{port}/redirect"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 302);
        assert_eq!(connections.load(Ordering::SeqCst), 1);
    }

    /// Why `client`'s doc tells the delivery code to call `check_url` first:
    /// an IP literal never reaches the resolver.
    #[tokio::test]
    async fn guarded_client_alone_does_not_stop_ip_literals() {
        let (port, _, _) = server().await;
        let url = format!("http://127.0.0.1:{port}/hook");
        let response = client(false, Duration::from_secs(5))
            .get(&url)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert!(matches!(
            check_url(&url, false).await,
            Err(TargetError::Forbidden { .. })
        ));
    }
}
