//! A cluster's networks and the reach of its API endpoint.
//!
//! `network{podCidr, serviceCidr}`: IPv4 CIDRs with the host bits zero, each inside one private
//! range: RFC 1918 (`10.0.0.0/8`, `172.16.0.0/12`, `192.168.0.0/16`) or the shared address space
//! `100.64.0.0/10` (RFC 6598: never routed on the Internet, and what GKE and EKS offer for pods
//! once RFC 1918 space runs out). Pod ranges are /8 to /20 (a /20 still gives 16 nodes a /24
//! each), service ranges /12 to /24 (Kubernetes refuses a service range larger than /12, and a
//! /24 still holds 254 services). The two must not overlap. Omitted: `10.244.0.0/16` for pods and
//! `10.96.0.0/12` for services, Kubernetes' own defaults. Immutable after create.
//!
//! `endpointAccess{public, allowedCidrs}`: whether the API server has a public endpoint (default
//! `true`) and, when it does, which source ranges may reach it (at most [`MAX_ALLOWED_CIDRS`]
//! IPv4 CIDRs, host bits zero, any range, `0.0.0.0/0` included; empty means from anywhere).
//! A private endpoint with a non-empty list is refused: the list would mean nothing.

use std::{fmt, net::Ipv4Addr, str::FromStr};

/// An IPv4 CIDR block with its host bits zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cidr {
    addr: Ipv4Addr,
    prefix: u8,
}

impl Cidr {
    /// Parses `a.b.c.d/n`, refusing set host bits.
    ///
    /// # Errors
    /// A message saying what is wrong.
    pub fn parse(s: &str) -> Result<Cidr, String> {
        let (addr, prefix) = s
            .split_once('/')
            .ok_or_else(|| format!("{s:?} is not an IPv4 CIDR (a.b.c.d/n)"))?;
        let addr = Ipv4Addr::from_str(addr)
            .map_err(|_| format!("{s:?} is not an IPv4 CIDR (a.b.c.d/n)"))?;
        let prefix: u8 = prefix
            .parse()
            .ok()
            .filter(|p| *p <= 32 && !prefix.starts_with('+'))
            .ok_or_else(|| format!("{s:?}: the prefix length must be 0 to 32"))?;
        let cidr = Cidr { addr, prefix };
        if u32::from(addr) & !cidr.mask() != 0 {
            return Err(format!(
                "{s:?} has host bits set; the block is {}",
                Cidr {
                    addr: Ipv4Addr::from(u32::from(addr) & cidr.mask()),
                    prefix
                }
            ));
        }
        Ok(cidr)
    }

    fn mask(self) -> u32 {
        if self.prefix == 0 {
            0
        } else {
            u32::MAX << (32 - self.prefix)
        }
    }

    fn first(self) -> u32 {
        u32::from(self.addr)
    }

    fn last(self) -> u32 {
        self.first() | !self.mask()
    }

    /// The prefix length.
    pub fn prefix(self) -> u8 {
        self.prefix
    }

    /// Whether `other` lies entirely inside this block.
    pub fn contains(self, other: Cidr) -> bool {
        other.prefix >= self.prefix && other.first() & self.mask() == self.first()
    }

    /// Whether the two blocks share an address.
    pub fn overlaps(self, other: Cidr) -> bool {
        self.first() <= other.last() && other.first() <= self.last()
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// The ranges a cluster network may use.
pub const PRIVATE_RANGES: [&str; 4] = [
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "100.64.0.0/10",
];

/// Prefix lengths a pod range may have.
pub const POD_PREFIXES: std::ops::RangeInclusive<u8> = 8..=20;
/// Prefix lengths a service range may have.
pub const SERVICE_PREFIXES: std::ops::RangeInclusive<u8> = 12..=24;
/// The pod range of a cluster that names none.
pub const DEFAULT_POD_CIDR: &str = "10.244.0.0/16";
/// The service range of a cluster that names none.
pub const DEFAULT_SERVICE_CIDR: &str = "10.96.0.0/12";
/// Most entries of `endpointAccess.allowedCidrs`.
pub const MAX_ALLOWED_CIDRS: usize = 32;

fn private(c: Cidr) -> bool {
    PRIVATE_RANGES
        .iter()
        .filter_map(|r| Cidr::parse(r).ok())
        .any(|r| r.contains(c))
}

/// A cluster's pod and service ranges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Network {
    /// Pod addresses.
    pub pod_cidr: Cidr,
    /// Service (ClusterIP) addresses.
    pub service_cidr: Cidr,
}

impl Default for Network {
    fn default() -> Self {
        let parse = |s| {
            Cidr::parse(s).unwrap_or(Cidr {
                addr: Ipv4Addr::UNSPECIFIED,
                prefix: 0,
            })
        };
        Network {
            pod_cidr: parse(DEFAULT_POD_CIDR),
            service_cidr: parse(DEFAULT_SERVICE_CIDR),
        }
    }
}

fn range(
    field: &str,
    text: &str,
    prefixes: &std::ops::RangeInclusive<u8>,
) -> Result<Cidr, (String, String)> {
    let at = |m: String| (field.to_string(), format!("{field}: {m}"));
    let c = Cidr::parse(text).map_err(at)?;
    if !private(c) {
        return Err(at(format!(
            "{c} is not inside a private range ({})",
            PRIVATE_RANGES.join(", ")
        )));
    }
    if !prefixes.contains(&c.prefix) {
        return Err(at(format!(
            "{c}: the prefix length must be /{} to /{}",
            prefixes.start(),
            prefixes.end()
        )));
    }
    Ok(c)
}

impl Network {
    /// The network of a create: each range given or its default, checked.
    ///
    /// # Errors
    /// `(field, message)` naming `network.podCidr` or `network.serviceCidr`.
    pub fn parse(pod: Option<&str>, service: Option<&str>) -> Result<Network, (String, String)> {
        let pod = range(
            "network.podCidr",
            pod.unwrap_or(DEFAULT_POD_CIDR),
            &POD_PREFIXES,
        )?;
        let service = range(
            "network.serviceCidr",
            service.unwrap_or(DEFAULT_SERVICE_CIDR),
            &SERVICE_PREFIXES,
        )?;
        if pod.overlaps(service) {
            return Err((
                "network.serviceCidr".into(),
                format!("network.serviceCidr: {service} overlaps network.podCidr {pod}"),
            ));
        }
        Ok(Network {
            pod_cidr: pod,
            service_cidr: service,
        })
    }
}

/// Who may reach the API server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointAccess {
    /// Whether the endpoint is reachable from the Internet.
    pub public: bool,
    /// The source ranges allowed (empty: any), only while public.
    pub allowed_cidrs: Vec<Cidr>,
}

impl Default for EndpointAccess {
    fn default() -> Self {
        EndpointAccess {
            public: true,
            allowed_cidrs: Vec::new(),
        }
    }
}

impl EndpointAccess {
    /// Checks and builds the endpoint access.
    ///
    /// # Errors
    /// `(field, message)` naming `endpointAccess.allowedCidrs[i]` or the list.
    pub fn parse(public: bool, allowed: &[String]) -> Result<EndpointAccess, (String, String)> {
        const FIELD: &str = "endpointAccess.allowedCidrs";
        if allowed.len() > MAX_ALLOWED_CIDRS {
            return Err((
                FIELD.into(),
                format!("{FIELD}: at most {MAX_ALLOWED_CIDRS} entries are allowed"),
            ));
        }
        if !public && !allowed.is_empty() {
            return Err((
                FIELD.into(),
                format!(
                    "{FIELD} only applies to a public endpoint: send an empty list (or null) \
                     with \"public\": false"
                ),
            ));
        }
        let mut cidrs = Vec::with_capacity(allowed.len());
        for (i, text) in allowed.iter().enumerate() {
            let field = format!("{FIELD}[{i}]");
            let c = Cidr::parse(text).map_err(|m| (field.clone(), format!("{field}: {m}")))?;
            if cidrs.contains(&c) {
                return Err((field.clone(), format!("{field}: {c} is listed twice")));
            }
            cidrs.push(c);
        }
        Ok(EndpointAccess {
            public,
            allowed_cidrs: cidrs,
        })
    }

    /// The ranges as text.
    pub fn allowed_texts(&self) -> Vec<String> {
        self.allowed_cidrs.iter().map(ToString::to_string).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidrs_parse_strictly() {
        assert_eq!(Cidr::parse("10.0.0.0/8").unwrap().to_string(), "10.0.0.0/8");
        assert_eq!(Cidr::parse("0.0.0.0/0").unwrap().prefix(), 0);
        for bad in [
            "10.0.0.0",
            "10.0.0/8",
            "10.0.0.0/33",
            "10.0.0.0/+8",
            "a/8",
            "10.0.0.1/8",
            "::/0",
        ] {
            assert!(Cidr::parse(bad).is_err(), "{bad}");
        }
        assert!(Cidr::parse("10.0.0.1/8")
            .unwrap_err()
            .contains("10.0.0.0/8"));
    }

    #[test]
    fn networks_must_be_private_sized_and_apart() {
        let ok = Network::parse(None, None).unwrap();
        assert_eq!(ok.pod_cidr.to_string(), DEFAULT_POD_CIDR);
        assert_eq!(ok.service_cidr.to_string(), DEFAULT_SERVICE_CIDR);
        assert!(Network::parse(Some("100.64.0.0/16"), Some("172.20.0.0/16")).is_ok());
        assert!(Network::parse(Some("10.0.0.0/8"), Some("172.16.0.0/12")).is_ok());
        for (pod, svc, field, want) in [
            (
                "8.8.0.0/16",
                DEFAULT_SERVICE_CIDR,
                "network.podCidr",
                "private",
            ),
            (
                "172.0.0.0/8",
                DEFAULT_SERVICE_CIDR,
                "network.podCidr",
                "private",
            ),
            (
                "10.0.0.0/7",
                DEFAULT_SERVICE_CIDR,
                "network.podCidr",
                "private",
            ),
            (
                "10.244.0.0/21",
                DEFAULT_SERVICE_CIDR,
                "network.podCidr",
                "/8 to /20",
            ),
            (
                "10.244.0.1/16",
                DEFAULT_SERVICE_CIDR,
                "network.podCidr",
                "host bits",
            ),
            (
                DEFAULT_POD_CIDR,
                "10.0.0.0/11",
                "network.serviceCidr",
                "/12 to /24",
            ),
            (
                DEFAULT_POD_CIDR,
                "10.96.0.0/25",
                "network.serviceCidr",
                "/12 to /24",
            ),
            (
                DEFAULT_POD_CIDR,
                "10.244.128.0/20",
                "network.serviceCidr",
                "overlaps",
            ),
            (
                "10.0.0.0/8",
                DEFAULT_SERVICE_CIDR,
                "network.serviceCidr",
                "overlaps",
            ),
        ] {
            let (f, m) = Network::parse(Some(pod), Some(svc)).unwrap_err();
            assert_eq!(f, field, "{pod} {svc}");
            assert!(m.contains(want), "{pod} {svc}: {m}");
        }
    }

    #[test]
    fn endpoint_access_rules() {
        let open = EndpointAccess::parse(true, &["0.0.0.0/0".into(), "203.0.113.0/24".into()]);
        assert_eq!(
            open.unwrap().allowed_texts(),
            ["0.0.0.0/0", "203.0.113.0/24"]
        );
        assert!(EndpointAccess::parse(false, &[]).is_ok());
        let err = |p, l: &[&str]| {
            let l: Vec<String> = l.iter().map(|s| (*s).to_string()).collect();
            EndpointAccess::parse(p, &l).unwrap_err().0
        };
        assert_eq!(err(false, &["1.2.3.0/24"]), "endpointAccess.allowedCidrs");
        assert_eq!(
            err(true, &["1.2.3.0/24", "1.2.3.4/24"]),
            "endpointAccess.allowedCidrs[1]"
        );
        assert_eq!(
            err(true, &["1.2.3.0/24", "1.2.3.0/24"]),
            "endpointAccess.allowedCidrs[1]"
        );
        let many: Vec<String> = (0..=MAX_ALLOWED_CIDRS)
            .map(|i| format!("10.0.{i}.0/24"))
            .collect();
        assert_eq!(
            EndpointAccess::parse(true, &many).unwrap_err().0,
            "endpointAccess.allowedCidrs"
        );
    }
}
