//! The instances of every service: round-robin over the healthy ones, a
//! failing instance ejected for a while, `dns://` targets re-resolved.

use crate::configuration::BalancingSettings;
use crate::routing::Upstream;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// One configured target: a fixed base URL, or a DNS name whose every
/// address is an instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Url(String),
    Dns { host: String, port: u16 },
}

/// Parse `http://a:1,dns://b:2` into targets.
pub fn parse_targets(list: &str) -> Result<Vec<Target>, String> {
    let targets: Vec<Target> = list
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(|t| {
            if let Some(rest) = t.strip_prefix("dns://") {
                let (host, port) = rest
                    .trim_end_matches('/')
                    .rsplit_once(':')
                    .ok_or_else(|| format!("{t}: expected dns://name:port"))?;
                let port = port
                    .parse()
                    .map_err(|_| format!("{t}: {port:?} is not a port"))?;
                if host.is_empty() {
                    return Err(format!("{t}: no host name"));
                }
                Ok(Target::Dns {
                    host: host.to_string(),
                    port,
                })
            } else if t.starts_with("http://") || t.starts_with("https://") {
                Ok(Target::Url(t.trim_end_matches('/').to_string()))
            } else {
                Err(format!("{t}: expected http://host:port or dns://name:port"))
            }
        })
        .collect::<Result<_, _>>()?;
    if targets.is_empty() {
        return Err("no instances configured".into());
    }
    Ok(targets)
}

/// `http://name:port` with a DNS name (not an IP, not `localhost`) as a
/// `dns://` target, so a plain service URL in docker-compose or k8s follows
/// `--scale` too. URLs with a path, IPs and `https` stay as they are.
fn as_dns(target: Target) -> Target {
    let Target::Url(url) = &target else {
        return target;
    };
    let Some(authority) = url.strip_prefix("http://") else {
        return target;
    };
    if authority.contains('/') || authority.starts_with('[') {
        return target;
    }
    let (host, port) = match authority.rsplit_once(':') {
        Some((host, port)) => match port.parse() {
            Ok(port) => (host, port),
            Err(_) => return target,
        },
        None => (authority, 80),
    };
    if host.parse::<std::net::IpAddr>().is_ok() || host.eq_ignore_ascii_case("localhost") {
        return target;
    }
    Target::Dns {
        host: host.to_string(),
        port,
    }
}

/// One instance and its recent health.
#[derive(Debug)]
pub struct Instance {
    pub url: String,
    failures: AtomicU32,
    /// Milliseconds since the balancer started until which it is ejected.
    ejected_until: AtomicU64,
}

impl Instance {
    fn new(url: String) -> Self {
        Self {
            url,
            failures: AtomicU32::new(0),
            ejected_until: AtomicU64::new(0),
        }
    }
}

struct Pool {
    targets: Vec<Target>,
    instances: RwLock<Vec<Arc<Instance>>>,
    cursor: AtomicUsize,
}

pub struct Balancer {
    pools: HashMap<Upstream, Pool>,
    settings: BalancingSettings,
    started: Instant,
}

impl Balancer {
    /// Fixed URLs are instances at once; `dns://` targets are resolved by
    /// [`Balancer::resolve_all`] (call it before serving).
    pub fn new(
        upstreams: &crate::configuration::Upstreams,
        settings: &BalancingSettings,
    ) -> Result<Self, String> {
        let mut pools = HashMap::new();
        for (upstream, list) in upstreams.all() {
            let mut targets = parse_targets(list)?;
            if settings.resolve_hostnames {
                targets = targets.into_iter().map(as_dns).collect();
            }
            let fixed = targets
                .iter()
                .filter_map(|t| match t {
                    Target::Url(url) => Some(Arc::new(Instance::new(url.clone()))),
                    Target::Dns { .. } => None,
                })
                .collect();
            pools.insert(
                upstream,
                Pool {
                    targets,
                    instances: RwLock::new(fixed),
                    cursor: AtomicUsize::new(0),
                },
            );
        }
        Ok(Self {
            pools,
            settings: settings.clone(),
            started: Instant::now(),
        })
    }

    fn now_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    fn snapshot(&self, upstream: Upstream) -> Vec<Arc<Instance>> {
        self.pools
            .get(&upstream)
            .and_then(|p| p.instances.read().ok().map(|i| i.clone()))
            .unwrap_or_default()
    }

    /// The next instance in round-robin order, skipping ejected ones and any
    /// in `exclude` (already tried for this request). When every instance is
    /// ejected, the one whose ejection ends first is tried anyway: a guess is
    /// better than refusing everything.
    pub fn pick(&self, upstream: Upstream, exclude: &[Arc<Instance>]) -> Option<Arc<Instance>> {
        let pool = self.pools.get(&upstream)?;
        let instances = self.snapshot(upstream);
        let candidates: Vec<&Arc<Instance>> = instances
            .iter()
            .filter(|i| !exclude.iter().any(|e| Arc::ptr_eq(e, i)))
            .collect();
        if candidates.is_empty() {
            return None;
        }
        let now = self.now_ms();
        let start = pool.cursor.fetch_add(1, Ordering::Relaxed);
        let n = candidates.len();
        for k in 0..n {
            let candidate = candidates[(start + k) % n];
            if candidate.ejected_until.load(Ordering::Relaxed) <= now {
                return Some(candidate.clone());
            }
        }
        candidates
            .into_iter()
            .min_by_key(|i| i.ejected_until.load(Ordering::Relaxed))
            .cloned()
    }

    pub fn succeeded(&self, instance: &Instance) {
        instance.failures.store(0, Ordering::Relaxed);
    }

    /// Count a failure; enough in a row eject the instance for a while.
    pub fn failed(&self, upstream: Upstream, instance: &Instance) {
        let failures = instance.failures.fetch_add(1, Ordering::Relaxed) + 1;
        if failures >= self.settings.eject_after_failures.max(1) {
            instance.failures.store(0, Ordering::Relaxed);
            instance.ejected_until.store(
                self.now_ms() + self.settings.eject_for_ms,
                Ordering::Relaxed,
            );
            tracing::warn!(
                upstream = upstream.name(),
                instance = %instance.url,
                eject_for_ms = self.settings.eject_for_ms,
                "instance ejected after repeated failures"
            );
        }
    }

    /// Base URLs of every known instance of `upstream` (for `/health`).
    pub fn instances(&self, upstream: Upstream) -> Vec<String> {
        self.snapshot(upstream)
            .iter()
            .map(|i| i.url.clone())
            .collect()
    }

    /// Whether an instance is currently ejected (for `/health` and tests).
    pub fn is_ejected(&self, url: &str) -> bool {
        let now = self.now_ms();
        self.pools.values().any(|p| {
            p.instances.read().is_ok_and(|i| {
                i.iter()
                    .any(|i| i.url == url && i.ejected_until.load(Ordering::Relaxed) > now)
            })
        })
    }

    /// Resolve every `dns://` target again and update the instance lists,
    /// keeping the health state of instances that are still there.
    pub async fn resolve_all(&self) {
        for (upstream, pool) in &self.pools {
            if !pool.targets.iter().any(|t| matches!(t, Target::Dns { .. })) {
                continue;
            }
            let mut urls = Vec::new();
            for target in &pool.targets {
                match target {
                    Target::Url(url) => urls.push(url.clone()),
                    Target::Dns { host, port } => {
                        match tokio::net::lookup_host((host.as_str(), *port)).await {
                            Ok(addresses) => {
                                for address in addresses {
                                    let url = format!("http://{address}");
                                    if !urls.contains(&url) {
                                        urls.push(url);
                                    }
                                }
                            }
                            Err(error) => {
                                // Keep what we had: a DNS hiccup must not empty the pool.
                                tracing::warn!(upstream = upstream.name(), %host, %error, "cannot resolve upstream");
                                if let Ok(current) = pool.instances.read() {
                                    urls.extend(current.iter().map(|i| i.url.clone()));
                                }
                                // Nothing known yet (the service is still starting):
                                // let the HTTP client resolve the name per connection.
                                if urls.is_empty() {
                                    urls.push(format!("http://{host}:{port}"));
                                }
                                urls.dedup();
                            }
                        }
                    }
                }
            }
            if let Ok(mut current) = pool.instances.write() {
                let next: Vec<Arc<Instance>> = urls
                    .into_iter()
                    .map(|url| {
                        current
                            .iter()
                            .find(|i| i.url == url)
                            .cloned()
                            .unwrap_or_else(|| Arc::new(Instance::new(url)))
                    })
                    .collect();
                if next.len() != current.len() {
                    tracing::info!(
                        upstream = upstream.name(),
                        instances = next.len(),
                        "upstream instances changed"
                    );
                }
                *current = next;
            }
        }
    }

    /// Re-resolve DNS targets every `resolve_interval_ms` until `shutdown`.
    pub fn spawn_resolver(self: &Arc<Self>, shutdown: CancellationToken) {
        let needs_dns = self
            .pools
            .values()
            .any(|p| p.targets.iter().any(|t| matches!(t, Target::Dns { .. })));
        if !needs_dns {
            return;
        }
        let balancer = self.clone();
        let every = Duration::from_millis(self.settings.resolve_interval_ms.max(100));
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tokio::time::sleep(every) => balancer.resolve_all().await,
                }
            }
        });
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::configuration::Upstreams;

    fn upstreams(event: &str) -> Upstreams {
        Upstreams {
            auth: "http://a:1".into(),
            event: event.into(),
            booking: "http://b:1".into(),
            waitlist: "http://w:1".into(),
            notification: "http://n:1".into(),
        }
    }

    #[test]
    fn targets_parse() {
        assert_eq!(
            parse_targets(" http://x:1/ , dns://booking-service:8083").unwrap(),
            vec![
                Target::Url("http://x:1".into()),
                Target::Dns {
                    host: "booking-service".into(),
                    port: 8083
                }
            ]
        );
        assert!(parse_targets("").is_err());
        assert!(parse_targets("x:1").is_err());
        assert!(parse_targets("dns://nohost").is_err());
    }

    #[test]
    fn round_robin_skips_ejected_instances_until_they_may_return() {
        let settings = BalancingSettings {
            eject_after_failures: 2,
            eject_for_ms: 60_000,
            resolve_hostnames: false,
            ..Default::default()
        };
        let balancer = Balancer::new(&upstreams("http://e1:1,http://e2:1"), &settings).unwrap();
        let picks: Vec<String> = (0..4)
            .map(|_| balancer.pick(Upstream::Event, &[]).unwrap().url.clone())
            .collect();
        assert_eq!(
            picks,
            ["http://e1:1", "http://e2:1", "http://e1:1", "http://e2:1"]
        );
        let e1 = balancer.pick(Upstream::Event, &[]).unwrap();
        balancer.failed(Upstream::Event, &e1);
        assert!(!balancer.is_ejected("http://e1:1"));
        balancer.failed(Upstream::Event, &e1);
        assert!(balancer.is_ejected("http://e1:1"));
        for _ in 0..4 {
            assert_eq!(
                balancer.pick(Upstream::Event, &[]).unwrap().url,
                "http://e2:1"
            );
        }
        // Excluding the only healthy one still yields the ejected one.
        let e2 = balancer.pick(Upstream::Event, &[]).unwrap();
        assert_eq!(
            balancer
                .pick(Upstream::Event, std::slice::from_ref(&e2))
                .unwrap()
                .url,
            "http://e1:1"
        );
        assert!(balancer.pick(Upstream::Event, &[e1, e2]).is_none());
    }

    #[test]
    fn plain_urls_with_names_are_resolved_unless_told_otherwise() {
        assert_eq!(
            as_dns(Target::Url("http://booking-service:8083".into())),
            Target::Dns {
                host: "booking-service".into(),
                port: 8083
            }
        );
        for kept in [
            "http://127.0.0.1:8083",
            "http://localhost:8083",
            "https://booking.example:443",
            "http://booking-service:8083/prefix",
        ] {
            assert_eq!(as_dns(Target::Url(kept.into())), Target::Url(kept.into()));
        }
    }

    #[tokio::test]
    async fn dns_targets_become_one_instance_per_address() {
        let balancer = Balancer::new(
            &upstreams("dns://127.0.0.1:9999,http://fixed:1"),
            &BalancingSettings {
                resolve_hostnames: false,
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(balancer.instances(Upstream::Event), ["http://fixed:1"]);
        balancer.resolve_all().await;
        assert_eq!(
            balancer.instances(Upstream::Event),
            ["http://127.0.0.1:9999", "http://fixed:1"]
        );
    }
}
