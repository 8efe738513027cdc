//! In-process clusters of `RaftNode`s over a simulated network: messages pass in a loop,
//! links can be cut and healed, nodes stopped and restarted from their directories.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod util;

use std::collections::{BTreeMap, HashSet, VecDeque};

use bytes::Bytes;
use kafka_raft::{Error, Outbound, Proposed, RaftConfig, RaftNode, Role};
use util::TempDir;

/// The state machine each node applies to: the applied payloads in order.
#[derive(Debug, Default, Clone, PartialEq)]
struct Applied {
    index: u64,
    /// (index, term, payload).
    entries: Vec<(u64, u64, String)>,
    restores: u32,
}

impl Applied {
    fn encode(&self) -> Bytes {
        let mut s = String::new();
        for (i, t, p) in &self.entries {
            s.push_str(&format!("{i} {t} {p}\n"));
        }
        Bytes::from(s)
    }

    fn restore(&mut self, index: u64, data: &[u8]) {
        self.entries = std::str::from_utf8(data)
            .unwrap()
            .lines()
            .map(|l| {
                let mut it = l.splitn(3, ' ');
                (
                    it.next().unwrap().parse().unwrap(),
                    it.next().unwrap().parse().unwrap(),
                    it.next().unwrap().to_string(),
                )
            })
            .collect();
        self.index = index;
        self.restores += 1;
    }

    fn payloads(&self) -> Vec<&str> {
        self.entries.iter().map(|(_, _, p)| p.as_str()).collect()
    }
}

struct Sim {
    ids: Vec<u64>,
    dir: TempDir,
    nodes: BTreeMap<u64, Option<RaftNode>>,
    sms: BTreeMap<u64, Applied>,
    cut: HashSet<(u64, u64)>,
    queue: VecDeque<(u64, Outbound)>,
    /// Percent of messages lost at random (deterministic xorshift).
    loss: u64,
    rng: u64,
}

impl Sim {
    fn new(name: &str, n: u64) -> Sim {
        let ids: Vec<u64> = (1..=n).collect();
        let dir = TempDir::new(name);
        let mut sim = Sim {
            ids: ids.clone(),
            dir,
            nodes: BTreeMap::new(),
            sms: BTreeMap::new(),
            cut: HashSet::new(),
            queue: VecDeque::new(),
            loss: 0,
            rng: 0x9e37_79b9_7f4a_7c15,
        };
        for id in ids {
            sim.start(id);
        }
        sim
    }

    fn start(&mut self, id: u64) {
        let cfg = RaftConfig::new(id, self.ids.clone(), self.dir.node(id));
        let node = RaftNode::open(cfg).unwrap();
        // The state machine lives in memory: a restart rebuilds it from the node's output.
        self.sms.insert(id, Applied::default());
        self.nodes.insert(id, Some(node));
    }

    fn stop(&mut self, id: u64) {
        self.nodes.insert(id, None);
        self.queue.retain(|(from, m)| *from != id && m.to != id);
    }

    fn node(&mut self, id: u64) -> &mut RaftNode {
        self.nodes.get_mut(&id).unwrap().as_mut().unwrap()
    }

    fn up(&self) -> Vec<u64> {
        self.nodes
            .iter()
            .filter(|(_, n)| n.is_some())
            .map(|(id, _)| *id)
            .collect()
    }

    /// Cuts every link between the two sides.
    fn partition(&mut self, a: &[u64], b: &[u64]) {
        for x in a {
            for y in b {
                self.cut.insert((*x, *y));
                self.cut.insert((*y, *x));
            }
        }
    }

    fn heal(&mut self) {
        self.cut.clear();
    }

    /// Collects every node's ready output, applies it, and delivers messages until quiet.
    fn settle(&mut self) {
        for _ in 0..10_000 {
            for id in self.up() {
                let out = self.node(id).handle_ready().unwrap();
                let sm = self.sms.get_mut(&id).unwrap();
                if let Some(s) = &out.restore {
                    sm.restore(s.index, &s.data);
                }
                for c in &out.committed {
                    assert!(c.index > sm.index, "node {id} applied {} twice", c.index);
                    sm.entries
                        .push((c.index, c.term, String::from_utf8(c.data.to_vec()).unwrap()));
                    sm.index = c.index;
                }
                sm.index = sm.index.max(out.applied);
                for m in out.messages {
                    self.queue.push_back((id, m));
                }
            }
            let Some((from, m)) = self.queue.pop_front() else {
                return;
            };
            self.rng ^= self.rng << 13;
            self.rng ^= self.rng >> 7;
            self.rng ^= self.rng << 17;
            let lost = self.rng % 100 < self.loss;
            let delivered = !lost
                && !self.cut.contains(&(from, m.to))
                && self.nodes.get(&m.to).is_some_and(Option::is_some);
            if delivered {
                // Peers' messages that raft refuses (stale) are not errors of the harness.
                let _ = self.node(m.to).step(&m.data);
            } else if self.nodes.get(&from).is_some_and(Option::is_some) {
                self.node(from).report_unreachable(m.to).unwrap();
            }
            if m.snapshot && self.nodes.get(&from).is_some_and(Option::is_some) {
                self.node(from).report_snapshot(m.to, delivered).unwrap();
            }
        }
        panic!("the cluster never went quiet");
    }

    fn tick(&mut self) {
        for id in self.up() {
            self.node(id).tick().unwrap();
        }
        self.settle();
    }

    /// Ticks until `cond` holds, at most `max` ticks.
    fn run_until(&mut self, max: u32, mut cond: impl FnMut(&mut Sim) -> bool) {
        for _ in 0..max {
            self.settle();
            if cond(self) {
                return;
            }
            self.tick();
        }
        panic!("condition not reached in {max} ticks");
    }

    /// The one leader among `among` that all of `among` agree on, once elected.
    fn wait_leader(&mut self, among: &[u64]) -> u64 {
        let among = among.to_vec();
        let mut leader = 0;
        self.run_until(200, |s| {
            let leaders: Vec<u64> = among
                .iter()
                .filter(|id| s.node(**id).role() == Role::Leader)
                .copied()
                .collect();
            if leaders.len() != 1 {
                return false;
            }
            let l = leaders[0];
            let term = s.node(l).term();
            if among
                .iter()
                .all(|id| s.node(*id).leader() == Some(l) && s.node(*id).term() == term)
            {
                leader = l;
                true
            } else {
                false
            }
        });
        leader
    }

    fn propose(&mut self, id: u64, payload: &str) -> Result<Proposed, Error> {
        let r = self.node(id).propose(Bytes::from(payload.to_string()));
        self.settle();
        r
    }

    fn payloads(&self, id: u64) -> Vec<&str> {
        self.sms[&id].payloads()
    }
}

fn cluster_elects_and_commits(n: u64) {
    let mut sim = Sim::new(&format!("elect{n}"), n);
    let all = sim.ids.clone();
    let leader = sim.wait_leader(&all);
    for i in 0..10 {
        let p = sim.propose(leader, &format!("p{i}")).unwrap();
        assert_eq!(p.term, sim.node(leader).term());
    }
    let follower = *all.iter().find(|id| **id != leader).unwrap();
    assert!(matches!(
        sim.propose(follower, "nope"),
        Err(Error::NotLeader { leader: Some(l) }) if l == leader
    ));
    assert!(matches!(sim.propose(leader, ""), Err(Error::EmptyProposal)));
    sim.run_until(20, |s| all.iter().all(|id| s.payloads(*id).len() == 10));
    let expected: Vec<String> = (0..10).map(|i| format!("p{i}")).collect();
    for id in &all {
        assert_eq!(sim.payloads(*id), expected, "node {id}");
    }
    // DescribeQuorum's view from the leader: everyone matched up to the commit index.
    let status = sim.node(leader).status();
    assert_eq!(status.leader, Some(leader));
    assert_eq!(status.voters.len(), n as usize);
    for v in &status.voters {
        assert_eq!(v.match_index, Some(status.commit_index), "voter {}", v.id);
        assert!(
            v.ticks_since_contact.is_some_and(|t| t <= 2),
            "voter {}",
            v.id
        );
    }
}

#[test]
fn three_nodes_elect_a_leader_and_commit_on_all() {
    cluster_elects_and_commits(3);
}

#[test]
fn five_nodes_elect_a_leader_and_commit_on_all() {
    cluster_elects_and_commits(5);
}

#[test]
fn a_minority_cannot_commit_and_its_leader_steps_down_after_healing() {
    let mut sim = Sim::new("partition", 5);
    let all = sim.ids.clone();
    let old = sim.wait_leader(&all);
    sim.propose(old, "before").unwrap();
    sim.run_until(10, |s| all.iter().all(|id| s.payloads(*id) == ["before"]));

    let buddy = *all.iter().find(|id| **id != old).unwrap();
    let minority = vec![old, buddy];
    let majority: Vec<u64> = all
        .iter()
        .filter(|id| !minority.contains(id))
        .copied()
        .collect();
    sim.partition(&minority, &majority);
    // Still leader for now: it accepts the proposal, but it can never commit.
    let lost = sim.propose(old, "minority").unwrap();
    let new = sim.wait_leader(&majority);
    assert_ne!(new, old);
    for i in 0..3 {
        sim.propose(new, &format!("majority{i}")).unwrap();
    }
    sim.run_until(30, |s| {
        majority.iter().all(|id| s.payloads(*id).len() == 4) && s.node(old).role() != Role::Leader
    });
    for id in &minority {
        assert_eq!(
            sim.payloads(*id),
            ["before"],
            "node {id} applied in the minority"
        );
    }
    // The deposed leader refuses proposals (check-quorum made it step down).
    assert!(matches!(
        sim.propose(old, "x"),
        Err(Error::NotLeader { .. })
    ));

    sim.heal();
    sim.run_until(100, |s| {
        all.iter()
            .all(|id| s.node(*id).leader() == Some(new) && s.payloads(*id).len() == 4)
    });
    let expected = ["before", "majority0", "majority1", "majority2"];
    for id in &all {
        assert_eq!(sim.payloads(*id), expected, "node {id}");
    }
    // The minority's entry was replaced: its index now holds another term's entry.
    let at = sim.sms[&old]
        .entries
        .iter()
        .find(|(i, _, _)| *i >= lost.index)
        .unwrap();
    assert_ne!((at.0, at.1), (lost.index, lost.term));
}

#[test]
fn a_restarted_node_recovers_from_disk_and_catches_up() {
    let mut sim = Sim::new("restart", 3);
    let all = sim.ids.clone();
    let leader = sim.wait_leader(&all);
    sim.propose(leader, "a").unwrap();
    sim.run_until(10, |s| all.iter().all(|id| s.payloads(*id) == ["a"]));
    let f = *all.iter().find(|id| **id != leader).unwrap();
    let term_before = sim.node(f).term();
    sim.stop(f);
    for p in ["b", "c", "d"] {
        sim.propose(leader, p).unwrap();
    }
    sim.start(f);
    assert!(sim.node(f).term() >= term_before);
    sim.run_until(50, |s| s.payloads(f).len() == 4);
    assert_eq!(sim.payloads(f), ["a", "b", "c", "d"]);

    // The whole cluster restarts: every node rebuilds its state from its own disk.
    let term = sim.node(leader).term();
    for id in &all {
        sim.stop(*id);
    }
    for id in &all {
        sim.start(*id);
    }
    sim.settle();
    for id in &all {
        assert_eq!(
            sim.payloads(*id),
            ["a", "b", "c", "d"],
            "node {id} after restart"
        );
        assert!(sim.node(*id).term() >= term);
    }
    let leader = sim.wait_leader(&all);
    sim.propose(leader, "e").unwrap();
    sim.run_until(10, |s| all.iter().all(|id| s.payloads(*id).len() == 5));
}

#[test]
fn a_node_behind_a_compacted_log_catches_up_through_a_snapshot() {
    let mut sim = Sim::new("snapshot", 3);
    let all = sim.ids.clone();
    let leader = sim.wait_leader(&all);
    let f = *all.iter().find(|id| **id != leader).unwrap();
    sim.stop(f);
    for i in 0..20 {
        sim.propose(leader, &format!("s{i}")).unwrap();
    }
    let others: Vec<u64> = all.iter().filter(|id| **id != f).copied().collect();
    sim.run_until(10, |s| others.iter().all(|id| s.payloads(*id).len() == 20));
    for id in &others {
        let applied = sim.sms[id].index;
        let data = sim.sms[id].encode();
        sim.node(*id).snapshot(applied, data).unwrap();
        assert_eq!(sim.node(*id).snapshot_index(), applied);
        // Snapshots only cover what was applied.
        assert!(sim.node(*id).snapshot(applied + 5, Bytes::new()).is_err());
    }
    sim.start(f);
    sim.run_until(100, |s| s.payloads(f).len() == 20);
    assert_eq!(sim.sms[&f].restores, 1, "caught up without a snapshot");
    assert_eq!(sim.payloads(f), sim.payloads(leader));
    sim.propose(leader, "after").unwrap();
    sim.run_until(10, |s| s.payloads(f).len() == 21);

    // A restart of the leader restores its own snapshot, then replays the rest.
    sim.stop(leader);
    sim.start(leader);
    sim.settle();
    assert_eq!(sim.sms[&leader].restores, 1);
    assert_eq!(sim.payloads(leader).len(), 21);
}

#[test]
fn leadership_transfers_on_request() {
    let mut sim = Sim::new("transfer", 3);
    let all = sim.ids.clone();
    let old = sim.wait_leader(&all);
    sim.propose(old, "x").unwrap();
    sim.run_until(10, |s| all.iter().all(|id| s.payloads(*id).len() == 1));
    let to = *all.iter().find(|id| **id != old).unwrap();
    sim.node(old).transfer_leader(to).unwrap();
    sim.settle();
    let new = sim.wait_leader(&all);
    assert_eq!(new, to);
    sim.propose(new, "y").unwrap();
    sim.run_until(10, |s| all.iter().all(|id| s.payloads(*id) == ["x", "y"]));
}

#[test]
fn hostile_messages_are_refused_without_panics() {
    let mut sim = Sim::new("hostile", 3);
    let all = sim.ids.clone();
    let leader = sim.wait_leader(&all);
    for n in 0..200u32 {
        let junk: Vec<u8> = (0..(n % 50)).map(|i| (i * 31 + n) as u8).collect();
        let _ = sim.node(leader).step(&junk);
    }
    assert!(!sim.node(leader).is_poisoned());
    sim.propose(leader, "still fine").unwrap();
    sim.run_until(10, |s| all.iter().all(|id| s.payloads(*id).len() == 1));
}

#[test]
fn a_lossy_network_still_converges() {
    let mut sim = Sim::new("lossy", 5);
    sim.loss = 20;
    let all = sim.ids.clone();
    let mut committed = Vec::new();
    let mut attempts = 0;
    while committed.len() < 20 {
        attempts += 1;
        assert!(
            attempts < 2_000,
            "only {} proposals committed",
            committed.len()
        );
        let leader = sim.wait_leader(&all);
        let payload = format!("l{}", committed.len());
        if sim.propose(leader, &payload).is_ok() {
            // Whether it commits depends on the losses; wait a little and look.
            for _ in 0..5 {
                sim.tick();
            }
            if sim.payloads(leader).contains(&payload.as_str()) {
                committed.push(payload);
            }
        }
    }
    sim.loss = 0;
    sim.run_until(100, |s| {
        let first = s.payloads(all[0]).to_vec();
        all.iter().all(|id| s.payloads(*id) == first) && first.len() >= 20
    });
    // Every node applied the same sequence, containing each proposal seen committed.
    let log: Vec<String> = sim.payloads(all[0]).iter().map(|p| p.to_string()).collect();
    for p in &committed {
        assert!(log.contains(p), "{p} committed but not applied");
    }
}
