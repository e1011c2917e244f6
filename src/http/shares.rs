//! Shares of a bounded resource, counted in total and per client, so that one client cannot
//! take what the others need: connections held open, bytes of bodies being received.
//!
//! Owns: the count (total and per client) and the guard that gives a share back when dropped.
//! A client is an IPv4 address or an IPv6 /64 (one host usually holds a whole /64), with
//! IPv4-mapped IPv6 addresses counted as their IPv4 address.
//! Must not: wait. A share is granted at once or refused; what to answer is the caller's.
//!
//! Written here rather than taken from a crate: tower's `ConcurrencyLimit` and `governor`
//! bound requests or rates, not a resource held per client address; this is one map and a
//! mutex.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

/// Who a share is counted against: an IPv4 address, or the first 64 bits of an IPv6 one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Client {
    V4(u32),
    V6Prefix64(u64),
}

impl Client {
    pub fn of(ip: IpAddr) -> Self {
        match ip {
            IpAddr::V4(v4) => Self::V4(v4.into()),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => Self::V4(v4.into()),
                None => Self::V6Prefix64((u128::from(v6) >> 64) as u64),
            },
        }
    }
}

/// A resource of `total` units of which one client may hold at most `per_client`.
#[derive(Debug)]
pub struct Shares {
    total: usize,
    per_client: usize,
    held: Mutex<Held>,
}

#[derive(Debug, Default)]
struct Held {
    total: usize,
    by_client: HashMap<Client, usize>,
}

/// Units held by one client; given back when dropped.
#[derive(Debug)]
pub struct Share {
    shares: Arc<Shares>,
    client: Client,
    units: usize,
}

impl Shares {
    pub fn new(total: usize, per_client: usize) -> Arc<Self> {
        Arc::new(Self {
            total,
            per_client: per_client.min(total),
            held: Mutex::default(),
        })
    }

    pub fn total(&self) -> usize {
        self.total
    }

    pub fn per_client(&self) -> usize {
        self.per_client
    }

    /// A share of no units yet for `client`, to [`Share::grow`] as it needs more.
    pub fn empty(self: &Arc<Self>, client: Client) -> Share {
        Share {
            shares: self.clone(),
            client,
            units: 0,
        }
    }

    /// `units` for `client`, or `None` if that would pass the client's or the total limit.
    pub fn take(self: &Arc<Self>, client: Client, units: usize) -> Option<Share> {
        let mut share = self.empty(client);
        share.grow(units).then_some(share)
    }

    /// Units held now, in total and by `client`.
    pub fn held(&self, client: Client) -> (usize, usize) {
        let held = self.held.lock().expect("shares lock");
        (
            held.total,
            held.by_client.get(&client).copied().unwrap_or(0),
        )
    }
}

impl Share {
    /// Takes `more` units for the same client; false (and nothing taken) if over a limit.
    pub fn grow(&mut self, more: usize) -> bool {
        let shares = &self.shares;
        let mut held = shares.held.lock().expect("shares lock");
        let mine = held.by_client.get(&self.client).copied().unwrap_or(0);
        if held.total + more > shares.total || mine + more > shares.per_client {
            return false;
        }
        held.total += more;
        held.by_client.insert(self.client, mine + more);
        self.units += more;
        true
    }

    pub fn units(&self) -> usize {
        self.units
    }
}

impl Drop for Share {
    fn drop(&mut self) {
        if self.units == 0 {
            return;
        }
        let mut held = self.shares.held.lock().expect("shares lock");
        held.total -= self.units;
        match held.by_client.get_mut(&self.client) {
            Some(mine) if *mine > self.units => *mine -= self.units,
            _ => {
                held.by_client.remove(&self.client);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> Client {
        Client::of(text.parse().unwrap())
    }

    #[test]
    fn a_client_holds_at_most_its_share_and_the_total_is_kept() {
        let shares = Shares::new(10, 4);
        let a = shares.take(ip("10.0.0.1"), 4).expect("within the share");
        assert!(shares.take(ip("10.0.0.1"), 1).is_none(), "over a's share");
        let mut b = shares.take(ip("10.0.0.2"), 3).unwrap();
        assert!(!b.grow(2), "over b's share");
        assert!(b.grow(1));
        let c = shares.take(ip("10.0.0.3"), 2).unwrap();
        assert!(
            shares.take(ip("10.0.0.4"), 1).is_none(),
            "the total is spent"
        );
        drop(a);
        assert_eq!(shares.held(ip("10.0.0.1")), (6, 0));
        assert!(shares.take(ip("10.0.0.4"), 4).is_some());
        drop((b, c));
        assert_eq!(shares.held(ip("10.0.0.2")), (0, 0));
    }

    #[test]
    fn an_ipv6_host_is_its_64_and_a_mapped_ipv4_address_is_itself() {
        assert_eq!(ip("2001:db8:1:2::1"), ip("2001:db8:1:2:ffff::9"));
        assert_ne!(ip("2001:db8:1:2::1"), ip("2001:db8:1:3::1"));
        assert_eq!(ip("::ffff:192.0.2.7"), ip("192.0.2.7"));
    }
}
