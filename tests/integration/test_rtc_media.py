#!/usr/bin/env python3
"""test_rtc_media.py - remote tracks of a running airmixd with real
third-party RTP/Opus tools.

A guest joins a room over /rtc with a token from POST .../tokens and
publishes; ffmpeg (libopus) sends a 1 kHz tone as RTP to the port the daemon
gave, with the SSRC and source port the guest announced. A take of the
publish bus (REST recordings) holds the tone at 1 kHz +- 1 %. The guest
subscribes to its mix-minus; a second ffmpeg receives it with an SDP written
here and decodes it: the host's 440 Hz tone is there, the guest's own 1 kHz
is not. A second guest sends through a UDP relay written here that drops
10 %, reorders 5 %, duplicates 2 % and injects garbage: its track keeps
playing (a take of its node holds the tone without gaps), PLC/FEC are
counted, and the stats in GET /api/v1/rooms/{room} match what the relay did.
Every process is stopped by its PID; every wait is bounded.
"""
import asyncio
import json
import math
import os
import random
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import wave

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from airmixd import Airmixd, check, finish  # noqa: E402

import websockets  # noqa: E402

APP_ID = "123456781234567812345678"
APP_KEY = "media test key"
PORT_MIN = 41000 + 2 * random.randrange(0, 2000)
CONF = """[rtc]
app_id = %s
app_key = %s
[rtp]
port_min = %d
port_max = %d
jitter_min_ms = 60
""" % (APP_ID, APP_KEY, PORT_MIN, PORT_MIN + 40)
FFMPEG = shutil.which("ffmpeg") or "/usr/bin/ffmpeg"
PROCS = []


def udp_socket(port=0):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", port))
    return s


def free_udp_pair():
    """An even UDP port whose odd neighbour is free too (RTP and RTCP)."""
    for _ in range(200):
        p = random.randrange(20000, 30000) & ~1
        try:
            a, b = udp_socket(p), udp_socket(p + 1)
        except OSError:
            continue
        a.close()
        b.close()
        return p
    raise RuntimeError("no free UDP port pair")


def start(args, log):
    p = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
    PROCS.append(p)
    return p


def stop(p, timeout=5.0):
    if p.poll() is None:
        p.terminate()
        try:
            p.wait(timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(timeout)


def ffmpeg_send(port, local_port, ssrc, seconds, log, rtcp_port):
    """ffmpeg sends a 1 kHz tone as RTP/Opus in real time."""
    url = "rtp://127.0.0.1:%d?localrtpport=%d&rtcp_port=%d" % (port, local_port, rtcp_port)
    return start([FFMPEG, "-hide_banner", "-nostdin", "-loglevel", "warning", "-re",
                  "-f", "lavfi", "-i", "sine=frequency=1000:sample_rate=48000:duration=%d" % seconds,
                  "-c:a", "libopus", "-b:a", "64k", "-ac", "2", "-fec:a", "1", "-packet_loss:a", "10",
                  "-ssrc", str(ssrc),
                  "-payload_type", "111", "-f", "rtp", url], log)


def read_wav(path):
    with wave.open(path, "rb") as w:
        ch, rate, width, n = w.getnchannels(), w.getframerate(), w.getsampwidth(), w.getnframes()
        raw = w.readframes(n)
    assert width == 2
    samples = struct.unpack("<%dh" % (len(raw) // 2), raw)
    return rate, [samples[i] / 32768.0 for i in range(0, len(samples), ch)]


def frequency(x, rate):
    """Frequency by interpolated upward zero crossings."""
    first = last = None
    count = 0
    for i in range(1, len(x)):
        if x[i - 1] < 0.0 <= x[i]:
            t = i - 1 + (-x[i - 1]) / (x[i] - x[i - 1])
            first = t if first is None else first
            last = t
            count += 1
    return (count - 1) * rate / (last - first) if count > 1 and last > first else 0.0


def amplitude(x, rate, freq):
    re = im = 0.0
    w = 2.0 * math.pi * freq / rate
    for i, v in enumerate(x):
        re += v * math.cos(w * i)
        im += v * math.sin(w * i)
    return 2.0 * math.hypot(re, im) / len(x)


def db(a):
    return 20.0 * math.log10(max(a, 1e-12))


class Relay(threading.Thread):
    """A lossy UDP path: what it does to the stream is counted exactly."""

    def __init__(self, to_port, seconds_lossy):
        super().__init__(daemon=True)
        self.inp = udp_socket()
        self.out = udp_socket()
        self.to = ("127.0.0.1", to_port)
        self.port = self.inp.getsockname()[1]
        self.out_port = self.out.getsockname()[1]
        self.lossy_until = None
        self.seconds_lossy = seconds_lossy
        self.rand = random.Random(4)
        self.forwarded = set()
        self.dropped = set()
        self.duplicated = 0
        self.garbage = 0
        self.reordered = 0
        self.quit = False

    def send(self, data):
        self.out.sendto(data, self.to)

    def run(self):
        self.inp.settimeout(0.2)
        held = None
        while not self.quit:
            try:
                data, _ = self.inp.recvfrom(4096)
            except socket.timeout:
                if held:
                    self.send(held)
                    held = None
                continue
            if len(data) < 12:
                continue
            seq = struct.unpack_from(">H", data, 2)[0]
            if self.lossy_until is None:
                self.lossy_until = time.monotonic() + self.seconds_lossy
            lossy = time.monotonic() < self.lossy_until and len(self.forwarded) > 10
            dice = self.rand.random()
            if lossy and dice < 0.10 and seq not in self.forwarded:
                self.dropped.add(seq)
                continue
            if lossy and dice < 0.15 and held is None:
                held = data         # goes after the next one
                self.forwarded.add(seq)
                self.reordered += 1
                continue
            self.send(data)
            self.forwarded.add(seq)
            if lossy and dice > 0.98:
                self.send(data)
                self.duplicated += 1
            if held:
                self.send(held)
                held = None
            if lossy and self.rand.random() < 0.03:
                junk = bytes(self.rand.randrange(256) for _ in range(self.rand.randrange(1, 200)))
                self.send(junk)
                self.garbage += 1
        if held:
            self.send(held)


class Client:
    def __init__(self, url):
        self.url, self.next_id, self.ws = url, 0, None

    async def open(self):
        self.ws = await websockets.connect(self.url, max_size=None, ping_interval=None)

    async def req(self, op, **fields):
        self.next_id += 1
        want = self.next_id
        await self.ws.send(json.dumps(dict(id=want, op=op, **fields)))
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                m = json.loads(await asyncio.wait_for(self.ws.recv(),
                                                      timeout=deadline - time.monotonic()))
            except (asyncio.TimeoutError, websockets.ConnectionClosed):
                break
            if m.get("id") == want:
                return m
        return {"ok": False, "error": {"name": "NO_REPLY"}}

    async def ping(self):
        await self.ws.send(json.dumps({"id": 0, "op": "ping"}))


def token(d, user):
    st, body, _ = d.request("POST", "/api/v1/rooms/studio/tokens", {"user": user, "expire_s": 600})
    check("token for %s" % user, st == 201 and body.get("token", "").startswith("001"), (st, body))
    return body.get("token", "")


def user_stats(d, user):
    st, body = d.get("/api/v1/rooms/studio")
    for u in body.get("users", []) if st == 200 else []:
        if u.get("user") == user:
            return u.get("stats") or {}
    return {}


def record(d, tracks, seconds, keep_alive):
    """A take of the given tracks for about `seconds`; returns the WAV paths."""
    st, take, _ = d.request("POST", "/api/v1/recordings", {"tracks": tracks, "format": "wav",
                                                           "bits": 16})
    if not check("take of %s started" % tracks, st == 201, (st, take)):
        return []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        keep_alive()
        time.sleep(0.5)
    st, done, _ = d.request("POST", "/api/v1/recordings/%d/stop" % take["id"], {})
    check("take stopped", st == 200, (st, done))
    return [f.get("path") for f in done.get("files", [])]


async def scenario(d, tmp):
    url = "ws://127.0.0.1:%d/rtc" % d.port
    log = open(os.path.join(tmp, "ffmpeg.log"), "w")
    loop = asyncio.get_running_loop()

    st, body, _ = d.request("POST", "/api/v1/rooms", {"room": "studio"})
    check("room studio", st == 201, (st, body))

    # -- a clean sender: ffmpeg straight to the daemon
    guest = Client(url)
    await guest.open()
    r = await guest.req("join", token=token(d, "guest"), room="studio", user="guest")
    check("guest joins", r.get("ok"), r)
    local = free_udp_pair()
    sink = udp_socket()         # ffmpeg's RTCP goes here
    ssrc = 0x12345678
    r = await guest.req("publish", ssrc=ssrc, addr="127.0.0.1:%d" % local, channels=2)
    port = (r.get("data") or {}).get("port", 0)
    check("publish answers with a UDP port", r.get("ok") and port >= PORT_MIN, r)
    sender = ffmpeg_send(port, local, ssrc, 14, log, sink.getsockname()[1])
    paths = await loop.run_in_executor(None, record, d, ["publish"], 5.0, lambda: None)
    await guest.ping()
    if paths:
        rate, x = read_wav(paths[0])
        tail = x[-2 * rate:]
        f = frequency(tail, rate)
        check("the publish bus holds the guest's tone at 1 kHz +- 1 %% (%.2f Hz)" % f,
              abs(f - 1000.0) < 10.0, f)
        # at the tone's own frequency: the drift control may play a sender that
        # started with a burst up to 1000 ppm fast for a while (1001 Hz), and a
        # 1 s projection at exactly 1000 Hz would lose up to 20 dB of it
        last = x[-rate:]
        level = db(amplitude(last, rate, frequency(last, rate)))
        check("clearly there (%.1f dBFS; ffmpeg's sine is -18 dBFS before its stereo "
              "upmix)" % level, -30.0 < level < -15.0)

    # -- the host joins the programme; the guest hears it on its mix-minus
    st, node, _ = d.request("POST", "/api/v1/graph/nodes", {
        "kind": "tone", "name": "host", "frequency_hz": 440, "level_dbfs": -12,
        "buses": ["publish"]})
    check("the host: a 440 Hz tone in the programme", st == 201, (st, node))
    rx = free_udp_pair()
    r = await guest.req("subscribe", stream="programme", addr="127.0.0.1:%d" % rx)
    check("the guest subscribes to its mix-minus", r.get("ok"), r)
    sdp = os.path.join(tmp, "return.sdp")
    with open(sdp, "w") as f:
        f.write("v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=airmix return\r\nc=IN IP4 127.0.0.1\r\n"
                "t=0 0\r\nm=audio %d RTP/AVP 111\r\na=rtpmap:111 opus/48000/2\r\n" % rx)
    ret_wav = os.path.join(tmp, "return.wav")
    receiver = start([FFMPEG, "-hide_banner", "-nostdin", "-loglevel", "warning",
                      "-protocol_whitelist", "file,udp,rtp", "-i", sdp, "-t", "4",
                      "-ac", "1", "-ar", "48000", "-y", ret_wav], log)
    st = user_stats(d, "guest")
    check("guest stats: receiving, packets counted, nothing lost or dropped",
          st.get("receiving") and st.get("packets", 0) > 100 and st.get("lost") == 0 and
          st.get("dropped") == 0, st)
    try:
        receiver.wait(20)
    except subprocess.TimeoutExpired:
        pass
    check("ffmpeg received and decoded the mix-minus return", receiver.poll() == 0 and
          os.path.isfile(ret_wav), receiver.poll())
    if os.path.isfile(ret_wav):
        rate, y = read_wav(ret_wav)
        mid = y[len(y) // 3:len(y) // 3 + rate] if len(y) > 2 * rate else y
        own, host = amplitude(mid, rate, 1000.0), amplitude(mid, rate, 440.0)
        check("the return holds the host (%.1f dBFS)" % db(host), db(host) > -18.0, len(y))
        check("the return lacks the guest's own voice (%.1f dBFS, %.1f dB under the host)"
              % (db(own), db(host) - db(own)), db(host) - db(own) > 40.0, own)
    await guest.ping()

    # -- a lossy path: ffmpeg -> relay -> daemon
    guest2 = Client(url)
    await guest2.open()
    r = await guest2.req("join", token=token(d, "caller"), room="studio", user="caller")
    check("caller joins", r.get("ok"), r)
    relay = Relay(0, 6.0)
    ssrc2 = 0x0badcafe
    r = await guest2.req("publish", ssrc=ssrc2, addr="127.0.0.1:%d" % relay.out_port, channels=2)
    port2 = (r.get("data") or {}).get("port", 0)
    node2 = (r.get("data") or {}).get("node_id", 0)
    check("the caller publishes", r.get("ok") and port2 > 0 and node2 > 0, r)
    relay.to = ("127.0.0.1", port2)
    relay.start()
    local2 = free_udp_pair()
    sender2 = ffmpeg_send(relay.port, local2, ssrc2, 9, log, sink.getsockname()[1])

    def pings():
        asyncio.run_coroutine_threadsafe(guest.ping(), loop)
        asyncio.run_coroutine_threadsafe(guest2.ping(), loop)

    paths = await loop.run_in_executor(None, record, d, [str(node2)], 7.0, pings)
    if paths:
        rate, x = read_wav(paths[0])
        body = x[rate:]                       # after the start-up
        f = frequency(body, rate)
        win = rate // 10
        levels = [math.sqrt(sum(v * v for v in body[i:i + win]) / win)
                  for i in range(0, len(body) - win, win)]
        median = sorted(levels)[len(levels) // 2] if levels else 0.0
        first = next((i for i, v in enumerate(levels) if v > 0.5 * median), len(levels))
        quiet = sum(1 for v in levels[first:] if v < 0.1 * median) if levels else 99
        check("the caller's tone plays on through the lossy path (%.2f Hz, %d quiet 100 ms "
              "windows of %d)" % (f, quiet, len(levels)), abs(f - 1000.0) < 10.0 and quiet <= 1,
              (f, quiet))
    await guest.ping()
    await guest2.ping()
    try:
        sender2.wait(15)
    except subprocess.TimeoutExpired:
        pass
    time.sleep(1.0)
    relay.quit = True
    relay.join(2)
    time.sleep(0.5)
    st = user_stats(d, "caller")
    did = dict(forwarded=len(relay.forwarded), dropped=len(relay.dropped - relay.forwarded),
               duplicated=relay.duplicated, garbage=relay.garbage, reordered=relay.reordered)
    print("# relay: %s" % did)
    print("# stats: %s" % st)
    check("the relay did its job", did["dropped"] > 20 and did["reordered"] > 5 and
          did["duplicated"] > 0 and did["garbage"] > 2, did)
    check("packets = what the relay forwarded (%s)" % st.get("packets"),
          st.get("packets") == did["forwarded"], (st, did))
    check("lost = what the relay dropped (%s)" % st.get("lost"),
          st.get("lost") == did["dropped"], (st, did))
    check("duplicates = what the relay duplicated (%s)" % st.get("duplicates"),
          st.get("duplicates") == did["duplicated"], (st, did))
    check("dropped = the garbage the relay injected (%s)" % st.get("dropped"),
          st.get("dropped") == did["garbage"], (st, did))
    check("losses concealed: fec %s + plc %s" % (st.get("fec_frames"), st.get("plc_frames")),
          st.get("fec_frames", 0) > 0 and st.get("fec_frames", 0) + st.get("plc_frames", 0) >=
          did["dropped"] - st.get("late", 0), st)
    for p in (sender, sender2):
        stop(p)
    await guest.req("leave")
    await guest2.req("leave")
    await guest.ws.close()
    await guest2.ws.close()
    sink.close()
    log.close()


def main():
    have = subprocess.run([FFMPEG, "-hide_banner", "-encoders"], capture_output=True, text=True,
                          timeout=30).stdout if os.path.exists(FFMPEG) else ""
    if not check("ffmpeg with the libopus encoder is installed", "libopus" in have):
        finish()
    tmp = tempfile.mkdtemp(prefix="airmix-rtc-media.")
    try:
        with Airmixd(extra_conf=CONF) as d:
            asyncio.run(asyncio.wait_for(scenario(d, tmp), timeout=120))
            check("the daemon is still running", d.alive())
            v = d.rtcheck_violations()
            check("no RT-safety violations", not v, v[:5])
    finally:
        for p in PROCS:
            stop(p)
        if os.path.exists(os.path.join(tmp, "ffmpeg.log")):
            for line in open(os.path.join(tmp, "ffmpeg.log")).read().splitlines()[-10:]:
                print("# ffmpeg: " + line)
        shutil.rmtree(tmp, ignore_errors=True)
    finish()


if __name__ == "__main__":
    main()
