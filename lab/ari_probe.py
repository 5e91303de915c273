#!/usr/bin/env python3
"""lab/ari_probe.py - tiny stdlib-only ARI event watcher for checking the lab by hand.

Registers a Stasis app over the ARI WebSocket and prints one line per event
(type, channel name, args / digit). Channels that enter the app are answered
(unless --no-answer) and, if --hangup-after is given, hung up after N seconds.

  python3 lab/ari_probe.py --app hotline-gw --seconds 10
  python3 lab/ari_probe.py --originate PJSIP/agent1001 --seconds 8   # DTMF test

Lab only: hotline-gw itself is the real ARI client.
"""
import argparse, base64, json, os, socket, struct, sys, threading, time, urllib.parse, urllib.request

p = argparse.ArgumentParser()
p.add_argument("--host", default="127.0.0.1")
p.add_argument("--port", type=int, default=8088)
p.add_argument("--user", default="hotline")
p.add_argument("--password", default="hotline-lab")
p.add_argument("--app", default="hotline-gw")
p.add_argument("--seconds", type=float, default=10)
p.add_argument("--originate", help="endpoint to originate into the app, e.g. PJSIP/agent1001")
p.add_argument("--no-answer", action="store_true")
p.add_argument("--hangup-after", type=float, default=0)
p.add_argument("--timeout", type=int, default=30, help="originate ring timeout (s)")
a = p.parse_args()
auth = base64.b64encode(f"{a.user}:{a.password}".encode()).decode()


def rest(method, path):
    req = urllib.request.Request(f"http://{a.host}:{a.port}/ari{path}", method=method,
                                 headers={"Authorization": "Basic " + auth})
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


s = socket.create_connection((a.host, a.port), timeout=a.seconds + 5)
key = base64.b64encode(os.urandom(16)).decode()
s.sendall((f"GET /ari/events?app={a.app}&subscribeAll=false HTTP/1.1\r\nHost: {a.host}\r\n"
           f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
           f"Sec-WebSocket-Version: 13\r\nAuthorization: Basic {auth}\r\n\r\n").encode())
buf = b""
while b"\r\n\r\n" not in buf:
    buf += s.recv(4096)
head, buf = buf.split(b"\r\n\r\n", 1)
if b" 101 " not in head.split(b"\r\n")[0]:
    sys.exit("websocket upgrade failed: " + head.decode(errors="replace"))
print(f"registered app {a.app}", flush=True)


def read_exact(n):
    global buf
    while len(buf) < n:
        chunk = s.recv(65536)
        if not chunk:
            raise EOFError
        buf += chunk
    out, buf = buf[:n], buf[n:]
    return out


if a.originate:
    threading.Timer(0.3, lambda: print("originate ->", rest(
        "POST", "/channels?" + urllib.parse.urlencode(
            {"endpoint": a.originate, "app": a.app, "appArgs": "probe", "timeout": a.timeout})), flush=True)).start()

deadline = time.time() + a.seconds
s.settimeout(0.5)
while time.time() < deadline:
    try:
        b1, b2 = read_exact(2)
    except socket.timeout:
        continue
    except EOFError:
        break
    n = b2 & 0x7F
    if n == 126:
        n = struct.unpack(">H", read_exact(2))[0]
    elif n == 127:
        n = struct.unpack(">Q", read_exact(8))[0]
    data = read_exact(n)
    if b1 & 0x0F != 1:
        continue
    ev = json.loads(data)
    ch = ev.get("channel", {})
    extra = ev.get("args") if ev["type"] == "StasisStart" else ev.get("digit", "")
    if ev["type"] == "ChannelDestroyed":
        extra = f"cause={ev.get('cause')} {ev.get('cause_txt', '')}"
    print(ev["type"], ch.get("name", ""), ch.get("dialplan", {}).get("context", ""),
          extra if extra is not None else "", flush=True)
    if ev["type"] == "StasisStart" and not a.no_answer:
        rest("POST", f"/channels/{ch['id']}/answer")
        if a.hangup_after:
            threading.Timer(a.hangup_after, rest, ("DELETE", f"/channels/{ch['id']}")).start()
s.close()
