//! `ConnectionQuotas`: how many connections the broker, each listener and each IP may hold,
//! and how fast new ones may be made, as Kafka's `SocketServer.ConnectionQuotas`.
//!
//! Limits on the whole broker or a listener make the Acceptor wait for a free slot (it stops
//! accepting, so the kernel's backlog pushes back on clients) rather than refusing, as Kafka
//! does; a client over its per-IP limit or over the creation rate is refused at once. A slot is
//! released when the connection closes, whichever side closes it.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::config::SocketServerConfig;

/// Why a connection was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuotaViolation {
    /// `max.connections.per.ip` (or its override) reached.
    PerIp,
    /// `max.connection.creation.rate` exceeded.
    CreationRate,
    /// The broker or listener is full (the Acceptor should wait).
    NoSlot,
}

impl QuotaViolation {
    /// A short label for metrics and logs.
    pub fn label(self) -> &'static str {
        match self {
            QuotaViolation::PerIp => "max_connections_per_ip",
            QuotaViolation::CreationRate => "max_connection_creation_rate",
            QuotaViolation::NoSlot => "max_connections",
        }
    }
}

#[derive(Debug, Default)]
struct Counts {
    total: usize,
    per_listener: HashMap<String, usize>,
    per_ip: HashMap<IpAddr, usize>,
    /// Accept times within the last second, for the creation rate.
    recent: VecDeque<Instant>,
}

/// Connection counts shared by the Acceptors and Processors. Touched only when a connection
/// opens or closes, never on the request path.
#[derive(Debug)]
pub struct ConnectionQuotas {
    max_connections: usize,
    per_listener: HashMap<String, usize>,
    per_ip: usize,
    per_ip_overrides: HashMap<IpAddr, usize>,
    creation_rate: Option<u32>,
    counts: Mutex<Counts>,
}

impl ConnectionQuotas {
    /// Quotas from the server configuration.
    pub fn new(config: &SocketServerConfig) -> Self {
        ConnectionQuotas {
            max_connections: config.max_connections,
            per_listener: config.max_connections_per_listener.clone(),
            per_ip: config.max_connections_per_ip,
            per_ip_overrides: config.max_connections_per_ip_overrides.clone(),
            creation_rate: config.max_connection_creation_rate,
            counts: Mutex::new(Counts::default()),
        }
    }

    fn counts(&self) -> MutexGuard<'_, Counts> {
        // A poisoned lock only means another thread panicked mid-update of plain counters;
        // the counts are still the best information there is.
        self.counts.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn ip_limit(&self, ip: IpAddr) -> usize {
        self.per_ip_overrides
            .get(&ip)
            .copied()
            .unwrap_or(self.per_ip)
    }

    /// Whether the broker and `listener` have room for one more connection.
    pub fn slot_available(&self, listener: &str) -> bool {
        let c = self.counts();
        self.has_slot(&c, listener)
    }

    fn has_slot(&self, c: &Counts, listener: &str) -> bool {
        let listener_count = c.per_listener.get(listener).copied().unwrap_or(0);
        let listener_max = self
            .per_listener
            .get(listener)
            .copied()
            .unwrap_or(usize::MAX);
        c.total < self.max_connections && listener_count < listener_max
    }

    /// Counts a new connection from `ip` on `listener`, or says why it must not be kept.
    pub fn try_acquire(
        &self,
        listener: &str,
        ip: IpAddr,
        now: Instant,
    ) -> Result<(), QuotaViolation> {
        let mut c = self.counts();
        if !self.has_slot(&c, listener) {
            return Err(QuotaViolation::NoSlot);
        }
        if c.per_ip.get(&ip).copied().unwrap_or(0) >= self.ip_limit(ip) {
            return Err(QuotaViolation::PerIp);
        }
        if let Some(rate) = self.creation_rate {
            while c
                .recent
                .front()
                .is_some_and(|t| now.saturating_duration_since(*t) >= Duration::from_secs(1))
            {
                c.recent.pop_front();
            }
            if c.recent.len() >= rate as usize {
                return Err(QuotaViolation::CreationRate);
            }
            c.recent.push_back(now);
        }
        c.total += 1;
        *c.per_listener.entry(listener.to_string()).or_insert(0) += 1;
        *c.per_ip.entry(ip).or_insert(0) += 1;
        Ok(())
    }

    /// Releases the slot of a closed connection.
    pub fn release(&self, listener: &str, ip: IpAddr) {
        let mut c = self.counts();
        c.total = c.total.saturating_sub(1);
        if let Some(n) = c.per_listener.get_mut(listener) {
            *n = n.saturating_sub(1);
        }
        if let Some(n) = c.per_ip.get_mut(&ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                c.per_ip.remove(&ip);
            }
        }
    }

    /// Open connections broker-wide.
    pub fn total(&self) -> usize {
        self.counts().total
    }

    /// Open connections from `ip`.
    pub fn count_for_ip(&self, ip: IpAddr) -> usize {
        self.counts().per_ip.get(&ip).copied().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn per_ip_limit_with_override() {
        let mut cfg = SocketServerConfig {
            max_connections_per_ip: 2,
            ..SocketServerConfig::default()
        };
        cfg.max_connections_per_ip_overrides
            .insert(ip("10.0.0.9"), 0);
        let q = ConnectionQuotas::new(&cfg);
        let now = Instant::now();
        assert!(q.try_acquire("L", ip("127.0.0.1"), now).is_ok());
        assert!(q.try_acquire("L", ip("127.0.0.1"), now).is_ok());
        assert_eq!(
            q.try_acquire("L", ip("127.0.0.1"), now),
            Err(QuotaViolation::PerIp)
        );
        assert_eq!(
            q.try_acquire("L", ip("10.0.0.9"), now),
            Err(QuotaViolation::PerIp)
        );
        q.release("L", ip("127.0.0.1"));
        assert!(q.try_acquire("L", ip("127.0.0.1"), now).is_ok());
        assert_eq!(q.total(), 2);
    }

    #[test]
    fn broker_and_listener_limits_leave_no_slot() {
        let mut cfg = SocketServerConfig {
            max_connections: 3,
            ..SocketServerConfig::default()
        };
        cfg.max_connections_per_listener.insert("A".into(), 1);
        let q = ConnectionQuotas::new(&cfg);
        let now = Instant::now();
        assert!(q.try_acquire("A", ip("127.0.0.1"), now).is_ok());
        assert!(!q.slot_available("A"));
        assert_eq!(
            q.try_acquire("A", ip("127.0.0.2"), now),
            Err(QuotaViolation::NoSlot)
        );
        assert!(q.try_acquire("B", ip("127.0.0.2"), now).is_ok());
        assert!(q.try_acquire("B", ip("127.0.0.3"), now).is_ok());
        assert!(!q.slot_available("B"));
        q.release("A", ip("127.0.0.1"));
        assert!(q.slot_available("B"));
    }

    #[test]
    fn creation_rate_is_per_second() {
        let cfg = SocketServerConfig {
            max_connection_creation_rate: Some(2),
            ..SocketServerConfig::default()
        };
        let q = ConnectionQuotas::new(&cfg);
        let t0 = Instant::now();
        assert!(q.try_acquire("L", ip("127.0.0.1"), t0).is_ok());
        assert!(q.try_acquire("L", ip("127.0.0.1"), t0).is_ok());
        assert_eq!(
            q.try_acquire("L", ip("127.0.0.1"), t0),
            Err(QuotaViolation::CreationRate)
        );
        assert!(q
            .try_acquire("L", ip("127.0.0.1"), t0 + Duration::from_millis(1001))
            .is_ok());
    }
}
