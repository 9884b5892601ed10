//! Alarms (etcd's `alarmStore`): which member raised which alarm. Every change is a raft entry applied on every
//! member, stored in the v3 backend in the same batch, so alarms survive restarts and travel in snapshots. While
//! an alarm is active, the apply loop refuses what etcd's alarm appliers refuse: with CORRUPT every write (read-only
//! transactions still answer), with NOSPACE every request that adds data (puts, transactions with a put, lease
//! grants); deletes and compactions go on, so space can be won back.
//!
//! # Record format (version 1), table `alarm` of the v3 backend
//! key: the member ID as 8 big-endian bytes, then the alarm type as 4 big-endian bytes; value: `1` (format).

use std::collections::BTreeSet;

use etcd_proto::etcdrs::internal_raft_request::Request as Kind;
use etcd_proto::etcdserverpb::alarm_request::AlarmAction;
use etcd_proto::etcdserverpb::request_op::Request as Op;
use etcd_proto::etcdserverpb::{AlarmMember, AlarmRequest, AlarmResponse, AlarmType, TxnRequest};

use crate::v3::V3Error;

/// The backend table alarms live in (etcd's bucket name).
pub(crate) const ALARM_TABLE: &str = "alarm";
const RECORD_FORMAT: u8 = 1;

/// The active alarms, as (member ID, alarm type).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Alarms(BTreeSet<(u64, i32)>);

fn key(member: u64, alarm: i32) -> [u8; 12] {
    let mut key = [0u8; 12];
    key[..8].copy_from_slice(&member.to_be_bytes());
    key[8..].copy_from_slice(&alarm.to_be_bytes());
    key
}

impl Alarms {
    /// The alarms stored in `store`.
    pub(crate) fn load(store: &etcd_mvcc::Store) -> Result<Self, String> {
        let mut alarms = BTreeSet::new();
        for (k, v) in store.aux_entries(ALARM_TABLE).map_err(|e| e.to_string())? {
            let (Ok(member), Ok(alarm), Some(&RECORD_FORMAT)) = (
                <[u8; 8]>::try_from(k.get(..8).unwrap_or_default()),
                <[u8; 4]>::try_from(k.get(8..).unwrap_or_default()),
                v.first(),
            ) else {
                return Err(format!("alarm record {k:02x?} does not decode"));
            };
            alarms.insert((u64::from_be_bytes(member), i32::from_be_bytes(alarm)));
        }
        Ok(Self(alarms))
    }

    fn has(&self, alarm: AlarmType) -> bool {
        self.0.iter().any(|(_, a)| *a == alarm as i32)
    }

    /// The active alarms of type `filter` (NONE: all).
    pub(crate) fn get(&self, filter: i32) -> Vec<AlarmMember> {
        self.0
            .iter()
            .filter(|(_, a)| filter == AlarmType::None as i32 || *a == filter)
            .map(|&(member_id, alarm)| AlarmMember { member_id, alarm })
            .collect()
    }

    /// The alarms as `Status` lists them among its errors (etcd's text form of an alarm, trailing space included).
    pub(crate) fn errors(&self) -> Vec<String> {
        self.0
            .iter()
            .map(|&(member, alarm)| {
                let name = AlarmType::try_from(alarm).map_or("NONE", |a| a.as_str_name());
                format!("memberID:{member} alarm:{name} ")
            })
            .collect()
    }

    /// What an active alarm refuses of `request`, if anything.
    pub(crate) fn refusal(&self, request: &Kind) -> Option<V3Error> {
        if self.has(AlarmType::Corrupt) {
            let writes = match request {
                Kind::Put(_)
                | Kind::DeleteRange(_)
                | Kind::Compaction(_)
                | Kind::LeaseGrant(_)
                | Kind::LeaseRevoke(_)
                | Kind::LeaseExpire(_) => true,
                Kind::Txn(txn) => !read_only(txn),
                _ => false,
            };
            return writes.then_some(V3Error::Corrupt);
        }
        if self.has(AlarmType::Nospace) {
            let adds = match request {
                Kind::Put(_) | Kind::LeaseGrant(_) => true,
                Kind::Txn(txn) => puts(txn),
                _ => false,
            };
            return adds.then_some(V3Error::NoSpace);
        }
        None
    }
}

fn ops(txn: &TxnRequest) -> impl Iterator<Item = &Op> {
    txn.success
        .iter()
        .chain(&txn.failure)
        .filter_map(|op| op.request.as_ref())
}

fn read_only(txn: &TxnRequest) -> bool {
    ops(txn).all(|op| match op {
        Op::RequestRange(_) => true,
        Op::RequestTxn(inner) => read_only(inner),
        _ => false,
    })
}

fn puts(txn: &TxnRequest) -> bool {
    ops(txn).any(|op| match op {
        Op::RequestPut(_) => true,
        Op::RequestTxn(inner) => puts(inner),
        _ => false,
    })
}

/// Applies an `Alarm` request: GET lists, ACTIVATE answers the alarm (new or not), DEACTIVATE answers it if it
/// was active. The header is the caller's.
pub(crate) fn apply(
    alarms: &mut Alarms,
    batch: &mut etcd_mvcc::WriteBatch<'_>,
    req: &AlarmRequest,
) -> etcd_mvcc::Result<AlarmResponse> {
    let member = AlarmMember {
        member_id: req.member_id,
        alarm: req.alarm,
    };
    let alarms_answered = match AlarmAction::try_from(req.action) {
        Ok(AlarmAction::Get) => alarms.get(req.alarm),
        Ok(AlarmAction::Activate) if req.alarm != AlarmType::None as i32 => {
            if alarms.0.insert((req.member_id, req.alarm)) {
                batch.put_aux(
                    ALARM_TABLE,
                    &key(req.member_id, req.alarm),
                    &[RECORD_FORMAT],
                )?;
            }
            vec![member]
        }
        Ok(AlarmAction::Deactivate) if alarms.0.remove(&(req.member_id, req.alarm)) => {
            batch.delete_aux(ALARM_TABLE, &key(req.member_id, req.alarm))?;
            vec![member]
        }
        _ => Vec::new(),
    };
    Ok(AlarmResponse {
        header: None,
        alarms: alarms_answered,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use etcd_proto::etcdserverpb::{PutRequest, RangeRequest, RequestOp};

    fn txn(ops: Vec<Op>) -> Kind {
        Kind::Txn(TxnRequest {
            success: ops
                .into_iter()
                .map(|r| RequestOp { request: Some(r) })
                .collect(),
            ..TxnRequest::default()
        })
    }

    #[test]
    fn alarms_refuse_what_etcds_alarm_appliers_refuse() {
        let mut alarms = Alarms::default();
        let put = Kind::Put(PutRequest::default());
        let read = txn(vec![Op::RequestRange(RangeRequest::default())]);
        let nested_put = txn(vec![Op::RequestTxn(
            match txn(vec![Op::RequestPut(PutRequest::default())]) {
                Kind::Txn(t) => t,
                _ => TxnRequest::default(),
            },
        )]);
        assert_eq!(alarms.refusal(&put), None);
        alarms.0.insert((7, AlarmType::Nospace as i32));
        assert_eq!(alarms.refusal(&put), Some(V3Error::NoSpace));
        assert_eq!(alarms.refusal(&nested_put), Some(V3Error::NoSpace));
        assert_eq!(alarms.refusal(&read), None);
        alarms.0.insert((7, AlarmType::Corrupt as i32));
        assert_eq!(alarms.refusal(&put), Some(V3Error::Corrupt));
        assert_eq!(alarms.refusal(&read), None);
        assert_eq!(
            alarms.errors(),
            vec![
                "memberID:7 alarm:NOSPACE ".to_owned(),
                "memberID:7 alarm:CORRUPT ".to_owned()
            ]
        );
    }
}
