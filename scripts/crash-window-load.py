# Paced load against /v1/chat/completions: logs "<answered unix ms> <trace id>" for every 200 answer as it arrives.
import http.client, json, sys, threading, time
port, rate, seconds, out = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
key = "ks_demo_0123456789abcdefghijklmnop"
body = json.dumps({"model": "fast", "max_tokens": 16, "messages": [{"role": "user", "content": "Crash window probe"}]})
lock = threading.Lock(); f = open(out, "w", buffering=1)
stop = time.time() + seconds; threads = 40; per = rate / threads
def worker(i):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=5); nxt = time.time() + i / rate
    while time.time() < stop:
        now = time.time()
        if now < nxt: time.sleep(nxt - now)
        nxt += 1 / per
        try:
            c.request("POST", "/v1/chat/completions", body, {"Authorization": "Bearer " + key, "Content-Type": "application/json"})
            r = c.getresponse(); r.read()
            if r.status == 200:
                with lock: f.write("%d %s\n" % (int(time.time() * 1000), r.getheader("X-Keystone-Trace-Id")))
        except Exception:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
ts = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
[t.start() for t in ts]; [t.join() for t in ts]
