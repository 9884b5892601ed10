//! `--namespace`: every key the proxy's KV, Watch and Lease clients use is under a prefix, as etcd's proxy
//! does with its client's namespace wrappers. Requests get the prefix in front of their keys and ranges; answers
//! lose it. A range end of `"\0"` (every key from the start on) becomes the end of the namespace. Lock,
//! Election and the other services are forwarded as they are, as in etcd.

use etcd_proto::etcdserverpb::request_op::Request as Op;
use etcd_proto::etcdserverpb::response_op::Response as Answer;
use etcd_proto::etcdserverpb::{
    Compare, DeleteRangeRequest, DeleteRangeResponse, PutRequest, PutResponse, RangeRequest,
    RangeResponse, TxnRequest, TxnResponse,
};
use etcd_proto::mvccpb::KeyValue;

/// A key prefix; the empty one changes nothing.
#[derive(Debug, Clone, Default)]
pub(crate) struct Namespace(Vec<u8>);

impl Namespace {
    pub(crate) fn new(prefix: &str) -> Namespace {
        Namespace(prefix.as_bytes().to_vec())
    }

    pub(crate) fn key(&self, key: &[u8]) -> Vec<u8> {
        [self.0.as_slice(), key].concat()
    }

    /// A key and range end inside the namespace.
    pub(crate) fn range(&self, key: &[u8], end: &[u8]) -> (Vec<u8>, Vec<u8>) {
        let key = self.key(key);
        let end = match end {
            [] => Vec::new(),
            [0] => prefix_end(&self.0),
            end => self.key(end),
        };
        (key, end)
    }

    /// `key` without the namespace.
    pub(crate) fn strip(&self, key: &mut Vec<u8>) {
        if key.starts_with(&self.0) {
            key.drain(..self.0.len());
        }
    }

    pub(crate) fn strip_kv(&self, kv: &mut KeyValue) {
        self.strip(&mut kv.key);
    }

    pub(crate) fn range_request(&self, r: &mut RangeRequest) {
        (r.key, r.range_end) = self.range(&r.key, &r.range_end);
    }

    pub(crate) fn range_response(&self, r: &mut RangeResponse) {
        r.kvs.iter_mut().for_each(|kv| self.strip_kv(kv));
    }

    pub(crate) fn put_request(&self, r: &mut PutRequest) {
        r.key = self.key(&r.key);
    }

    pub(crate) fn put_response(&self, r: &mut PutResponse) {
        if let Some(kv) = &mut r.prev_kv {
            self.strip_kv(kv);
        }
    }

    pub(crate) fn delete_request(&self, r: &mut DeleteRangeRequest) {
        (r.key, r.range_end) = self.range(&r.key, &r.range_end);
    }

    pub(crate) fn delete_response(&self, r: &mut DeleteRangeResponse) {
        r.prev_kvs.iter_mut().for_each(|kv| self.strip_kv(kv));
    }

    fn compare(&self, c: &mut Compare) {
        (c.key, c.range_end) = self.range(&c.key, &c.range_end);
    }

    pub(crate) fn txn_request(&self, r: &mut TxnRequest) {
        r.compare.iter_mut().for_each(|c| self.compare(c));
        for op in r.success.iter_mut().chain(r.failure.iter_mut()) {
            match &mut op.request {
                Some(Op::RequestRange(r)) => self.range_request(r),
                Some(Op::RequestPut(r)) => self.put_request(r),
                Some(Op::RequestDeleteRange(r)) => self.delete_request(r),
                Some(Op::RequestTxn(r)) => self.txn_request(r),
                None => {}
            }
        }
    }

    pub(crate) fn txn_response(&self, r: &mut TxnResponse) {
        for answer in &mut r.responses {
            match &mut answer.response {
                Some(Answer::ResponseRange(r)) => self.range_response(r),
                Some(Answer::ResponsePut(r)) => self.put_response(r),
                Some(Answer::ResponseDeleteRange(r)) => self.delete_response(r),
                Some(Answer::ResponseTxn(r)) => self.txn_response(r),
                None => {}
            }
        }
    }

    /// A lease's keys as a client of the namespace sees them: those in it, without the prefix.
    pub(crate) fn lease_keys(&self, keys: &mut Vec<Vec<u8>>) {
        keys.retain(|k| k.starts_with(&self.0));
        keys.iter_mut().for_each(|k| self.strip(k));
    }
}

/// The first key after every key that starts with `prefix` (`"\0"`, every key, when there is none).
pub(crate) fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    vec![0]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_stay_inside_the_namespace() {
        let ns = Namespace::new("app/");
        assert_eq!(ns.range(b"a", b""), (b"app/a".to_vec(), Vec::new()));
        assert_eq!(ns.range(b"a", b"b"), (b"app/a".to_vec(), b"app/b".to_vec()));
        assert_eq!(ns.range(b"", b"\0"), (b"app/".to_vec(), b"app0".to_vec()));
        assert_eq!(prefix_end(b"a\xff"), b"b".to_vec());
        assert_eq!(prefix_end(b"\xff\xff"), vec![0]);
        let mut key = b"app/x".to_vec();
        ns.strip(&mut key);
        assert_eq!(key, b"x");
        let mut keys = vec![b"app/x".to_vec(), b"other".to_vec()];
        ns.lease_keys(&mut keys);
        assert_eq!(keys, vec![b"x".to_vec()]);
    }
}
