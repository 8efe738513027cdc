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

/// The limits, replaceable at run time (Kafka's `max.connections*` are dynamic broker
/// configs).
#[derive(Debug, Default)]
struct Limits {
    max_connections: usize,
    per_listener: HashMap<String, usize>,
    per_ip: usize,
    per_ip_overrides: HashMap<IpAddr, usize>,
    creation_rate: Option<u32>,
}

impl Limits {
    fn from_config(config: &SocketServerConfig) -> Self {
        Limits {
            max_connections: config.max_connections,
            per_listener: config.max_connections_per_listener.clone(),
            per_ip: config.max_connections_per_ip,
            per_ip_overrides: config.max_connections_per_ip_overrides.clone(),
            creation_rate: config.max_connection_creation_rate,
        }
    }
}

/// Counts and limits under one lock: both are read together on every accept.
#[derive(Debug, Default)]
struct State {
    limits: Limits,
    counts: Counts,
}

/// Connection counts shared by the Acceptors and Processors. Touched only when a connection
/// opens or closes, never on the request path.
#[derive(Debug)]
pub struct ConnectionQuotas {
    state: Mutex<State>,
}

impl ConnectionQuotas {
    /// Quotas from the server configuration.
    pub fn new(config: &SocketServerConfig) -> Self {
        ConnectionQuotas {
            state: Mutex::new(State {
                limits: Limits::from_config(config),
                counts: Counts::default(),
            }),
        }
    }

    /// Replaces the limits with `config`'s (`max.connections`, per listener, per IP and its
    /// overrides, creation rate), as Kafka's dynamic update of those keys. Connections over a
    /// lowered limit stay open; new ones wait or are refused until the counts are under it.
    pub fn update(&self, config: &SocketServerConfig) {
        self.lock().limits = Limits::from_config(config);
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A poisoned lock only means another thread panicked mid-update of plain counters;
        // the counts are still the best information there is.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether the broker and `listener` have room for one more connection.
    pub fn slot_available(&self, listener: &str) -> bool {
        let s = self.lock();
        has_slot(&s.limits, &s.counts, listener)
    }

    /// Counts a new connection from `ip` on `listener`, or says why it must not be kept.
    pub fn try_acquire(
        &self,
        listener: &str,
        ip: IpAddr,
        now: Instant,
    ) -> Result<(), QuotaViolation> {
        let mut s = self.lock();
        let State { limits, counts: c } = &mut *s;
        if !has_slot(limits, c, listener) {
            return Err(QuotaViolation::NoSlot);
        }
        let ip_limit = limits
            .per_ip_overrides
            .get(&ip)
            .copied()
            .unwrap_or(limits.per_ip);
        if c.per_ip.get(&ip).copied().unwrap_or(0) >= ip_limit {
            return Err(QuotaViolation::PerIp);
        }
        if let Some(rate) = limits.creation_rate {
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
        let mut s = self.lock();
        let c = &mut s.counts;
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
        self.lock().counts.total
    }

    /// Open connections from `ip`.
    pub fn count_for_ip(&self, ip: IpAddr) -> usize {
        self.lock().counts.per_ip.get(&ip).copied().unwrap_or(0)
    }
}

fn has_slot(limits: &Limits, c: &Counts, listener: &str) -> bool {
    let listener_count = c.per_listener.get(listener).copied().unwrap_or(0);
    let listener_max = limits
        .per_listener
        .get(listener)
        .copied()
        .unwrap_or(usize::MAX);
    c.total < limits.max_connections && listener_count < listener_max
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

    #[test]
    fn limits_change_live_and_open_connections_stay_counted() {
        let q = ConnectionQuotas::new(&SocketServerConfig::default());
        let now = Instant::now();
        for n in 1..=3 {
            assert!(q.try_acquire("L", ip("127.0.0.1"), now).is_ok(), "{n}");
        }
        q.update(&SocketServerConfig {
            max_connections: 2,
            ..SocketServerConfig::default()
        });
        assert!(!q.slot_available("L"));
        q.release("L", ip("127.0.0.1"));
        assert!(
            !q.slot_available("L"),
            "3 - 1 is still at the new limit of 2"
        );
        q.release("L", ip("127.0.0.1"));
        assert!(q.slot_available("L"));
        q.update(&SocketServerConfig {
            max_connections_per_ip: 1,
            ..SocketServerConfig::default()
        });
        assert_eq!(
            q.try_acquire("L", ip("127.0.0.1"), now),
            Err(QuotaViolation::PerIp)
        );
    }
}
