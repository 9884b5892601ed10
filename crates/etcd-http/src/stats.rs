//! `/v2/stats/store`, `/v2/stats/self` and `/v2/stats/leader` as etcd writes them: field order, Go's float and
//! duration formats, followers keyed by hex ID in Go's (string) order, rates left out when there are none.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use etcd_api::v2::json::{format_time, write_float, write_string};
use etcd_api::v2::{FollowerView, LeaderStats, SelfStats, StoreStats, TrafficRate};

/// `/v2/stats/store`.
pub(crate) fn store_json(stats: &StoreStats) -> String {
    let mut out = String::with_capacity(400);
    out.push('{');
    for (i, (name, value)) in stats.fields().iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let _ = write!(out, "\"{name}\":{value}");
    }
    out.push('}');
    out
}

/// `/v2/stats/self`.
pub(crate) fn self_json(stats: &SelfStats) -> String {
    let mut out = String::with_capacity(400);
    out.push_str(r#"{"name":"#);
    write_string(&mut out, &stats.name);
    let _ = write!(
        out,
        r#","id":"{:x}","state":"{}","startTime":"{}","leaderInfo":{{"leader":"{:x}","uptime":"{}","startTime":"{}"}},"recvAppendRequestCnt":{}"#,
        stats.id,
        stats.role.etcd_name(),
        format_time(stats.start_time),
        stats.leader,
        go_duration(stats.leader_uptime),
        format_time(stats.leader_start_time),
        stats.received_appends,
    );
    write_rate(&mut out, "recv", stats.receive_rate);
    let _ = write!(out, r#","sendAppendRequestCnt":{}"#, stats.sent_appends);
    write_rate(&mut out, "send", stats.send_rate);
    out.push('}');
    out
}

/// etcd's `{recv,send}PkgRate` and `{recv,send}BandwidthRate`, left out when there is no rate.
fn write_rate(out: &mut String, direction: &str, rate: Option<TrafficRate>) {
    if let Some(rate) = rate {
        let _ = write!(out, r#","{direction}PkgRate":"#);
        write_float(out, rate.packets);
        let _ = write!(out, r#","{direction}BandwidthRate":"#);
        write_float(out, rate.bytes);
    }
}

/// `/v2/stats/leader`: latencies in milliseconds.
pub(crate) fn leader_json(stats: &LeaderStats) -> String {
    let by_name: BTreeMap<String, &FollowerView> = stats
        .followers
        .iter()
        .map(|(id, f)| (format!("{id:x}"), f))
        .collect();
    let mut out = format!(r#"{{"leader":"{:x}","followers":{{"#, stats.leader);
    for (i, (name, f)) in by_name.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let _ = write!(out, r#""{name}":{{"latency":{{"current":"#);
        write_float(&mut out, f.latency_current);
        out.push_str(r#","average":"#);
        write_float(&mut out, f.latency_average);
        out.push_str(r#","standardDeviation":"#);
        write_float(&mut out, f.latency_standard_deviation);
        out.push_str(r#","minimum":"#);
        write_float(&mut out, f.latency_minimum);
        out.push_str(r#","maximum":"#);
        write_float(&mut out, f.latency_maximum);
        let _ = write!(
            out,
            r#"}},"counts":{{"fail":{},"success":{}}}}}"#,
            f.fail, f.success
        );
    }
    out.push_str("}}");
    out
}

/// A duration as Go prints one: `2m15.020207355s`.
fn go_duration(d: Duration) -> String {
    let total = d.as_secs();
    let (h, m, s) = (total / 3600, total % 3600 / 60, total % 60);
    let nanos = d.subsec_nanos();
    let secs = if nanos == 0 {
        format!("{s}s")
    } else {
        let frac = format!("{nanos:09}");
        format!("{s}.{}s", frac.trim_end_matches('0'))
    };
    match (h, m) {
        (0, 0) => secs,
        (0, m) => format!("{m}m{secs}"),
        (h, m) => format!("{h}h{m}m{secs}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_print_like_go() {
        assert_eq!(
            go_duration(Duration::new(135, 20_207_355)),
            "2m15.020207355s"
        );
        assert_eq!(go_duration(Duration::from_secs(3)), "3s");
        assert_eq!(go_duration(Duration::new(3725, 500_000_000)), "1h2m5.5s");
    }

    #[test]
    fn self_stats_leave_out_missing_rates() {
        let stats = SelfStats {
            name: "m\"1".into(),
            id: 0xab,
            role: etcd_api::v2::RaftRole::Leader,
            leader: 0xab,
            received_appends: 3,
            send_rate: Some(TrafficRate {
                packets: 2.5,
                bytes: 100.0,
            }),
            sent_appends: 7,
            ..SelfStats::default()
        };
        let json = self_json(&stats);
        assert!(json.starts_with(r#"{"name":"m\"1","id":"ab","state":"StateLeader","#));
        assert!(json.contains(r#""recvAppendRequestCnt":3,"sendAppendRequestCnt":7,"sendPkgRate":2.5,"sendBandwidthRate":100}"#), "{json}");
        assert!(!json.contains("recvPkgRate"));
    }

    #[test]
    fn followers_in_go_string_order() {
        let mut stats = LeaderStats {
            leader: 1,
            ..LeaderStats::default()
        };
        stats.followers.insert(0x10, FollowerView::default());
        stats.followers.insert(0x9, FollowerView::default());
        let json = leader_json(&stats);
        let (ten, nine) = (json.find(r#""10":"#), json.find(r#""9":"#));
        assert!(ten < nine, "{json}");
        assert!(
            json.starts_with(r#"{"leader":"1","followers":{"10":{"latency":{"current":0,"#),
            "{json}"
        );
    }
}
