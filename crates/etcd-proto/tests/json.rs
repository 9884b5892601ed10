//! proto3's JSON mapping as etcd's gateway writes and reads it (answers taken from etcd 3.5.1's gateway).
#![cfg(feature = "json")]

use etcd_proto::etcdserverpb::{
    RangeRequest, RangeResponse, ResponseHeader, range_request::SortOrder,
};
use etcd_proto::mvccpb::KeyValue;

#[test]
fn responses_are_written_as_etcds_gateway_writes_them() {
    let response = RangeResponse {
        header: Some(ResponseHeader {
            cluster_id: 14841639068965178418,
            member_id: 10276657743932975437,
            revision: 2,
            raft_term: 2,
        }),
        kvs: vec![KeyValue {
            key: b"foo".to_vec(),
            create_revision: 2,
            mod_revision: 2,
            version: 1,
            value: b"bar".to_vec(),
            lease: 0,
        }],
        more: false,
        count: 1,
    };
    assert_eq!(
        serde_json::to_string(&response).expect("json"),
        r#"{"header":{"cluster_id":"14841639068965178418","member_id":"10276657743932975437","revision":"2","raft_term":"2"},"kvs":[{"key":"Zm9v","create_revision":"2","mod_revision":"2","version":"1","value":"YmFy"}],"count":"1"}"#
    );
}

#[test]
fn requests_are_read_with_either_field_name_and_enums_by_name_or_number() {
    let request: RangeRequest = serde_json::from_str(
        r#"{"key":"Zm9v","range_end":"Zm9w","limit":"10","sortOrder":"DESCEND","unknown":1}"#,
    )
    .expect("json");
    assert_eq!(request.key, b"foo");
    assert_eq!(request.range_end, b"fop");
    assert_eq!(request.limit, 10);
    assert_eq!(request.sort_order, SortOrder::Descend as i32);
}
