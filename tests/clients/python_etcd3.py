# KV, Txn and Watch with PyPI's etcd3 0.12 (a gRPC client from outside Go); run by tests/tests/v3_client_libraries.rs.
import sys
import etcd3
c = etcd3.client(host="127.0.0.1", port=int(sys.argv[1]))
c.put("py/a", "1")
v, meta = c.get("py/a")
assert v == b"1", v
events, cancel = c.watch_prefix("py/")
ok, _ = c.transaction(compare=[c.transactions.value("py/a") == "1"], success=[c.transactions.put("py/b", "2")], failure=[])
assert ok
ok, _ = c.transaction(compare=[c.transactions.value("py/a") == "nope"], success=[], failure=[c.transactions.put("py/a", "3")])
assert not ok
c.delete("py/b")
seen = []
for e in events:
    seen.append((e.key, e.value, type(e).__name__))
    if len(seen) == 3:
        break
cancel()
assert seen == [(b"py/b", b"2", "PutEvent"), (b"py/a", b"3", "PutEvent"), (b"py/b", b"", "DeleteEvent")], seen
assert [(v, m.key) for v, m in c.get_prefix("py/")] == [(b"3", b"py/a")]
print("ok")
