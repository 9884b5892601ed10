# Records real etcd responses for the store conformance table. Start a fresh single-member etcd 3.4.23 with
# --enable-v2 --listen-client-urls http://127.0.0.1:23792 (and matching peer flags), then:
#   python3 record_keys_scenario.py > etcd-3.4.23-keys-scenario.json
import json, urllib.request, urllib.parse, sys
BASE="http://127.0.0.1:23792"
steps = [
 ("PUT","/message",{"value":"Hello world"}),
 ("PUT","/message",{"value":"Hello etcd"}),
 ("GET","/message",{}),
 ("DELETE","/message",{}),
 ("PUT","/foo",{"prevExist":"false","value":"bar"}),
 ("PUT","/foo",{"prevExist":"false","value":"x"}),
 ("PUT","/foo",{"prevExist":"true","value":"baz"}),
 ("PUT","/foo",{"prevExist":"true"}),
 ("PUT","/foo",{"prevValue":"","value":"baz"}),
 ("PUT","/foo",{"prevValue":"baz","value":"two"}),
 ("PUT","/foo",{"prevValue":"zz","prevIndex":"1","value":"x"}),
 ("PUT","/foo",{"prevIndex":"1","value":"x"}),
 ("PUT","/foo",{"prevValue":"zz","value":"x"}),
 ("DELETE","/foo",{"prevValue":"nope"}),
 ("DELETE","/foo",{"prevValue":"two"}),
 ("POST","/queue",{"value":"Job1"}),
 ("POST","/queue",{"dir":"true"}),
 ("POST","/queue",{"value":"Job3"}),
 ("GET","/queue",{"recursive":"true","sorted":"true"}),
 ("PUT","/dir",{"dir":"true"}),
 ("PUT","/dir/a/b",{"value":"x"}),
 ("GET","/dir/a/b/c",{}),
 ("PUT","/dir/a/b/c",{"value":"y"}),
 ("PUT","/dir/a/b/c",{"prevExist":"false","value":"y"}),
 ("POST","/dir/a/b",{"value":"y"}),
 ("PUT","/dir",{"value":"x"}),
 ("PUT","/dir",{"dir":"true"}),
 ("DELETE","/dir",{}),
 ("DELETE","/dir",{"dir":"true"}),
 ("PUT","/dir/_hidden",{"value":"h"}),
 ("PUT","/dir/_hdir/inner",{"value":"i"}),
 ("GET","/dir",{"recursive":"true","sorted":"true"}),
 ("GET","/dir",{"sorted":"true"}),
 ("GET","/dir/_hidden",{}),
 ("GET","/dir/_hdir",{"recursive":"true"}),
 ("DELETE","/dir/a",{"recursive":"true"}),
 ("PUT","/k1",{"value":"v1"}),
 ("PUT","/k1",{"dir":"true"}),
 ("PUT","/k1",{"prevExist":"true","dir":"true"}),
 ("PUT","/k1",{"prevExist":"true","value":"v"}),
 ("DELETE","/k1",{"prevValue":"x"}),
 ("PUT","/k1",{"prevValue":"x","value":"y"}),
 ("GET","/",{"sorted":"true"}),
 ("DELETE","/",{"recursive":"true"}),
 ("PUT","/",{"value":"x"}),
 ("PUT","/",{"prevExist":"true","value":"x"}),
 ("PUT","/",{"prevValue":"a","value":"x"}),
 ("PUT","/",{"prevExist":"false","value":"x"}),
 ("POST","/",{"value":"atroot"}),
 ("GET","/nope",{}),
 ("GET","/nope/deeper",{}),
 ("PUT","/nope",{"prevExist":"true","value":"x"}),
 ("DELETE","/nope",{"prevValue":"a"}),
 ("DELETE","/nope",{}),
 ("PUT","/esc",{"value":"a<b>&\"c\\\u2028\u0001\t"}),
 ("GET","/esc",{}),
 ("DELETE","/esc",{"dir":"true"}),
 ("PUT","/empty",{"value":""}),
 ("PUT","/emptydir",{"dir":"true"}),
 ("GET","/emptydir",{"recursive":"true"}),
 ("DELETE","/emptydir",{"dir":"true"}),
]
out=[]
for m,k,p in steps:
    data=None; url=BASE+"/v2/keys"+k
    if m in ("PUT","POST"):
        data=urllib.parse.urlencode(p).encode()
    elif p:
        url+="?"+urllib.parse.urlencode(p)
    req=urllib.request.Request(url,data=data,method=m)
    if data is not None: req.add_header("Content-Type","application/x-www-form-urlencoded")
    try:
        r=urllib.request.urlopen(req); status=r.status; body=r.read().decode()
    except urllib.error.HTTPError as e:
        status=e.code; body=e.read().decode()
    out.append((m,k,p,status,body.rstrip("\n")))
st=json.loads(urllib.request.urlopen(BASE+"/v2/stats/store").read())
w=sys.stdout.write
w('{"recorded_with":"etcd 3.4.23 --enable-v2, fresh single-member cluster, tests/data/record_keys_scenario.py",\n"steps":[\n')
w(',\n'.join(json.dumps({"method":m,"key":k,"params":p,"status":s,"body":b}, ensure_ascii=False) for m,k,p,s,b in out))
w('\n],\n"stats":'+json.dumps(st)+'}\n')
