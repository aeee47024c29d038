#!/usr/bin/python3
"""test_forward.py - cross-room forwarding between two airmixd on loopback.

Daemon 1 holds room studioA with a 1 kHz tone on its programme (a tone node
on the publish bus); daemon 2 holds rooms studioB and studioC. Forwarding
studioA to studioB (a token made here for studioB and the same user id):
daemon 2 sees the user joined and publishing in studioB, and a take of its
publish bus holds the tone at 1 kHz +- 1 %. Pause: the user leaves studioB;
resume: back. Update adds studioC, then drops studioB. Each
ForwardStreamError is reached: INVALID_ARGUMENT (5 targets, a bad id),
REMOTE_KICKED (the source room as target; the admin of daemon 2 kicks the
forwarded user), INVALID_TOKEN (a token signed with another key),
RESPONSE (nobody listens), NOT_SUPPORT (a token without publish privilege;
a daemon with forward_enabled = false), the UnExpectAPICall event (pause and
update before start); stop -> Idle. Every one is found in
GET /api/v1/history?domain=forward_stream. airmixctl forward get/list too.
"""
import base64
import hashlib
import hmac
import os
import random
import struct
import subprocess
import sys
import time
import wave

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from airmixd import Airmixd, BIN, check, finish, free_port  # noqa: E402

APP_ID = "123456781234567812345678"
APP_KEY = "studio app key"


def conf(port_min, enabled=True):
    return """[rtc]
app_id = %s
app_key = %s
forward_enabled = %s
forward_backoff_max_ms = 1000
forward_timeout_ms = 3000
[rtp]
port_min = %d
port_max = %d
[recorder]
warn_free_mb = 0
min_free_mb = 1
""" % (APP_ID, APP_KEY, "true" if enabled else "false", port_min, port_min + 99)


def make_token(room, user, pub=True, key=APP_KEY):
    """A Volcengine AccessToken, from the format description."""
    privs = {4: 0}
    if pub:
        privs.update({0: 0, 1: 0, 2: 0, 3: 0})

    def s16(b):
        return struct.pack("<H", len(b)) + b
    msg = struct.pack("<III", random.getrandbits(32), int(time.time()), 0)
    msg += s16(room.encode()) + s16(user.encode()) + struct.pack("<H", len(privs))
    msg += b"".join(struct.pack("<HI", k, privs[k]) for k in sorted(privs))
    sig = hmac.new(key.encode(), msg, hashlib.sha256).digest()
    return "001" + APP_ID + base64.b64encode(s16(msg) + s16(sig)).decode()


def wait_for(fn, seconds):
    """Polls fn() until it is truthy or the time is up; returns its last value."""
    end = time.monotonic() + seconds
    v = fn()
    while not v and time.monotonic() < end:
        time.sleep(0.1)
        v = fn()
    return v


def target_list(d, room):
    st, body, _ = d.request("GET", "/api/v1/rooms/%s/forward" % room)
    return body.get("targets", []) if st == 200 else []


def targets(d, room):
    return {t["room"]: t for t in target_list(d, room)}


def target_is(d, room, target, state, error=0, url=None):
    for t in target_list(d, room):
        if t["room"] == target and (url is None or t["url"] == url) and t["state"] == state \
                and t["error"] == error:
            return t
    return None


def member(d, room, user):
    st, body, _ = d.request("GET", "/api/v1/rooms/%s" % room)
    for u in body.get("users", []) if st == 200 else []:
        if u.get("user") == user:
            return u
    return None


def publishing(d, room, user):
    u = member(d, room, user)
    return u if u and u.get("publishing") and u.get("stats", {}).get("packets", 0) > 50 else None


def history(d):
    st, body, _ = d.request("GET", "/api/v1/history?domain=forward_stream&limit=1000")
    return body.get("rows", []) if st == 200 else []


def has_row(d, name, subject=None):
    return any(r.get("name") == name and (subject is None or r.get("subject") == subject)
               for r in history(d))


def err_name(body):
    return body.get("error", {}).get("name") if isinstance(body, dict) else None


def frequency(path):
    """The strongest frequency of the left channel over the last second of the
    take (Hann window, parabolic interpolation between FFT bins) and the peak
    level."""
    with wave.open(path, "rb") as w:
        ch, rate = w.getnchannels(), w.getframerate()
        data = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
    left = data[::ch][-rate:].astype(np.float64) / 32768.0
    if len(left) < rate // 2:
        return 0.0, 0.0
    mag = np.abs(np.fft.rfft(left * np.hanning(len(left))))
    k = int(np.argmax(mag[1:-1])) + 1
    a, b, c = np.log(mag[k - 1:k + 2] + 1e-12)
    shift = 0.5 * (a - c) / (a - 2 * b + c) if a - 2 * b + c else 0.0
    return (k + shift) * rate / len(left), float(np.max(np.abs(left)))


def record(d, seconds):
    st, take, _ = d.request("POST", "/api/v1/recordings", {
        "tracks": ["publish"], "format": "wav", "bits": 16, "name": "fwd-{track}"})
    tid = take.get("id", 0) if isinstance(take, dict) else 0
    if st != 201:
        return None
    time.sleep(seconds)
    st, done, _ = d.request("POST", "/api/v1/recordings/%d/stop" % tid)
    files = done.get("files", []) if st == 200 else []
    return files[0].get("path") if files else None


def ctl(d, *args):
    env = {k: v for k, v in os.environ.items() if k != "AIRMIX_CACERT"}
    p = subprocess.run([os.path.join(BIN, "airmixctl"), "--url", d.url] + list(args),
                       capture_output=True, text=True, timeout=20, env=env)
    return p.returncode, p.stdout + p.stderr


def run(d1, d2):
    url2 = "ws://127.0.0.1:%d/rtc" % d2.port
    for d, room in ((d1, "studioA"), (d1, "studioA2"), (d2, "studioB"), (d2, "studioC")):
        st, body, _ = d.request("POST", "/api/v1/rooms", {"room": room})
        check("room %s created" % room, st == 201, (st, body))
    st, node, _ = d1.request("POST", "/api/v1/graph/nodes", {
        "kind": "tone", "name": "tone1k", "frequency_hz": 1000, "level_dbfs": -12,
        "buses": ["publish"]})
    check("a 1 kHz tone on daemon 1's programme", st == 201, (st, node))

    # UnExpectAPICall: verbs before start
    st, body, _ = d1.request("POST", "/api/v1/rooms/studioA/forward/pause")
    check("pause before start: 409 UNEXPECTED_INVOKE_FORWARD_STREAM",
          st == 409 and err_name(body) == "UNEXPECTED_INVOKE_FORWARD_STREAM", (st, body))
    st, body, _ = d1.request("PUT", "/api/v1/rooms/studioA/forward", {
        "targets": [{"room": "studioB", "token": "x"}]})
    check("update before start: 409", st == 409, (st, body))

    # start: studioA -> studioB on daemon 2
    tok_b = make_token("studioB", "fwd1")
    t0 = time.monotonic()
    st, body, _ = d1.request("POST", "/api/v1/rooms/studioA/forward", {
        "user": "fwd1", "targets": [{"room": "studioB", "token": tok_b, "url": url2}]})
    check("start: 201", st == 201 and body.get("user") == "fwd1", (st, body))
    t = wait_for(lambda: target_is(d1, "studioA", "studioB", 1), 10)
    check("studioB: state Success (%.2f s)" % (time.monotonic() - t0), t, targets(d1, "studioA"))
    u = wait_for(lambda: publishing(d2, "studioB", "fwd1"), 10)
    check("daemon 2: fwd1 publishes in studioB, packets arrive", u,
          member(d2, "studioB", "fwd1"))
    path = record(d2, 2.0)
    freq, level = frequency(path) if path else (0.0, 0.0)
    check("daemon 2's publish bus holds the tone at %.2f Hz (level %.3f)" % (freq, level),
          abs(freq - 1000.0) <= 10.0 and level > 0.05, path)
    rc, out = ctl(d1, "forward", "get", "studioA")
    check("airmixctl forward get shows studioB Success",
          rc == 0 and "studioB" in out and "Success" in out, out)

    # pause / resume
    st, body, _ = d1.request("POST", "/api/v1/rooms/studioA/forward/pause")
    check("pause: 200, paused", st == 200 and body.get("paused") is True, (st, body))
    gone = wait_for(lambda: member(d2, "studioB", "fwd1") is None, 10)
    check("paused: fwd1 left studioB on daemon 2", gone, member(d2, "studioB", "fwd1"))
    st, body, _ = d1.request("POST", "/api/v1/rooms/studioA/forward/resume")
    check("resume: 200", st == 200 and body.get("paused") is False, (st, body))
    check("resumed: fwd1 publishes in studioB again",
          wait_for(lambda: publishing(d2, "studioB", "fwd1"), 10), member(d2, "studioB", "fwd1"))

    # update: add studioC, then drop studioB
    tok_c = make_token("studioC", "fwd1")
    both = [{"room": "studioB", "token": tok_b, "url": url2},
            {"room": "studioC", "token": tok_c, "url": url2}]
    st, body, _ = d1.request("PUT", "/api/v1/rooms/studioA/forward", {"user": "fwd1",
                                                                      "targets": both})
    check("update adds studioC: 200", st == 200 and len(body.get("targets", [])) == 2, (st, body))
    check("studioC: Success", wait_for(lambda: target_is(d1, "studioA", "studioC", 1), 10),
          targets(d1, "studioA"))
    check("daemon 2: fwd1 publishes in studioC",
          wait_for(lambda: publishing(d2, "studioC", "fwd1"), 10), member(d2, "studioC", "fwd1"))
    st, body, _ = d1.request("PUT", "/api/v1/rooms/studioA/forward", {"user": "fwd1",
                                                                      "targets": both[1:]})
    check("update drops studioB: 200, one target", st == 200 and
          [t["room"] for t in body.get("targets", [])] == ["studioC"], (st, body))
    check("daemon 2: fwd1 left studioB",
          wait_for(lambda: member(d2, "studioB", "fwd1") is None, 10),
          member(d2, "studioB", "fwd1"))

    # 1201 InvalidArgument
    five = [{"room": "r%d" % i, "token": "t", "url": url2} for i in range(5)]
    st, body, _ = d1.request("POST", "/api/v1/rooms/studioA2/forward", {"targets": five})
    check("5 targets: 400 INVALID_ARGUMENT",
          st == 400 and err_name(body) == "FORWARD_STREAM_ERROR_INVALID_ARGUMENT", (st, body))
    st, body, _ = d1.request("POST", "/api/v1/rooms/studioA2/forward", {
        "targets": [{"room": "bad room!", "token": "t", "url": url2}]})
    check("a bad target id: 400 INVALID_ARGUMENT",
          st == 400 and err_name(body) == "FORWARD_STREAM_ERROR_INVALID_ARGUMENT", (st, body))
    st, body, _ = d1.request("POST", "/api/v1/rooms/studioA2/forward", {
        "targets": [{"room": "studioB", "token": "t", "url": "http://x"}]})
    check("a url that is not ws://: 400", st == 400, (st, body))

    # 1204: the source room as target
    st, body, _ = d1.request("POST", "/api/v1/rooms/studioA2/forward", {
        "user": "fwd2", "targets": [{"room": "studioA2", "token": make_token("studioA2",
                                                                             "fwd2")}]})
    check("the source room as target: 409 REMOTE_KICKED",
          st == 409 and err_name(body) == "FORWARD_STREAM_ERROR_REMOTE_KICKED", (st, body))

    # 1202, 1203, 1205 from the targets
    dead = "ws://127.0.0.1:%d/rtc" % free_port()
    st, body, _ = d1.request("POST", "/api/v1/rooms/studioA2/forward", {"user": "fwd2", "targets": [
        {"room": "studioB", "token": make_token("studioB", "fwd2", key="other key"),
         "url": url2},
        {"room": "studioB", "token": make_token("studioB", "fwd2"), "url": dead},
        {"room": "studioC", "token": make_token("studioC", "fwd2", pub=False), "url": url2}]})
    check("start with three failing targets: 201", st == 201, (st, body))
    check("a token signed with another key: Failure INVALID_TOKEN (1202)",
          wait_for(lambda: target_is(d1, "studioA2", "studioB", 2, 1202, url2), 10),
          target_list(d1, "studioA2"))
    check("nobody listening: Failure RESPONSE (1203)",
          wait_for(lambda: target_is(d1, "studioA2", "studioB", 2, 1203, dead), 10),
          target_list(d1, "studioA2"))
    check("no publish privilege: Failure NOT_SUPPORT (1205)",
          wait_for(lambda: target_is(d1, "studioA2", "studioC", 2, 1205), 10),
          targets(d1, "studioA2"))
    st, body, _ = d1.request("DELETE", "/api/v1/rooms/studioA2/forward")
    check("stop studioA2: 200", st == 200, (st, body))

    # a target on the same daemon (no url), then that user's track forwarded on
    st, body, _ = d1.request("POST", "/api/v1/rooms", {"room": "studioE"})
    st, body, _ = d1.request("POST", "/api/v1/rooms/studioA2/forward", {
        "user": "fwd3", "targets": [{"room": "studioE", "token": make_token("studioE",
                                                                            "fwd3")}]})
    check("start to a room on this daemon: 201", st == 201, (st, body))
    check("daemon 1: fwd3 publishes in studioE",
          wait_for(lambda: publishing(d1, "studioE", "fwd3"), 10), member(d1, "studioE", "fwd3"))
    st, body, _ = d1.request("POST", "/api/v1/rooms/studioE/forward", {
        "track": "nobody", "targets": [{"room": "studioB", "token": "t", "url": url2}]})
    check("a track nobody publishes: 400 INVALID_ARGUMENT",
          st == 400 and err_name(body) == "FORWARD_STREAM_ERROR_INVALID_ARGUMENT", (st, body))
    st, body, _ = d1.request("POST", "/api/v1/rooms/studioE/forward", {
        "track": "fwd3", "targets": [{"room": "studioB", "token": make_token("studioB", "fwd3"),
                                      "url": url2}]})
    check("start forwarding fwd3's track: 201, as user fwd3",
          st == 201 and body.get("user") == "fwd3" and body.get("track") == "fwd3", (st, body))
    check("daemon 2: fwd3's track publishes in studioB",
          wait_for(lambda: publishing(d2, "studioB", "fwd3"), 10), member(d2, "studioB", "fwd3"))
    for room in ("studioE", "studioA2"):
        st, body, _ = d1.request("DELETE", "/api/v1/rooms/%s/forward" % room)
        check("stop %s: 200" % room, st == 200, (st, body))
    check("daemon 2: fwd3 left studioB",
          wait_for(lambda: member(d2, "studioB", "fwd3") is None, 10),
          member(d2, "studioB", "fwd3"))

    # 1204: daemon 2's admin kicks the forwarded user
    st, body, _ = d2.request("DELETE", "/api/v1/rooms/studioC/users/fwd1")
    check("daemon 2 kicks fwd1 from studioC", st == 200, (st, body))
    check("kicked: Failure REMOTE_KICKED (1204)",
          wait_for(lambda: target_is(d1, "studioA", "studioC", 2, 1204), 10),
          targets(d1, "studioA"))
    time.sleep(0.5)
    check("kicked: no automatic rejoin", member(d2, "studioC", "fwd1") is None,
          member(d2, "studioC", "fwd1"))
    rc, out = ctl(d1, "forward", "list")
    check("airmixctl forward list shows studioA", rc == 0 and "studioA" in out, out)

    # stop
    st, body, _ = d1.request("DELETE", "/api/v1/rooms/studioA/forward")
    check("stop: 200, no targets", st == 200 and body.get("targets") == [], (st, body))
    st, body, _ = d1.request("DELETE", "/api/v1/rooms/studioA/forward")
    check("stop twice: 409 (UnExpectAPICall)", st == 409, (st, body))

    names = {r.get("name") for r in wait_for(
        lambda: [r for r in history(d1)] if has_row(d1, "FORWARD_STREAM_EVENT_UNEXPECT_API_CALL")
        else [], 5)}
    for n in ("FORWARD_STREAM_ERROR_INVALID_ARGUMENT", "FORWARD_STREAM_ERROR_INVALID_TOKEN",
              "FORWARD_STREAM_ERROR_RESPONSE", "FORWARD_STREAM_ERROR_REMOTE_KICKED",
              "FORWARD_STREAM_ERROR_NOT_SUPPORT", "FORWARD_STREAM_EVENT_UNEXPECT_API_CALL",
              "FORWARD_STREAM_EVENT_CONNECTED", "FORWARD_STREAM_EVENT_DISCONNECTED",
              "FORWARD_STREAM_EVENT_DST_ROOM_UPDATED", "FORWARD_STREAM_ERROR_OK"):
        check("history domain=forward_stream holds %s" % n, n in names, sorted(names))
    idle = wait_for(lambda: [r for r in history(d1) if r.get("subject") == "studioA->studioC"
                             and r.get("message", "").startswith("Idle")], 5)
    check("stop: studioC Idle in the history", idle,
          [r for r in history(d1) if r.get("subject") == "studioA->studioC"][:3])


def disabled():
    with Airmixd(extra_conf=conf(42400, enabled=False)) as d:
        d.request("POST", "/api/v1/rooms", {"room": "solo"})
        st, body, _ = d.request("POST", "/api/v1/rooms/solo/forward", {
            "targets": [{"room": "elsewhere", "token": "t"}]})
        check("forward_enabled = false: 403 NOT_SUPPORT",
              st == 403 and err_name(body) == "FORWARD_STREAM_ERROR_NOT_SUPPORT", (st, body))
        check("disabled: a history row",
              wait_for(lambda: has_row(d, "FORWARD_STREAM_ERROR_NOT_SUPPORT", "solo"), 5))


def tls_forwarding():
    """wss:// targets. Daemon 3 serves HTTPS with a self-signed certificate
    for 127.0.0.1; daemon 4 trusts it through forward_ca_file and forwards
    into it. Daemon 3, with the system's CAs only, refuses its own
    certificate on an explicit wss:// url, and reaches its own rooms (no
    url) over its TLS listener."""
    d3 = Airmixd(extra_conf=conf(42600))
    cert = d3.use_tls()
    if not check("openssl made a self-signed certificate", cert, d3.tls_error):
        d3.cleanup()
        return
    d4 = Airmixd(extra_conf=conf(42800) + "[rtc]\nforward_ca_file = %s\n" % cert)
    try:
        d3.start()
        d4.start()
        for d, room in ((d3, "hq"), (d3, "hq2"), (d3, "hq3"), (d3, "hq4"), (d4, "field")):
            st, body, _ = d.request("POST", "/api/v1/rooms", {"room": room})
            check("room %s created" % room, st == 201, (st, body))
        wss = "wss://127.0.0.1:%d/rtc" % d3.port
        st, body, _ = d4.request("POST", "/api/v1/rooms/field/forward", {
            "user": "fwd4", "targets": [{"room": "hq", "token": make_token("hq", "fwd4"),
                                         "url": wss}]})
        check("start to a wss:// target: 201", st == 201, (st, body))
        check("wss:// with forward_ca_file: Success",
              wait_for(lambda: target_is(d4, "field", "hq", 1, 0, wss), 10), targets(d4, "field"))
        check("daemon 3: fwd4 publishes in hq over wss://, packets arrive",
              wait_for(lambda: publishing(d3, "hq", "fwd4"), 10), member(d3, "hq", "fwd4"))

        tok = make_token("hq", "fwd4")
        ws = "ws://127.0.0.1:%d/rtc" % d3.port
        st, body, _ = d4.request("PUT", "/api/v1/rooms/field/forward", {
            "user": "fwd4", "targets": [{"room": "hq", "token": tok, "url": ws}]})
        check("update the target's url from wss:// to ws://: 200", st == 200, (st, body))
        check("the update replaced the target: ws:// to a TLS port fails (1203)",
              wait_for(lambda: target_is(d4, "field", "hq", 2, 1203, ws), 10),
              target_list(d4, "field"))
        local = "wss://localhost:%d/rtc" % d3.port
        st, body, _ = d4.request("PUT", "/api/v1/rooms/field/forward", {
            "user": "fwd4", "targets": [{"room": "hq", "token": tok, "url": wss},
                                        {"room": "hq4", "token": make_token("hq4", "fwd4"),
                                         "url": local}]})
        check("update back to wss://, and wss://localhost added: 200", st == 200, (st, body))
        check("back on wss://: Success",
              wait_for(lambda: target_is(d4, "field", "hq", 1, 0, wss), 10), target_list(d4, "field"))
        check("wss://localhost, a host the certificate does not name: Failure RESPONSE (1203)",
              wait_for(lambda: target_is(d4, "field", "hq4", 2, 1203, local), 10),
              target_list(d4, "field"))
        check("its history row gives the hostname mismatch",
              wait_for(lambda: [r for r in history(d4) if "hostname mismatch" in
                                r.get("message", "")], 5),
              [r.get("message") for r in history(d4)][:4])

        st, body, _ = d3.request("POST", "/api/v1/rooms/hq2/forward", {"user": "fwd5", "targets": [
            {"room": "hq", "token": make_token("hq", "fwd5"), "url": wss},
            {"room": "hq3", "token": make_token("hq3", "fwd5")}]})
        check("daemon 3 forwards hq2 to itself, by url and without: 201", st == 201, (st, body))
        check("a certificate no trusted CA signed: Failure RESPONSE (1203)",
              wait_for(lambda: target_is(d3, "hq2", "hq", 2, 1203, wss), 10),
              target_list(d3, "hq2"))
        check("the history row gives the certificate as the reason",
              wait_for(lambda: [r for r in history(d3) if "certificate" in r.get("message", "")
                                and r.get("name") == "FORWARD_STREAM_ERROR_RESPONSE"], 5),
              [(r.get("name"), r.get("message")) for r in history(d3)][:6])
        check("its own room without url, over its TLS listener: Success",
              wait_for(lambda: target_is(d3, "hq2", "hq3", 1, 0,
                                         "wss://127.0.0.1:%d/rtc" % d3.port), 10),
              target_list(d3, "hq2"))
        check("daemon 3: fwd5 publishes in hq3",
              wait_for(lambda: publishing(d3, "hq3", "fwd5"), 10), member(d3, "hq3", "fwd5"))
        rc, out = ctl(d3, "--cacert", cert, "forward", "get", "hq2")
        check("airmixctl --cacert over https://: forward get shows hq3 Success",
              rc == 0 and "hq3" in out and "Success" in out, (rc, out))
        rc, out = ctl(d3, "forward", "get", "hq2")
        check("airmixctl without --cacert: refused, the certificate named",
              rc != 0 and "certificate" in out, (rc, out))
        for d, name in ((d3, "daemon 3 (HTTPS)"), (d4, "daemon 4")):
            rc = d.stop()
            check("%s stops cleanly (exit %s)" % (name, rc), rc == 0, d.log_text()[-2000:])
    finally:
        d3.cleanup()
        d4.cleanup()


def bad_ca_files():
    """A forward_ca_file that cannot be read, or holds no certificate, stops
    the start with a message that names it."""
    for what, path, why in (("an unreadable", "/nonexistent/ca.pem", "cannot read"),
                            ("a not PEM", None, "is not a file of PEM certificates")):
        d = Airmixd(extra_conf=conf(42900))
        if path is None:
            path = os.path.join(d.tmp, "ca.pem")
            with open(path, "w") as f:
                f.write("not a certificate\n")
        d.extra_conf += "[rtc]\nforward_ca_file = %s\n" % path
        try:
            d.start()
            check("%s forward_ca_file: airmixd refuses to start" % what, False)
        except RuntimeError as e:
            check("%s forward_ca_file: airmixd refuses to start: %s" % (what, why),
                  "forward_ca_file %s" % path in str(e) and why in str(e), str(e)[-500:])
        finally:
            d.cleanup()


def main():
    d1 = Airmixd(extra_conf=conf(42000))
    d2 = Airmixd(extra_conf=conf(42200))
    try:
        d1.start()
        d2.start()
        run(d1, d2)
        for d, name in ((d1, "daemon 1"), (d2, "daemon 2")):
            check("%s: RT-safety log clean" % name, not d.rtcheck_violations(),
                  d.rtcheck_violations()[:5])
            rc = d.stop()
            check("%s stops cleanly (exit %s)" % (name, rc), rc == 0, d.log_text()[-2000:])
    finally:
        d1.cleanup()
        d2.cleanup()
    disabled()
    tls_forwarding()
    bad_ca_files()
    finish()


if __name__ == "__main__":
    main()
