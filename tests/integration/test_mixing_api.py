#!/usr/bin/env python3
"""test_mixing_api.py - the audio mixing manager over the real HTTP API and
the event WebSocket, on the internal clock with the RT-safety shim.

Covers every method under /api/v1/mixing, the synchronous error answers with
the AudioMixingError codes, the events in order, the history rows, path
confinement, and airmixctl's mixing verbs.
"""
import asyncio
import json
import os
import struct
import subprocess
import sys
import time
import wave

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from airmixd import Airmixd, BIN, check, finish  # noqa: E402

import websockets  # noqa: E402


def write_wav(path, seconds, freq=440.0, rate=48000, amp=0.3):
    import math
    n = int(seconds * rate)
    frames = bytearray()
    for i in range(n):
        v = int(32767 * amp * math.sin(2 * math.pi * freq * i / rate))
        frames += struct.pack("<hh", v, v)
    with wave.open(path, "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(bytes(frames))


def err_of(body):
    return (body or {}).get("error", {}) if isinstance(body, dict) else {}


def main():
    d = Airmixd(extra_conf="[mixing]\nmax_ids = 8\n")
    d.start()
    try:
        media = os.path.join(d.data_dir, "media")
        write_wav(os.path.join(media, "jingle.wav"), 1.0, 880)
        write_wav(os.path.join(media, "bed.wav"), 30.0, 440)
        with open(os.path.join(media, "notes.wav"), "w") as f:
            f.write("not audio\n")
        run(d)
    finally:
        d.stop()
        violations = d.rtcheck_violations()
        if d.rtcheck_active:
            check("no RT-safety violations while mixing", not violations, violations[:5])
        d.cleanup()
    finish()


async def collect_events(url, seconds, out):
    async with websockets.connect(url) as ws:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            try:
                msg = await asyncio.wait_for(ws.recv(), timeout=max(0.05, end - time.monotonic()))
            except asyncio.TimeoutError:
                break
            m = json.loads(msg)
            if m.get("type") == "event" and m.get("event", "").startswith("audio_mixing."):
                out.append(m)


def run(d):
    # -- events are collected while the calls go on
    events = []
    loop = asyncio.new_event_loop()
    import threading
    t = threading.Thread(target=lambda: loop.run_until_complete(collect_events(d.ws_url, 12, events)))
    t.start()
    time.sleep(0.5)

    s, b, _ = d.request("POST", "/api/v1/mixing/1/preload", {"path": "jingle.wav"})
    check("preload answers 200", s == 200, (s, b))
    check("preloaded state", b and b.get("state_name") == "PRELOADED", b)
    s, b, _ = d.request("GET", "/api/v1/mixing/1")
    check("get duration of the jingle", s == 200 and b.get("duration_ms") == 1000, b)

    s, b, _ = d.request("POST", "/api/v1/mixing/1/start", {"path": "bed.wav"})
    e = err_of(b)
    check("start of another file on a preloaded id: 409 LOAD_CONFLICT",
          s == 409 and e.get("domain") == "audio_mixing" and e.get("code") == 6, (s, b))

    s, b, _ = d.request("POST", "/api/v1/mixing/2/start",
                        {"path": "bed.wav", "type": 2, "play_count": 1, "position_ms": 0,
                         "progress_interval_ms": 95})
    check("start a music bed", s == 200 and b.get("state_name") == "PLAYING", (s, b))
    check("progress interval rounded up to 100 ms", b.get("progress_interval_ms") == 100, b)
    s, b, _ = d.request("PUT", "/api/v1/mixing/2", {"volume": 80})
    check("volume 80", s == 200 and b.get("volume", {}).get("publish") == 80, (s, b))
    s, b, _ = d.request("PUT", "/api/v1/mixing/2", {"volume": 401})
    e = err_of(b)
    check("volume 401: 400 INVALID_VOLUME", s == 400 and e.get("code") == 5, (s, b))
    s, b, _ = d.request("PUT", "/api/v1/mixing/2", {"pitch": 13})
    check("pitch 13: INVALID_PITCH", s == 400 and err_of(b).get("code") == 8, (s, b))
    s, b, _ = d.request("PUT", "/api/v1/mixing/2", {"speed": 201})
    check("speed 201: INVALID_PLAYBACK_SPEED", s == 400 and err_of(b).get("code") == 11, (s, b))
    s, b, _ = d.request("PUT", "/api/v1/mixing/2", {"position_ms": 30000})
    check("seek at the end: SET_POSITION_FAILED", s == 400 and err_of(b).get("code") == 4, (s, b))
    s, b, _ = d.request("PUT", "/api/v1/mixing/2", {"track": 1})
    check("track 1 of 1: INVALID_AUDIO_TRACK", s == 400 and err_of(b).get("code") == 9, (s, b))
    s, b, _ = d.request("PUT", "/api/v1/mixing/2", {"pitch": 2, "speed": 120})
    check("pitch and speed", s == 200 and b.get("pitch") == 2 and b.get("speed") == 120, (s, b))
    s, b, _ = d.request("PUT", "/api/v1/mixing/2", {"colour": "red"})
    check("unknown field refused", s == 400 and err_of(b).get("name") == "API_UNKNOWN_FIELD", (s, b))
    s, b, _ = d.request("PUT", "/api/v1/mixing/2", {"volume": "loud"})
    check("wrong type refused", s == 400 and err_of(b).get("name") == "API_WRONG_TYPE", (s, b))
    s, b, _ = d.request("POST", "/api/v1/mixing/2/pause")
    check("pause", s == 200 and b.get("state_name") == "PAUSED", (s, b))
    s, b, _ = d.request("POST", "/api/v1/mixing/2/resume")
    check("resume", s == 200 and b.get("state_name") == "PLAYING", (s, b))
    time.sleep(0.5)
    s, b, _ = d.request("GET", "/api/v1/mixing/2")
    check("position moves", s == 200 and b.get("position_ms", 0) > 0, b)
    check("playback duration moves", b.get("playback_ms", 0) > 0, b)

    s, b, _ = d.request("GET", "/api/v1/graph")
    players = [n for n in (b or {}).get("nodes", []) if n.get("kind") == "player"]
    check("the playing id is a player node in the graph", len(players) == 1, players)

    s, b, _ = d.request("PUT", "/api/v1/mixing/7", {"volume": 50})
    check("setter on an unknown id: 404 ID_NOT_FOUND", s == 404 and err_of(b).get("code") == 3, (s, b))
    for bad in ("../etc/passwd", "/etc/passwd", "notes.wav", "missing.wav"):
        s, b, _ = d.request("POST", "/api/v1/mixing/3/start", {"path": bad})
        check("start %s: START_FAILED" % bad, s == 400 and err_of(b).get("code") == 2, (s, b))

    s, b, _ = d.request("GET", "/api/v1/mixing")
    ids = [m.get("id") for m in (b or {}).get("mixing", [])]
    check("list shows the ids", 1 in ids and 2 in ids, b)

    # airmixctl mixing verbs
    env = dict(os.environ, AIRMIX_URL=d.url)
    ctl = os.path.join(BIN, "airmixctl")
    r = subprocess.run([ctl, "mixing", "start", "4", "jingle.wav", "--volume", "80"],
                       env=env, capture_output=True, text=True, timeout=10)
    check("airmixctl mixing start", r.returncode == 0, r.stderr)
    r = subprocess.run([ctl, "--json", "mixing", "get", "4"], env=env, capture_output=True,
                       text=True, timeout=10)
    ok = r.returncode == 0
    try:
        info = json.loads(r.stdout)
    except ValueError:
        info, ok = {}, False
    check("airmixctl --json mixing get", ok and info.get("id") == 4, r.stdout + r.stderr)
    r = subprocess.run([ctl, "mixing", "pitch", "4", "13"], env=env, capture_output=True,
                       text=True, timeout=10)
    check("airmixctl reports the mixing error", r.returncode == 1 and "INVALID_PITCH" in r.stderr,
          r.stderr)
    r = subprocess.run([ctl, "mixing", "list"], env=env, capture_output=True, text=True, timeout=10)
    check("airmixctl mixing list", r.returncode == 0 and "jingle.wav" in r.stdout, r.stdout)

    s, b, _ = d.request("POST", "/api/v1/mixing/1/start", {"path": "jingle.wav", "type": 1})
    check("start the preloaded jingle", s == 200, (s, b))
    time.sleep(1.6)
    s, b, _ = d.request("GET", "/api/v1/mixing/1")
    check("the jingle finished", s == 200 and b.get("state_name") == "FINISHED", b)
    s, b, _ = d.request("POST", "/api/v1/mixing/stop_all")
    check("stop all", s == 200, (s, b))
    s, b, _ = d.request("GET", "/api/v1/mixing/2")
    check("after stop all the bed is stopped", b.get("state_name") == "STOPPED", b)

    t.join(timeout=20)
    loop.close()
    seen = [(m.get("data", {}).get("id"), m.get("data", {}).get("state_name"),
             m.get("data", {}).get("error_name")) for m in events if m["event"] == "audio_mixing.state"]
    want = [(1, "PRELOADED", "AUDIO_MIXING_ERROR_OK"),
            (1, "FAILED", "AUDIO_MIXING_ERROR_LOAD_CONFLICT"),
            (2, "PLAYING", "AUDIO_MIXING_ERROR_OK")]
    check("events arrive in order over the WebSocket", seen[:3] == want, seen[:6])
    check("progress events at the interval",
          sum(1 for m in events if m["event"] == "audio_mixing.progress") >= 3, len(events))
    check("finished event", (1, "FINISHED", "AUDIO_MIXING_ERROR_OK") in seen, seen)

    s, b, _ = d.request("GET", "/api/v1/history?domain=audio_mixing&level=error&limit=100")
    names = [r["name"] for r in (b or {}).get("rows", [])]
    check("the errors are history rows", "AUDIO_MIXING_ERROR_INVALID_VOLUME" in names and
          "AUDIO_MIXING_ERROR_LOAD_CONFLICT" in names, names)
    reqs = [r.get("request", "") for r in (b or {}).get("rows", [])
            if r["name"] == "AUDIO_MIXING_ERROR_INVALID_VOLUME"]
    check("the row carries the request", reqs and "PUT /api/v1/mixing/2" in reqs[0], reqs)
    check("each error is stored once", names.count("AUDIO_MIXING_ERROR_LOAD_CONFLICT") == 1, names)


if __name__ == "__main__":
    main()
