//! Shared helpers: a coordinator driven with simulated time, collecting what it emits.
#![allow(dead_code, unreachable_pub)]

use bytes::{BufMut, Bytes, BytesMut};
use kafka_coordinator::{
    ClientInfo, CoordinatorConfig, CoordinatorRecord, DelayedResponse, GroupCoordinator, Reply,
    ResponseToken, WriteFailure,
};
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use kafka_protocol::messages::{
    ConsumerProtocolSubscription, HeartbeatRequest, JoinGroupRequest, JoinGroupResponse,
    SyncGroupRequest, SyncGroupResponse,
};
use kafka_protocol::{Encodable, ErrorCode};

pub const SESSION: i32 = 10_000;
pub const REBALANCE: i32 = 30_000;
pub const START: u64 = 1_700_000_000_000;

/// A consumer's `ConsumerProtocolSubscription` metadata (version 1) for `topics`.
pub fn subscription(topics: &[&str]) -> Bytes {
    let mut s = ConsumerProtocolSubscription::default();
    s.topics = topics.iter().map(|t| (*t).to_owned()).collect();
    let mut buf = BytesMut::new();
    buf.put_i16(1);
    s.encode(&mut buf, 1).unwrap();
    buf.freeze()
}

pub fn protocols(list: &[(&str, Bytes)]) -> Vec<JoinGroupRequestProtocol> {
    list.iter()
        .map(|(name, meta)| {
            let mut p = JoinGroupRequestProtocol::default();
            p.name = (*name).to_owned();
            p.metadata = meta.clone();
            p
        })
        .collect()
}

pub fn range(topics: &[&str]) -> Vec<JoinGroupRequestProtocol> {
    protocols(&[("range", subscription(topics))])
}

pub fn code(e: ErrorCode) -> i16 {
    e.code()
}

pub struct Harness {
    pub coord: GroupCoordinator,
    pub now: u64,
    next_token: u64,
    pub ready: Vec<(ResponseToken, DelayedResponse)>,
    /// The records stored (appended successfully).
    pub records: Vec<CoordinatorRecord>,
    /// When set, every write fails with this append error (a full or read-only log).
    pub fail_writes: Option<ErrorCode>,
    /// The outcome of the last failed write.
    pub last_failure: Option<WriteFailure>,
}

impl Harness {
    pub fn new() -> Self {
        Self::with_config(CoordinatorConfig::default())
    }

    pub fn with_config(config: CoordinatorConfig) -> Self {
        Harness {
            coord: GroupCoordinator::new(config, START),
            now: START,
            next_token: 1,
            ready: Vec::new(),
            records: Vec::new(),
            fail_writes: None,
            last_failure: None,
        }
    }

    /// As the broker does after every call: persist the records, report the outcome, then
    /// collect the responses that are ready.
    pub fn drain(&mut self) {
        if let Some(write) = self.coord.take_records() {
            match self.fail_writes {
                None => {
                    self.records.extend(write.records().iter().cloned());
                    self.coord.write_completed(write);
                }
                Some(e) => self.last_failure = Some(self.coord.write_failed(write, e, self.now)),
            }
        }
        self.ready.extend(self.coord.take_ready());
    }

    /// Moves simulated time forward, firing timers on the way as a broker would.
    pub fn advance(&mut self, ms: u64) {
        let target = self.now + ms;
        while let Some(d) = self.coord.next_deadline() {
            if d > target {
                break;
            }
            self.now = self.now.max(d);
            self.coord.poll(self.now);
            self.drain();
        }
        self.now = target;
        self.coord.poll(self.now);
        self.drain();
    }

    pub fn token(&mut self) -> ResponseToken {
        self.next_token += 1;
        ResponseToken(self.next_token)
    }

    pub fn join_req(
        &mut self,
        version: i16,
        group: &str,
        member_id: &str,
        instance: Option<&str>,
        protos: Vec<JoinGroupRequestProtocol>,
    ) -> (ResponseToken, Reply<JoinGroupResponse>) {
        let mut req = JoinGroupRequest::default();
        req.group_id = group.to_owned();
        req.session_timeout_ms = SESSION;
        req.rebalance_timeout_ms = REBALANCE;
        req.member_id = member_id.to_owned();
        req.group_instance_id = instance.map(str::to_owned);
        req.protocol_type = "consumer".to_owned();
        req.protocols = protos;
        self.join_with(version, &req)
    }

    pub fn join_with(
        &mut self,
        version: i16,
        req: &JoinGroupRequest,
    ) -> (ResponseToken, Reply<JoinGroupResponse>) {
        let token = self.token();
        let client = ClientInfo::new("client", "/127.0.0.1");
        let reply = self
            .coord
            .join_group(self.now, token, &client, version, req);
        self.drain();
        (token, reply)
    }

    /// The two-step join of KIP-394: returns the member id and the parked token.
    pub fn join_new(&mut self, group: &str, topics: &[&str]) -> (String, ResponseToken) {
        let (_, first) = self.join_req(9, group, "", None, range(topics));
        let first = first.now().expect("MEMBER_ID_REQUIRED at once");
        assert_eq!(first.error_code, code(ErrorCode::MemberIdRequired));
        assert!(first.member_id.starts_with("client-"));
        let (token, second) = self.join_req(9, group, &first.member_id, None, range(topics));
        assert_eq!(second, Reply::Later);
        (first.member_id, token)
    }

    pub fn take_join(&mut self, token: ResponseToken) -> Option<JoinGroupResponse> {
        let pos = self.ready.iter().position(|(t, _)| *t == token)?;
        match self.ready.remove(pos).1 {
            DelayedResponse::JoinGroup(r) => Some(r),
            other => panic!("expected a JoinGroup response, got {other:?}"),
        }
    }

    pub fn take_sync(&mut self, token: ResponseToken) -> Option<SyncGroupResponse> {
        let pos = self.ready.iter().position(|(t, _)| *t == token)?;
        match self.ready.remove(pos).1 {
            DelayedResponse::SyncGroup(r) => Some(r),
            other => panic!("expected a SyncGroup response, got {other:?}"),
        }
    }

    pub fn sync(
        &mut self,
        group: &str,
        member_id: &str,
        instance: Option<&str>,
        generation: i32,
        assignments: &[(&str, &[u8])],
    ) -> (ResponseToken, Reply<SyncGroupResponse>) {
        let mut req = SyncGroupRequest::default();
        req.group_id = group.to_owned();
        req.member_id = member_id.to_owned();
        req.group_instance_id = instance.map(str::to_owned);
        req.generation_id = generation;
        req.assignments = assignments
            .iter()
            .map(|(m, a)| {
                let mut x = SyncGroupRequestAssignment::default();
                x.member_id = (*m).to_owned();
                x.assignment = Bytes::copy_from_slice(a);
                x
            })
            .collect();
        let token = self.token();
        let reply = self.coord.sync_group(self.now, token, 5, &req);
        self.drain();
        (token, reply)
    }

    pub fn heartbeat(
        &mut self,
        group: &str,
        member_id: &str,
        instance: Option<&str>,
        generation: i32,
    ) -> ErrorCode {
        let mut req = HeartbeatRequest::default();
        req.group_id = group.to_owned();
        req.member_id = member_id.to_owned();
        req.group_instance_id = instance.map(str::to_owned);
        req.generation_id = generation;
        let r = self.coord.heartbeat(self.now, 4, &req);
        self.drain();
        ErrorCode::from_code(r.error_code)
    }

    /// Two dynamic members joined and synced: (leader, follower, generation).
    pub fn stable_pair(&mut self, group: &str) -> (String, String, i32) {
        let (a, ta) = self.join_new(group, &["t"]);
        let (b, tb) = self.join_new(group, &["t"]);
        self.advance(6_000);
        let ja = self.take_join(ta).expect("join a");
        let jb = self.take_join(tb).expect("join b");
        let (leader, follower) = if ja.leader == a { (a, b) } else { (b, a) };
        let generation = ja.generation_id;
        assert_eq!(jb.generation_id, generation);
        let (tl, _) = self.sync(
            group,
            &leader,
            None,
            generation,
            &[(&leader, b"L"), (&follower, b"F")],
        );
        let (tf, rf) = self.sync(group, &follower, None, generation, &[]);
        assert_eq!(
            self.take_sync(tl).expect("leader sync").assignment.as_ref(),
            b"L"
        );
        let rf = rf
            .now()
            .or_else(|| self.take_sync(tf))
            .expect("follower sync");
        assert_eq!(rf.assignment.as_ref(), b"F");
        (leader, follower, generation)
    }
}
