//! Whether a visitor reached vote over TLS, which decides whether the voter
//! cookie is `Secure`: directly (a TLS listener), or through a proxy that
//! ended TLS for it and says so in `X-Forwarded-Proto`. That header is
//! believed only from the proxies the operator names (`TRUSTED_PROXIES`,
//! addresses and CIDR ranges): anyone else can send it.

use actix_web::http::header::HeaderName;
use actix_web::HttpRequest;
use common::config::ConfigError;
use ipnet::IpNet;
use std::net::IpAddr;

/// The variable naming the trusted proxies.
pub const TRUSTED_PROXIES: &str = "TRUSTED_PROXIES";

const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");

/// The proxies whose `X-Forwarded-Proto` is believed; none by default.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// Parses `10.0.0.0/8, 192.168.1.5, fd00::/8`: addresses and CIDR
    /// ranges, comma-separated; empty for none.
    pub fn parse(raw: &str) -> Result<Self, ConfigError> {
        raw.split(',')
            .map(str::trim)
            .filter(|part| !part.is_empty())
            .map(|part| {
                part.parse::<IpNet>()
                    .or_else(|_| part.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| {
                        ConfigError::new(
                            TRUSTED_PROXIES,
                            raw.to_owned(),
                            format!("{part:?} is not an IP address or CIDR range (10.0.0.0/8)"),
                        )
                    })
            })
            .collect::<Result<_, _>>()
            .map(Self)
    }

    fn trusts(&self, peer: IpAddr) -> bool {
        let peer = peer.to_canonical();
        self.0.iter().any(|net| net.contains(&peer))
    }

    /// Whether `req` came over TLS: a TLS listener, or a trusted proxy whose
    /// `X-Forwarded-Proto` (its last value: the one it set) is `https`.
    pub fn over_tls(&self, req: &HttpRequest) -> bool {
        if req.app_config().secure() {
            return true;
        }
        let Some(peer) = req.peer_addr() else {
            return false;
        };
        if !self.trusts(peer.ip()) {
            return false;
        }
        req.headers()
            .get_all(X_FORWARDED_PROTO)
            .last()
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.rsplit(',').next())
            .is_some_and(|proto| proto.trim().eq_ignore_ascii_case("https"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    #[test]
    fn addresses_and_ranges_are_read_and_anything_else_named() {
        let proxies = TrustedProxies::parse("10.0.0.0/8, 192.168.1.5,fd00::/8,").unwrap();
        assert!(proxies.trusts("10.1.2.3".parse().unwrap()));
        assert!(proxies.trusts("192.168.1.5".parse().unwrap()));
        assert!(proxies.trusts("::ffff:10.0.0.1".parse().unwrap()));
        assert!(proxies.trusts("fd00::1".parse().unwrap()));
        assert!(!proxies.trusts("192.168.1.6".parse().unwrap()));
        assert_eq!(
            TrustedProxies::parse(" ").unwrap(),
            TrustedProxies::default()
        );
        for bad in ["10.0.0.0/33", "proxy.local", "10.0.0.0/8;1.2.3.4"] {
            let error = TrustedProxies::parse(bad).unwrap_err().to_string();
            assert!(error.contains("TRUSTED_PROXIES"), "{error}");
        }
    }

    #[test]
    fn only_a_trusted_proxy_makes_a_request_https() {
        let proxies = TrustedProxies::parse("127.0.0.1").unwrap();
        let request = |peer: &str, protos: &[&str]| {
            let mut req = TestRequest::default().peer_addr(peer.parse().unwrap());
            for proto in protos {
                req = req.append_header(("x-forwarded-proto", *proto));
            }
            req.to_http_request()
        };
        assert!(proxies.over_tls(&request("127.0.0.1:5000", &["https"])));
        assert!(proxies.over_tls(&request("127.0.0.1:5000", &["http, https"])));
        assert!(!proxies.over_tls(&request("127.0.0.1:5000", &["https, http"])));
        assert!(!proxies.over_tls(&request("127.0.0.1:5000", &[])));
        assert!(!proxies.over_tls(&request("10.0.0.9:5000", &["https"])));
        assert!(!TrustedProxies::default().over_tls(&request("127.0.0.1:5000", &["https"])));
    }
}
