#!/usr/bin/env python3
"""End-to-end test of qmp_sub.h over a socket, against examples/qmp_server.

Usage: e2e_qmp.py SERVER_BINARY

Starts the server on a socket in a temporary directory and checks, byte for
byte where QEMU's wire format is fixed, what a QMP client sees: the greeting,
negotiation, errors worded as QEMU words them, framing and resynchronization,
events for legacy sessions, subscriptions by path and by type, throttling,
isolation between sessions, cleanup on disconnect and the slow-consumer
bound. Prints "ok - <name>" per scenario; exits 1 at the first failure.
Python 3 standard library only.
"""
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time

SOCK = None            # the server's socket path
SERVER = None          # its process
CD0 = "/machine/peripheral/cd0"
EVENT_RE = (rb'^\{"timestamp": \{"seconds": \d+, "microseconds": \d+\}, '
            rb'"event": "%s", "data": %s(, "subscription": "%s")?\}\r\n$')


class Failure(Exception):
    pass


def check(cond, what, *details):
    if not cond:
        raise Failure(what + "".join("\n    " + repr(d) for d in details))


class QMP:
    """A small QMP client: replies are returned, events are collected."""

    def __init__(self, negotiate=None, rcvbuf=None):
        """negotiate: None (do not), "legacy", or "subscriptions"."""
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        if rcvbuf is not None:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.connect(SOCK)
        self.buf = b""
        self.events = []       # parsed events, in arrival order
        self.raw_events = []   # the same, as received
        self.greeting_raw = self.read_line(5.0)
        self.greeting = json.loads(self.greeting_raw)
        if negotiate == "legacy":
            check(self.cmd("qmp_capabilities") == {"return": {}}, "negotiation")
        elif negotiate == "subscriptions":
            r = self.cmd("qmp_capabilities", {"enable": ["subscriptions"]})
            check(r == {"return": {}}, "negotiation with subscriptions", r)

    def close(self):
        self.sock.close()

    def read_line(self, timeout):
        """One raw line, CRLF included; Failure after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError
            self.sock.settimeout(left)
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                raise TimeoutError
            check(data, "connection closed by the server", self.buf)
            self.buf += data
        line, self.buf = self.buf.split(b"\n", 1)
        line += b"\n"
        check(line.endswith(b"\r\n"), "line not terminated by CRLF", line)
        return line

    def next(self, timeout=5.0):
        """(message, raw bytes); events are also recorded."""
        raw = self.read_line(timeout)
        msg = json.loads(raw)
        check(isinstance(msg, dict), "message is not an object", raw)
        if "event" in msg:
            self.events.append(msg)
            self.raw_events.append(raw)
        else:
            check("return" in msg or "error" in msg, "neither reply nor event", raw)
        return msg, raw

    def send(self, obj):
        self.sock.sendall(json.dumps(obj).encode() + b"\n")

    def send_raw(self, data):
        self.sock.sendall(data)

    def reply(self, timeout=5.0, raw=False):
        """The next reply, collecting the events that come before it."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                msg, line = self.next(max(0.0, deadline - time.monotonic()))
            except TimeoutError:
                raise Failure("no reply within %.1f s" % timeout)
            if "event" not in msg:
                return (msg, line) if raw else msg

    def cmd(self, name, args=None, id=None, raw=False):
        msg = {"execute": name}
        if args is not None:
            msg["arguments"] = args
        if id is not None:
            msg["id"] = id
        self.send(msg)
        return self.reply(raw=raw)

    def ok(self, name, args=None):
        """A command that must succeed: its return value."""
        r = self.cmd(name, args)
        check("return" in r, "%s %s failed" % (name, json.dumps(args)), r)
        return r["return"]

    def collect(self, seconds):
        """Read events for `seconds`; a reply meanwhile is a failure."""
        deadline = time.monotonic() + seconds
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            try:
                msg, raw = self.next(left)
            except TimeoutError:
                return
            check("event" in msg, "unexpected reply", raw)

    def wait_event(self, pred, timeout=2.0):
        """The first collected event matching pred (waiting for it)."""
        deadline = time.monotonic() + timeout
        while True:
            for ev in self.events:
                if pred(ev):
                    return ev
            left = deadline - time.monotonic()
            check(left > 0, "expected event not received", self.events[-5:])
            try:
                msg, raw = self.next(left)
            except TimeoutError:
                continue
            check("event" in msg, "unexpected reply", raw)

    def take(self, name=None, sub=None):
        """Remove and return the collected events with that name/subscription."""
        keep, got = [], []
        for ev, raw in zip(self.events, self.raw_events):
            match = (name is None or ev["event"] == name) and \
                    (sub is None or ev.get("subscription") == sub)
            (got if match else keep).append((ev, raw))
        self.events = [e for e, _ in keep]
        self.raw_events = [r for _, r in keep]
        return got

    def clear(self):
        self.events, self.raw_events = [], []


def err(cls, desc):
    return {"error": {"class": cls, "desc": desc}}


def tray(q, open_, id="cd0"):
    check(q.cmd("blockdev-open-tray" if open_ else "blockdev-close-tray", {"id": id})
          == {"return": {}}, "tray command")


def is_tray(sub=None, id="cd0"):
    return lambda e: e["event"] == "DEVICE_TRAY_MOVED" and e["data"]["id"] == id and \
        (sub is None or e.get("subscription") == sub)


# ---------------------------------------------------------------- scenarios

def t_greeting():
    q = QMP()
    check(re.match(rb'^\{"QMP": \{"version": \{"qemu": \{"micro": \d+, "minor": \d+, '
                   rb'"major": \d+\}, "package": "[^"]*"\}, "capabilities": \[.*\]\}\}\r\n$',
                   q.greeting_raw), "greeting shape", q.greeting_raw)
    check("subscriptions" in q.greeting["QMP"]["capabilities"], "capability", q.greeting)
    r, raw = q.cmd("qmp_capabilities", raw=True)
    check(raw == b'{"return": {}}\r\n', "negotiation reply bytes", raw)
    q.close()


def t_negotiation():
    q = QMP()
    r, raw = q.cmd("query-version", raw=True)
    check(raw == b'{"error": {"class": "CommandNotFound", "desc": "Expecting capabilities '
          b'negotiation with \'qmp_capabilities\'"}}\r\n', "command before negotiation", raw)
    check(q.cmd("qmp_capabilities") == {"return": {}}, "negotiation")
    r = q.cmd("qmp_capabilities")
    check(r == err("CommandNotFound",
                   "Capabilities negotiation is already complete, command ignored"),
          "second negotiation", r)
    # id echo, of any JSON type; closing a closed tray returns {} and emits nothing
    r, raw = q.cmd("blockdev-close-tray", {"id": "cd0"}, id=5, raw=True)
    check(raw == b'{"return": {}, "id": 5}\r\n', "id echo (number)", raw)
    for ident in ["five", {"a": [1, {"b": None}], "c": "d"}, [1, 2.5, True]]:
        r = q.cmd("blockdev-close-tray", {"id": "cd0"}, id=ident)
        check(r == {"return": {}, "id": ident}, "id echo", ident, r)
    r, raw = q.cmd("nonexistent", id="x", raw=True)
    check(raw == b'{"id": "x", "error": {"class": "CommandNotFound", '
          b'"desc": "The command nonexistent has not been found"}}\r\n', "unknown command", raw)
    q.close()


def t_errors():
    q = QMP("subscriptions")
    G = "GenericError"
    cases = [
        ({"execute": "qom-list", "arguments": {}}, err(G, "Parameter 'path' is missing")),
        ({"execute": "qom-list"}, err(G, "Parameter 'path' is missing")),
        ({"execute": "qom-list", "arguments": {"path": "/machine", "extra": 1}},
         err(G, "Parameter 'extra' is unexpected")),
        ({"execute": "qom-get", "arguments": {"path": CD0, "property": 1}},
         err(G, "Invalid parameter type for 'property', expected: string")),
        ([1, 2], err(G, "QMP input must be a JSON object")),
        ({"execute": 1}, err(G, "QMP input member 'execute' must be a string")),
        ({"foo": "bar"}, err(G, "QMP input member 'foo' is unexpected")),
        ({"execute": "qom-get", "arguments": {"path": CD0, "property": "nosuch"}},
         err(G, "Property 'ide-cd.nosuch' not found")),
        ({"execute": "qom-set", "arguments": {"path": CD0, "property": "type", "value": "x"}},
         err(G, "Property 'ide-cd.type' is not writable")),
        ({"execute": "qom-list", "arguments": {"path": "/nope"}},
         err("DeviceNotFound", "Device '/nope' not found")),
        ({"execute": "blockdev-open-tray", "arguments": {"id": "nosuch"}},
         err("DeviceNotFound", "Device 'nosuch' not found")),
        ({"execute": "device_del", "arguments": {"id": "nosuch"}},
         err("DeviceNotFound", "Device 'nosuch' not found")),
        ({"execute": "device_add", "arguments": {"driver": "foo", "id": "x1"}},
         err(G, "'foo' is not a valid device model name")),
        ({"execute": "device_add", "arguments": {"driver": "ide-cd", "id": "cd0"}},
         err(G, "Duplicate ID 'cd0' for device")),
    ]
    for msg, want in cases:
        q.send(msg)
        r = q.reply()
        check(r == want, "error for %s" % json.dumps(msg), want, r)
    r = q.cmd("qom-get", {"path": CD0, "property": "tray-open"})
    check(r == {"return": False}, "qom-get tray-open", r)
    q.close()


def t_framing():
    q = QMP("subscriptions")
    q.send_raw(b'{"execute":"qom-list"')
    try:
        msg, raw = q.next(0.2)
        raise Failure("reply to an incomplete message: %r" % raw)
    except TimeoutError:
        pass
    q.send_raw(b',"arguments":{"path":"/machine/peripheral"}}')
    r = q.reply()
    items = r.get("return")
    check(isinstance(items, list) and {"name": "type", "type": "string"} in items and
          {"name": "cd0", "type": "child<ide-cd>"} in items, "split message", r)
    q.send_raw(b'{"execute":"qom-get","arguments":{"path":"%s","property":"tray-open"},"id":1}'
               b'{"execute":"query-version","id":2}\n' % CD0.encode())
    r1, r2 = q.reply(), q.reply()
    check(r1 == {"return": False, "id": 1} and r2.get("id") == 2 and "return" in r2,
          "two commands in one write", r1, r2)
    q.close()


def t_resync():
    q = QMP("subscriptions")
    oversized = b'{"execute": "qom-get", "arguments": {"path": "' + b"a" * 200000 + b'"}}\n'
    binary = bytes(b for b in range(256) if b != 0x0a) + b"\n"   # one line of binary
    for bad in [b"[" * 5000 + b"]" * 5000 + b"\n", b"\xff\xfe garbage\n", b'{"execute": }\n',
                b'{"execute": "qom-list", "arguments": {"path": "\xc3\x28"}}\n',
                oversized, binary]:
        q.send_raw(bad + b'{"execute":"query-version","id":"after"}\n')
        r1, r2 = q.reply(), q.reply()
        check("error" in r1 and r1["error"]["class"] == "GenericError" and
              r1["error"]["desc"].startswith("JSON"), "error for %r" % bad[:20], r1)
        check(r2.get("id") == "after" and "return" in r2, "reply after %r" % bad[:20], r2)
        try:
            msg, raw = q.next(0.2)
            raise Failure("extra message after %r: %r" % (bad[:20], raw))
        except TimeoutError:
            pass
    q.close()


def t_legacy():
    q = QMP("legacy")
    q.ok("blockdev-close-tray", {"id": "cd0"})
    q.clear()
    q.send({"execute": "blockdev-open-tray", "arguments": {"id": "cd0"}})
    r = q.reply()
    check(r == {"return": {}}, "open tray", r)
    got = q.take("DEVICE_TRAY_MOVED")
    check(len(got) == 1, "one DEVICE_TRAY_MOVED before the reply", got)
    check(re.match(EVENT_RE % (b"DEVICE_TRAY_MOVED",
                               rb'\{"device": "", "tray-open": true, "id": "cd0"\}', b""),
                   got[0][1]) and b"subscription" not in got[0][1], "event bytes", got[0][1])
    ev = q.wait_event(lambda e: e["event"] == "DEVICE_HEARTBEAT", 1.0)
    raw = q.raw_events[q.events.index(ev)]
    check(re.match(EVENT_RE % (b"DEVICE_HEARTBEAT", rb'\{"id": "cd\d+", "count": \d+\}', b""),
                   raw), "heartbeat bytes", raw)
    r = q.cmd("qom-subscribe", {"path": CD0, "property": "tray-moved"})
    check("error" in r and r["error"]["class"] == "GenericError" and
          "subscriptions" in r["error"]["desc"], "qom-subscribe in a legacy session", r)
    q.ok("blockdev-close-tray", {"id": "cd0"})
    q.close()


def t_subscriptions():
    s, t = QMP("subscriptions"), QMP("subscriptions")
    tray(t, True)
    tray(t, False)
    s.collect(0.3)
    check(s.events == [], "events before subscribing", s.events)
    p1 = s.ok("qom-get", {"path": CD0, "property": "tray-moved"})
    check(isinstance(p1, str) and p1.startswith("/qmp/sessions/"), "qom-get subscribes", p1)
    r = s.ok("qom-subscribe", {"path": CD0, "property": "tray-moved"})
    check(isinstance(r, dict) and list(r) == ["subscription"], "qom-subscribe", r)
    p2 = r["subscription"]
    check(p2.startswith("/qmp/sessions/") and p2 != p1, "subscription paths", p1, p2)
    tray(t, True)
    for p in (p1, p2):
        s.wait_event(is_tray(p))
    s.collect(0.2)
    got = s.take()
    check(len(got) == 2, "one event per subscription", got)
    for ev, raw in got:
        check(re.match(EVENT_RE % (b"DEVICE_TRAY_MOVED",
                                   rb'\{"device": "", "tray-open": true, "id": "cd0"\}',
                                   re.escape(ev["subscription"].encode())), raw) and
              raw.endswith(b', "subscription": "%s"}\r\n' % ev["subscription"].encode()),
              "subscribed event bytes", raw)
    names = [p["name"] for p in s.ok("qom-list", {"path": p1})]
    check("source" in names and "property" in names and "event" in names,
          "qom-list on a subscription", names)
    check(s.ok("qom-get", {"path": p1, "property": "source"}) == CD0, "source")
    subs = s.ok("query-subscriptions")
    check(sorted(x["subscription"] for x in subs) == sorted([p1, p2]), "query-subscriptions",
          subs)
    for x in subs:
        check(set(x) == {"subscription", "source", "type-wide", "property", "event",
                         "throttle-ms"} and x["source"] == CD0 and x["type-wide"] is False and
              x["property"] == "tray-moved" and x["event"] == "DEVICE_TRAY_MOVED" and
              x["throttle-ms"] == 0, "query-subscriptions entry", x)
    check(s.cmd("qom-unsubscribe", {"subscription": p1}) == {"return": {}}, "qom-unsubscribe")
    tray(t, False)
    s.wait_event(is_tray(p2))
    s.collect(0.3)
    got = s.take()
    check(len(got) == 1 and got[0][0]["subscription"] == p2, "only P2 after unsubscribe", got)
    check("error" in s.cmd("qom-get", {"path": p1, "property": "source"}), "P1 is gone")
    # another session's subscription, and a non-subscription, cannot be unsubscribed
    u = QMP("subscriptions")
    pu = u.ok("qom-subscribe", {"path": CD0, "property": "tray-moved"})["subscription"]
    for path in (pu, "/machine", "/qmp/sessions/nonexistent"):
        r = s.cmd("qom-unsubscribe", {"subscription": path})
        check("error" in r, "qom-unsubscribe of %s must fail" % path, r)
    tray(t, True)
    u.wait_event(is_tray(pu))
    tray(t, False)
    for q in (s, t, u):
        q.close()


def t_by_type():
    s, t, d = QMP("subscriptions"), QMP("legacy"), QMP("subscriptions")
    p = s.ok("qom-subscribe-type", {"typename": "ide-cd", "property": "tray-moved"})
    p = p["subscription"]
    # by the abstract parent type, for the event property it declares
    q_ = s.ok("qom-subscribe-type", {"typename": "ide-device", "property": "heartbeat"})
    q_ = q_["subscription"]
    subs = {x["subscription"]: x for x in s.ok("query-subscriptions")}
    check(subs[p]["type-wide"] is True and subs[p]["source"] == "ide-cd" and
          subs[q_]["source"] == "ide-device", "type-wide entries", subs)
    pd = d.ok("qom-subscribe", {"path": "/machine", "property": "device-deleted"})
    pd = pd["subscription"]
    t.ok("device_add", {"driver": "ide-cd", "id": "cd1"})
    r = t.cmd("device_add", {"driver": "ide-cd", "id": "cd1"})
    check(r == err("GenericError", "Duplicate ID 'cd1' for device"), "duplicate id", r)
    pc = s.ok("qom-subscribe", {"path": "/machine/peripheral/cd1", "property": "tray-moved"})
    pc = pc["subscription"]
    tray(t, True, "cd1")
    s.wait_event(is_tray(p, "cd1"))
    s.wait_event(is_tray(pc, "cd1"))
    s.wait_event(lambda e: e["event"] == "DEVICE_HEARTBEAT" and e["data"]["id"] == "cd1" and
                 e["subscription"] == q_)
    t.ok("device_del", {"id": "cd1"})
    ev = d.wait_event(lambda e: e["event"] == "DEVICE_DELETED")
    raw = d.raw_events[d.events.index(ev)]
    check(ev["data"] == {"device": "cd1", "path": "/machine/peripheral/cd1"} and
          b'"data": {"device": "cd1", "path": "/machine/peripheral/cd1"}, "subscription": "'
          in raw and ev["subscription"] == pd, "DEVICE_DELETED", raw)
    r = t.cmd("qom-list", {"path": "/machine/peripheral/cd1"})
    check(r.get("error", {}).get("class") == "DeviceNotFound", "cd1 is gone", r)
    # a path subscription ends with its source; type-wide ones stay
    left = sorted(x["subscription"] for x in s.ok("query-subscriptions"))
    check(left == sorted([p, q_]), "subscriptions after device_del", left)
    # a device added again under the same id is covered again by type
    t.ok("device_add", {"driver": "ide-cd", "id": "cd1"})
    s.clear()
    tray(t, True, "cd1")
    s.wait_event(is_tray(p, "cd1"))
    t.ok("device_del", {"id": "cd1"})
    for q in (s, t, d):
        q.close()


def t_throttle():
    """A heartbeat every 100 ms through a 500 ms window: the first at once,
    then at each window's close the latest of it (QEMU's rule, per
    subscription), so about one in five beats, each the newest."""
    s = QMP("subscriptions")
    r = s.ok("qom-subscribe", {"path": CD0, "property": "heartbeat", "throttle-ms": 500})
    p = r["subscription"]
    arrived = []
    deadline = time.monotonic() + 2.2
    while time.monotonic() < deadline:
        try:
            msg, _ = s.next(max(0.01, deadline - time.monotonic()))
        except TimeoutError:
            break
        if msg.get("event") == "DEVICE_HEARTBEAT":
            arrived.append((time.monotonic(), msg["data"]["count"]))
    got = s.take("DEVICE_HEARTBEAT", p)
    check(len(got) == len(arrived) and not s.events, "only throttled heartbeats", s.events)
    check(4 <= len(arrived) <= 6, "throttled to 500 ms: %d events in 2.2 s" % len(arrived), arrived)
    gaps = [b[0] - a[0] for a, b in zip(arrived, arrived[1:])]
    steps = [b[1] - a[1] for a, b in zip(arrived, arrived[1:])]
    # each delivery after the first is the latest beat of a 500 ms window,
    # so about five beats on from the one before (never an old one)
    check(all(g > 0.35 for g in gaps), "deliveries at least a window apart", gaps)
    check(all(3 <= k <= 7 for k in steps), "each delivery is the window's latest beat", steps)
    print("# throttle: %d heartbeats in 2.2 s at 500 ms, beats apart: %s" % (len(arrived), steps))
    s.close()


def t_many_clients():
    qs = [QMP() for _ in range(200)]   # all connected at once
    for i, q in enumerate(qs):
        q.send({"execute": "qmp_capabilities", "arguments": {"enable": ["subscriptions"]}})
        q.send({"execute": "qom-get", "arguments": {"path": CD0, "property": "type"}, "id": i})
    for i, q in enumerate(qs):
        r1, r2 = q.reply(), q.reply()
        check(r1 == {"return": {}} and r2 == {"return": "ide-cd", "id": i}, "client %d" % i,
              r1, r2)
    for q in qs:
        q.close()


def t_isolation():
    a, b, t = QMP("subscriptions"), QMP("subscriptions"), QMP("subscriptions")
    pa = a.ok("qom-subscribe", {"path": CD0, "property": "tray-moved"})["subscription"]
    a.ok("qom-subscribe", {"path": CD0, "property": "heartbeat"})
    b.ok("qom-subscribe", {"path": "/machine", "property": "device-deleted"})
    tray(t, True)
    tray(t, False)
    a.wait_event(is_tray(pa))
    a.wait_event(lambda e: e["event"] == "DEVICE_HEARTBEAT")
    b.collect(0.4)
    check(b.events == [], "B received A's events", b.events)
    for q in (a, b, t):
        q.close()


def t_disconnect():
    s, t = QMP("subscriptions"), QMP("subscriptions")
    p = s.ok("qom-subscribe", {"path": CD0, "property": "tray-moved"})["subscription"]
    p2 = s.ok("qom-subscribe-type", {"typename": "ide-cd", "property": "heartbeat"})
    p2 = p2["subscription"]
    container = p.rsplit("/", 1)[0]
    name = container.rsplit("/", 1)[1]
    names = [x["name"] for x in t.ok("qom-list", {"path": "/qmp/sessions"})]
    check(name in names, "session container listed", names)
    s.close()
    deadline = time.monotonic() + 2.0
    while name in names and time.monotonic() < deadline:
        time.sleep(0.05)
        names = [x["name"] for x in t.ok("qom-list", {"path": "/qmp/sessions"})]
    check(name not in names, "session container gone after disconnect", names)
    for path in (p, p2, container):
        r = t.cmd("qom-list", {"path": path})
        check(r == err("DeviceNotFound", "Device '%s' not found" % path), "gone: " + path, r)
    t.close()


def t_slow_consumer():
    t = QMP("subscriptions")   # no subscriptions: it receives only replies
    t.ok("blockdev-close-tray", {"id": "cd0"})
    fast = QMP("subscriptions")   # reads as it goes: must miss nothing
    fp = fast.ok("qom-subscribe", {"path": CD0, "property": "tray-moved"})["subscription"]
    slow = QMP("legacy", rcvbuf=4096)
    n, batch = 20000, 1000
    rss0, peak = server_rss_kb(), 0
    fast_got = []
    for start in range(0, n, batch):
        t.send_raw(b"".join(b'{"execute":"blockdev-%s-tray","arguments":{"id":"cd0"}}\n'
                            % (b"open" if i % 2 == 0 else b"close")
                            for i in range(start, start + batch)))
        for _ in range(batch):
            r = t.reply()
            check(r == {"return": {}}, "toggle", r)
        while len(fast_got) < start + batch:
            msg, _ = fast.next(5.0)
            check(msg.get("subscription") == fp, "fast session: only its events", msg)
            fast_got.append(msg["data"]["tray-open"])
        peak = max(peak, server_rss_kb())
    fast.events = []
    check(fast_got == [i % 2 == 0 for i in range(n)],
          "a session that reads gets every event, in order, while another stalls")
    # the stalled session's queue is bounded (1 MiB of events by default)
    check(peak - rss0 < 16384, "server memory grew by %d KiB under a stalled reader" % (peak - rss0))
    slow.send({"execute": "query-version", "id": "late"})
    r = slow.reply(timeout=10.0)
    check(r.get("id") == "late" and "return" in r, "reply to the slow session", r)
    tray(t, True)   # queued after the drop: must come after EVENTS_DROPPED
    deadline = time.monotonic() + 5.0
    while True:   # until a DEVICE_TRAY_MOVED follows an EVENTS_DROPPED
        names = [e["event"] for e in slow.events if e["event"] != "DEVICE_HEARTBEAT"]
        if "EVENTS_DROPPED" in names and names[-1] == "DEVICE_TRAY_MOVED":
            break
        check(time.monotonic() < deadline, "no EVENTS_DROPPED then event", names[-3:])
        try:
            msg, raw = slow.next(max(0.0, deadline - time.monotonic()))
        except TimeoutError:
            continue
        check("event" in msg, "unexpected reply", raw)
    seq = [e for e in slow.events if e["event"] in ("DEVICE_TRAY_MOVED", "EVENTS_DROPPED")]
    first = next(i for i, e in enumerate(seq) if e["event"] == "EVENTS_DROPPED")
    before = seq[:first]
    dropped = sum(e["data"]["count"] for e in seq if e["event"] == "EVENTS_DROPPED")
    check(set(seq[first]["data"]) == {"count"} and seq[first]["data"]["count"] > 0,
          "EVENTS_DROPPED payload", seq[first])
    check(all(e["data"]["tray-open"] == (i % 2 == 0) for i, e in enumerate(before)),
          "events before the drop are contiguous")
    check(0 < len(before) < n and len(before) + dropped >= n,
          "delivered %d + dropped %d covers %d toggles" % (len(before), dropped, n))
    check(seq[-1]["event"] == "DEVICE_TRAY_MOVED", "the last toggle arrives after the drop",
          seq[first:])
    check(slow.cmd("qom-get", {"path": CD0, "property": "tray-open"}, id=7) ==
          {"return": True, "id": 7}, "slow session still served")
    tray(t, False)
    print("# slow consumer: %d delivered, %d dropped; a reading session got all %d; "
          "server RSS +%d KiB at most" % (len(before), dropped, n, peak - rss0))
    slow.close()
    fast.close()
    t.close()


def server_rss_kb():
    with open("/proc/%d/status" % SERVER.pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def storm(n, batch=100):
    """n sessions connect, subscribe by path and by type, and vanish; a
    third of them in the middle of a message."""
    done = 0
    while done < n:
        qs = []
        for _ in range(min(batch, n - done)):
            q = QMP()
            q.send({"execute": "qmp_capabilities", "arguments": {"enable": ["subscriptions"]}})
            q.send({"execute": "qom-subscribe", "arguments": {"path": CD0, "property": "tray-moved"}})
            q.send({"execute": "qom-subscribe-type",
                    "arguments": {"typename": "ide-cd", "property": "heartbeat"}})
            qs.append(q)
        for i, q in enumerate(qs):
            if i % 3 == 0:
                q.send_raw(b'{"execute": "qom-subscribe", "arguments": {"pa')
            else:
                q.reply()
                q.reply()
                q.reply()
            q.close()
        done += len(qs)


def sessions_listed(t):
    return [x["name"] for x in t.ok("qom-list", {"path": "/qmp/sessions"})
            if x["type"].startswith("child<")]


def t_disconnect_storm():
    t = QMP("subscriptions")
    mine = t.ok("qom-subscribe", {"path": CD0, "property": "tray-moved"})["subscription"]
    mine = mine.split("/")[3]
    storm(1000)
    rss1 = server_rss_kb()
    storm(1000)
    deadline = time.monotonic() + 5.0
    names = sessions_listed(t)
    while names != [mine] and time.monotonic() < deadline:
        time.sleep(0.05)
        names = sessions_listed(t)
    check(names == [mine], "sessions left after 2000 vanished", names[:10], len(names))
    subs = t.ok("query-subscriptions")
    check(len(subs) == 1, "own subscriptions intact", subs)
    rss2 = server_rss_kb()
    # the second storm must not grow the server: nothing it made was kept
    check(rss2 - rss1 < 4096, "server memory grew by %d KiB over 1000 sessions" % (rss2 - rss1))
    print("# disconnect storm: 2000 sessions, server RSS %d KiB after the first 1000, "
          "%d KiB after the second" % (rss1, rss2))
    t.close()


def t_fanout():
    n, toggles = 200, 20
    t = QMP("legacy")
    tray(t, False)   # a known state: each toggle below moves the tray
    qs = [QMP("subscriptions") for _ in range(n)]
    paths = [q.ok("qom-subscribe", {"path": CD0, "property": "tray-moved"})["subscription"]
             for q in qs]
    for i in range(toggles):
        tray(t, i % 2 == 0)
    for q, p in zip(qs, paths):
        got = [e for e in q.events if e["event"] == "DEVICE_TRAY_MOVED"]
        deadline = time.monotonic() + 5.0
        while len(got) < toggles and time.monotonic() < deadline:
            msg, _ = q.next(max(0.01, deadline - time.monotonic()))
            if msg.get("event") == "DEVICE_TRAY_MOVED":
                got.append(msg)
        check(len(got) == toggles, "each of %d sessions gets each event once" % n, len(got))
        check(all(e.get("subscription") == p for e in got), "own subscription member")
        check([e["data"]["tray-open"] for e in got] == [i % 2 == 0 for i in range(toggles)],
              "in order, none twice")
    time.sleep(0.2)
    for q in qs:   # and no copy arrives late
        before = len([e for e in q.events if e["event"] == "DEVICE_TRAY_MOVED"])
        q.collect(0.001)
        after = len([e for e in q.events if e["event"] == "DEVICE_TRAY_MOVED"])
        check(after == before, "an event delivered twice", before, after)
    for q in qs + [t]:
        q.close()


SCENARIOS = [
    ("greeting", t_greeting),
    ("negotiation and id echo", t_negotiation),
    ("QEMU's error texts", t_errors),
    ("split and joined input", t_framing),
    ("resynchronization after malformed input", t_resync),
    ("legacy session", t_legacy),
    ("subscriptions by path", t_subscriptions),
    ("subscriptions by type, device_add/device_del", t_by_type),
    ("throttle", t_throttle),
    ("isolation", t_isolation),
    ("disconnect drops subscriptions", t_disconnect),
    ("200 clients at once", t_many_clients),
    ("slow consumer", t_slow_consumer),
    ("200 subscribed sessions: each event exactly once", t_fanout),
    ("disconnect storm: 2000 sessions vanish", t_disconnect_storm),
]


def main():
    global SOCK, SERVER
    if len(sys.argv) != 2:
        sys.exit("usage: e2e_qmp.py SERVER_BINARY")
    tmp = tempfile.mkdtemp(prefix="e2e_qmp.")
    SOCK = os.path.join(tmp, "qmp.sock")
    log = open(os.path.join(tmp, "server.log"), "w+")
    server = subprocess.Popen([sys.argv[1], "--socket", SOCK], stdout=log, stderr=log)
    SERVER = server

    def on_alarm(sig, frame):
        raise Failure("took too long (60 s)")
    signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(60)
    name, rc = "start", 0
    try:
        deadline = time.monotonic() + 5.0
        while True:   # the file appears at bind(), connections work after listen()
            check(server.poll() is None, "server exited with %s" % server.returncode)
            check(time.monotonic() < deadline, "no socket after 5 s")
            probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                probe.connect(SOCK)
                break
            except OSError:
                time.sleep(0.02)
            finally:
                probe.close()
        for name, fn in SCENARIOS:
            t0 = time.monotonic()
            fn()
            print("ok - %s (%.2f s)" % (name, time.monotonic() - t0))
            check(server.poll() is None, "server died: rc %s" % server.returncode)
        name = "clean exit on SIGTERM"
        server.send_signal(signal.SIGTERM)
        check(server.wait(5) == 0, "server exit status %s" % server.returncode)
        print("ok - " + name)
    except Failure as e:
        print("not ok - %s: %s" % (name, e))
        rc = 1
    except Exception as e:   # a protocol surprise: still a failure with details
        print("not ok - %s: %s: %s" % (name, type(e).__name__, e))
        rc = 1
    finally:
        signal.alarm(0)
        if server.poll() is None:
            server.kill()
            server.wait()
        log.seek(0)
        text = log.read()
        if text:   # sanitizer reports, the server's own log
            print("# server log:\n# " + text.replace("\n", "\n# "))
        log.close()
    sys.exit(rc)


if __name__ == "__main__":
    main()
