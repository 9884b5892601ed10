# KV, Txn, Watch, Lease and Lock with PyPI's etcd3gw 2.7 (OpenStack's client of the JSON gateway: no gRPC);
# run by tests/tests/v3_client_libraries.rs against etcd-node (and etcd 3.5.1, to keep this script honest).
import sys
import threading
import etcd3gw

c = etcd3gw.client(host="127.0.0.1", port=int(sys.argv[1]), timeout=30)
# The API path is chosen from /version: etcd 3.4 and later answer on /v3/.
assert c.api_path == "/v3/", c.api_path

assert c.put("gw/a", "1")
assert c.get("gw/a") == [b"1"], c.get("gw/a")
assert c.get("gw/missing") == []
assert c.create("gw/b", "2")
assert not c.create("gw/b", "again")
assert c.replace("gw/b", "2", "3")
assert not c.replace("gw/b", "2", "4")
values = [(v, m["key"], m["version"]) for v, m in c.get_prefix("gw/")]
assert values == [(b"1", b"gw/a", "1"), (b"3", b"gw/b", "2")], values
assert [v for v, _ in c.get_prefix("gw/", sort_order="descend", sort_target="key")] == [b"3", b"1"]

# A watch opened first sees what follows, in order.
events, cancel = c.watch_prefix("gw/")
seen = []
done = threading.Event()


def collect():
    for e in events:
        seen.append((e.get("type", "PUT"), e["kv"]["key"], e["kv"].get("value")))
        if len(seen) == 3:
            break
    done.set()


t = threading.Thread(target=collect, daemon=True)
t.start()
# The watch is created asynchronously: wait until it is there by writing until an event comes back.
c.put("gw/c", "5")
assert c.delete("gw/c")
assert not c.delete("gw/c")
c.put("gw/a", "6")
assert done.wait(20), seen
cancel()
assert seen == [("PUT", b"gw/c", b"5"), ("DELETE", b"gw/c", None), ("PUT", b"gw/a", b"6")], seen

# A watch from an earlier revision replays the history.
first = c.get("gw/a", metadata=True)[0][1]["mod_revision"]
once = c.watch_once("gw/a", timeout=10, start_revision=int(first))
assert once["kv"]["value"] == b"6", once

# Leases: grant, attach, time to live, keep alive, keys, revoke.
lease = c.lease(ttl=60)
assert lease.id > 0
assert c.put("gw/leased", "x", lease=lease)
assert 0 < lease.ttl() <= 60, lease.ttl()
assert lease.refresh() == 60
assert lease.keys() == [b"gw/leased"], lease.keys()
assert lease.revoke()
assert c.get("gw/leased") == []
assert lease.ttl() == -1

# Transactions as the gateway takes them.
r = c.transaction({
    "compare": [{"key": "Z3cvYQ==", "result": "EQUAL", "target": "VALUE", "value": "Ng=="}],
    "success": [{"request_range": {"key": "Z3cvYQ=="}}],
    "failure": [],
})
assert r["succeeded"] is True, r

# Locks (a lease and a transaction on a key).
lock = c.lock("gw-lock", ttl=30)
assert lock.acquire()
assert lock.is_acquired()
other = c.lock("gw-lock", ttl=30)
assert not other.acquire()
assert lock.release()
assert other.acquire()
assert other.release()

assert c.delete_prefix("gw/")
assert c.get_prefix("gw/") == []
status = c.status()
assert "version" in status and "leader" in status, status
assert len(c.members()) == 1
print("ok")
