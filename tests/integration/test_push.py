#!/usr/bin/python3
"""test_push.py - CDN push tasks against real servers: nginx with the RTMP
module and icecast2, both started here on free 127.0.0.1 ports.

A 1 kHz tone on the publish bus goes to RTMP (AAC, 44.1 kHz mono 96 kb/s and
32 kHz stereo) and to Icecast (Opus); ffprobe checks the stream, ffmpeg pulls
it and the decoded tone must be 1 kHz +- 1 %; status-json.xsl shows the
metadata. "Now playing" on icecast: the file name of a mixing id started on
the publish bus, then a title set over the API (which wins until cleared),
each seen by a listener in the stream's OpusTags (icecast 2.4 shows no title
for Ogg/Opus in status-json.xsl: when a newer one does, it must match).
Faults: nginx killed and back after 3 s (ERR_PUSH_CDN, then START_SUCCESS
within 5 s of its return), icecast killed and back after 2 s (the same, and
the metadata and the title back, with an update made meanwhile), an
unreachable port (ERR_FRAME_TIMEOUT, retrying), a wrong icecast password
(ERR_PUSH_CDN, retrying), every parameter limit (4xx,
ERR_PARAM_INVALID in domain stream_mixing), a URL change while pushing
(refused, the task keeps running). Throughout: no RT-safety violation, no
xrun (internal clock). Every wait is bounded.
"""
import json
import math
import os
import struct
import subprocess
import sys
import threading
import time
import wave

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import numpy as np  # noqa: E402

from airmixd import BIN, Airmixd, JackDummy, check, finish  # noqa: E402
import servers  # noqa: E402

TONE = {"kind": "tone", "frequency_hz": 1000, "level_dbfs": -12, "buses": ["publish"]}


def wait_until(fn, timeout, step=0.1):
    """fn() until truthy or timeout; returns the last value."""
    deadline = time.monotonic() + timeout
    v = fn()
    while not v and time.monotonic() < deadline:
        time.sleep(step)
        v = fn()
    return v


def task(d, tid):
    status, body = d.get("/api/v1/cdn/%s" % tid)
    return body if status == 200 else {}


def history_rows(d, tid):
    """The task's history rows, oldest first. A failed query is tried again
    for up to 3 s (a loaded machine), then printed and taken as no rows."""
    path = "/api/v1/history?domain=stream_mixing&limit=200&subject=task%%20%s" % tid
    for _ in range(15):
        status, body = d.get(path)
        if status == 200:
            return list(reversed(body["rows"]))
        time.sleep(0.2)
    print("# history query failed: %s %s" % (status, str(body)[:300]), flush=True)
    return []


def events(d, tid):
    """(event name, error code) of the task's history rows, oldest first."""
    return [(r["message"].split(":")[0], r["code"]) for r in history_rows(d, tid)]


def has_event(d, tid, name, code):
    return (name, code) in events(d, tid)


def tone_hz(samples, rate):
    """Frequency from the positive-going zero crossings (interpolated)."""
    x = samples[rate // 2:]	# skip the start (encoder delay, fades)
    if len(x) < rate:
        return 0.0
    idx = np.nonzero((x[:-1] < 0) & (x[1:] >= 0))[0]
    if len(idx) < 10:
        return 0.0
    t = idx + (-x[idx]) / (x[idx + 1] - x[idx])
    return (len(t) - 1) * rate / (t[-1] - t[0])


def pull(url, seconds, rate, out):
    """Decode seconds of url to mono float at rate into out["samples"]."""
    cmd = ["ffmpeg", "-v", "error", "-nostdin", "-rw_timeout", "8000000", "-i", url,
           "-t", str(seconds), "-ac", "1", "-ar", str(rate), "-f", "f32le", "-"]
    try:
        r = subprocess.run(cmd, capture_output=True, timeout=seconds + 15)
        out["samples"] = np.frombuffer(r.stdout, dtype=np.float32)
        out["err"] = r.stderr.decode(errors="replace")[-300:]
    except subprocess.TimeoutExpired:
        out["samples"] = np.zeros(0, dtype=np.float32)
        out["err"] = "timed out"


def probe(url):
    cmd = ["ffprobe", "-v", "error", "-rw_timeout", "8000000", "-show_entries",
           "stream=codec_name,sample_rate,channels,bit_rate,profile", "-of", "json", url]
    try:
        r = subprocess.run(cmd, capture_output=True, timeout=20)
    except subprocess.TimeoutExpired:
        return {}
    try:
        return json.loads(r.stdout)["streams"][0]
    except (ValueError, KeyError, IndexError):
        return {}


def stream_title(port, mount):
    """The title a new listener reads from the stream's headers ("" if none)."""
    cmd = ["ffprobe", "-v", "error", "-rw_timeout", "8000000", "-show_entries",
           "format_tags:stream_tags", "-of", "json", "http://127.0.0.1:%d%s" % (port, mount)]
    try:
        r = subprocess.run(cmd, capture_output=True, timeout=20)
        j = json.loads(r.stdout)
    except (subprocess.TimeoutExpired, ValueError):
        return ""
    tags = dict(j.get("format", {}).get("tags", {}))
    for st in j.get("streams", []):
        tags.update(st.get("tags", {}))
    return next((v for k, v in tags.items() if k.lower() == "title"), "")


def write_wav(path, seconds, freq, rate=48000):
    with wave.open(path, "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(b"".join(struct.pack("<hh", v, v) for v in (
            int(8000 * math.sin(2 * math.pi * freq * i / rate))
            for i in range(int(seconds * rate)))))


def post(d, tid, body):
    status, data, _ = d.request("POST", "/api/v1/cdn/%s" % tid, body)
    return status, data


def is_param_invalid(status, data):
    err = (data or {}).get("error", {}) if isinstance(data, dict) else {}
    return 400 <= status < 500 and err.get("domain") == "stream_mixing" and err.get("code") == 1


def test_rtmp_and_icecast(d, nginx, ice):
    status, data = post(d, "rtmp1", {"url": nginx.url("test"), "sample_rate": 44100,
                                     "channels": 1, "bitrate_kbps": 96})
    check("rtmp task starts (201)", status == 201, data)
    status, data = post(d, "rtmp2", {"url": nginx.url("second"), "sample_rate": 32000,
                                     "codec": "AAC", "profile": "LC"})
    check("second rtmp task starts (32 kHz, defaults)", status == 201 and
          data.get("channels") == 2 and data.get("bitrate_kbps") == 64, data)
    status, data = post(d, "ice1", {"icecast": {
        "host": "127.0.0.1", "port": ice.port, "mount": "/airmix.ogg", "password": ice.password,
        "name": "Airmix Test", "genre": "Tones", "description": "a 1 kHz line-up tone"},
        "bitrate_kbps": 64})
    check("icecast task starts (201)", status == 201, data)
    for tid in ("rtmp1", "rtmp2", "ice1"):
        t = wait_until(lambda: task(d, tid).get("state") == "pushing", 10)
        check("%s is pushing" % tid, t, task(d, tid))
    status, data = d.get("/api/v1/cdn")
    check("list shows the three tasks", status == 200 and
          sorted(t["task_id"] for t in data["tasks"]) == ["ice1", "rtmp1", "rtmp2"], data)

    # pull everything at once to keep the test short
    got = {"r": {}, "i": {}}
    pulls = [threading.Thread(target=pull, args=(nginx.url("test"), 5, 44100, got["r"])),
             threading.Thread(target=pull, args=("http://127.0.0.1:%d/airmix.ogg" % ice.port, 4,
                                                 48000, got["i"]))]
    for th in pulls:
        th.start()
    p1 = probe(nginx.url("test"))
    p2 = probe(nginx.url("second"))
    for th in pulls:
        th.join(timeout=40)
    check("ffprobe: aac LC 44100 Hz mono", p1.get("codec_name") == "aac" and
          p1.get("profile") == "LC" and p1.get("sample_rate") == "44100" and
          p1.get("channels") == 1, p1)
    br = int(p1.get("bit_rate") or 0)
    check("ffprobe: bitrate 96 kb/s +- 10 % (when reported)",
          br == 0 or abs(br - 96000) <= 9600, br)
    check("ffprobe: second stream aac 32000 Hz stereo", p2.get("codec_name") == "aac" and
          p2.get("sample_rate") == "32000" and p2.get("channels") == 2, p2)
    hz = tone_hz(got["r"].get("samples", np.zeros(0)), 44100)
    check("rtmp pull: 5 s decoded, tone 1 kHz +- 1 %", abs(hz - 1000) <= 10,
          "%.2f Hz, %d samples %s" % (hz, len(got["r"].get("samples", [])), got["r"].get("err")))
    hz = tone_hz(got["i"].get("samples", np.zeros(0)), 48000)
    check("icecast listener: tone 1 kHz +- 1 %", abs(hz - 1000) <= 10,
          "%.2f Hz, %d samples %s" % (hz, len(got["i"].get("samples", [])), got["i"].get("err")))
    src = [s for s in ice.sources() if s.get("listenurl", "").endswith("/airmix.ogg")]
    check("status-json.xsl: name, genre, description, Opus",
          src and src[0].get("server_name") == "Airmix Test" and src[0].get("genre") == "Tones"
          and src[0].get("server_description") == "a 1 kHz line-up tone"
          and src[0].get("subtype") == "Opus", ice.sources())
    ev = wait_until(lambda: has_event(d, "rtmp1", "START_SUCCESS", 0) and events(d, "rtmp1"), 5)
    check("history: START then START_SUCCESS", ev and ev[:2] == [("START", 0),
                                                                 ("START_SUCCESS", 0)], ev)
    t = task(d, "rtmp1")
    check("counters: bytes sent, frames encoded, nothing dropped",
          t.get("bytes_sent", 0) > 30000 and t.get("frames_encoded", 0) > 44100 and
          t.get("frames_dropped") == 0, t)
    status, data, _ = d.request("GET", "/api/v1/history?domain=stream_mixing&limit=50&"
                                "subject=task%20ice1")
    check("history hides the icecast password", status == 200 and
          ice.password not in str(data) and "***" in str(data), data)


def test_updates(d, nginx):
    before = task(d, "rtmp1")
    status, data, _ = d.request("PUT", "/api/v1/cdn/rtmp1", {"url": nginx.url("other")})
    check("url change while pushing refused (ERR_PARAM_INVALID)",
          is_param_invalid(status, data), (status, data))
    status, data, _ = d.request("PUT", "/api/v1/cdn/rtmp1", {"sample_rate": 48000})
    check("audio change while pushing refused", is_param_invalid(status, data), (status, data))
    time.sleep(0.5)
    after = task(d, "rtmp1")
    check("the task keeps running as it was", after.get("state") == "pushing" and
          after.get("url") == "rtmp://127.0.0.1:%d/live/***" % nginx.port and
          after.get("sample_rate") == 44100 and
          after.get("connects") == before.get("connects") and
          after.get("frames_encoded", 0) > before.get("frames_encoded", 0), (before, after))
    ev = wait_until(lambda: has_event(d, "rtmp1", "UPDATE_FAILED", 1) and events(d, "rtmp1"), 5)
    check("history: UPDATE, UPDATE_FAILED ERR_PARAM_INVALID", ev and ("UPDATE", 0) in ev, ev)
    status, data, _ = d.request("PUT", "/api/v1/cdn/ice1", {"icecast": {"genre": "Jazz"}})
    check("icecast metadata update accepted", status == 200 and
          data["icecast"]["genre"] == "Jazz", (status, data))
    status, data, _ = d.request("PUT", "/api/v1/cdn/ice1", {"icecast": {"mount": "/x.ogg"}})
    check("icecast mount change refused", is_param_invalid(status, data), (status, data))
    status, data, _ = d.request("PUT", "/api/v1/cdn/rtmp1", {"title": "x"})
    check("a title for an rtmp task refused", is_param_invalid(status, data), (status, data))
    status, data, _ = d.request("PUT", "/api/v1/cdn/ice1", {"title": "a\nb"})
    check("a title of two lines refused", is_param_invalid(status, data), (status, data))


def test_titles(d, ice):
    media = os.path.join(d.data_dir, "media")
    write_wav(os.path.join(media, "Morning Jingle.wav"), 2.0, 660)
    write_wav(os.path.join(media, "monitor-only.wav"), 2.0, 550)
    status, data, _ = d.request("POST", "/api/v1/mixing/1/start",
                                {"path": "Morning Jingle.wav", "type": 1})
    check("a file starts on the publish bus", status == 200, (status, data))
    ok = wait_until(lambda: task(d, "ice1").get("now_playing") == "Morning Jingle.wav", 5)
    check("now playing: the mixing file name", ok, task(d, "ice1"))
    title = wait_until(lambda: stream_title(ice.port, "/airmix.ogg") == "Morning Jingle.wav",
                       10, step=0.5)
    check("a listener reads the file name in the stream's OpusTags", title,
          stream_title(ice.port, "/airmix.ogg"))
    src = [s for s in ice.sources() if s.get("listenurl", "").endswith("/airmix.ogg")]
    check("status-json.xsl: no title, or the same one (icecast 2.4 shows none for Opus)",
          src and src[0].get("title") in (None, "Morning Jingle.wav"), src)
    status, data, _ = d.request("PUT", "/api/v1/cdn/ice1", {"title": "The Morning Show"})
    check("title set over the API", status == 200 and data.get("title") == "The Morning Show",
          (status, data))
    ok = wait_until(lambda: task(d, "ice1").get("now_playing") == "The Morning Show", 5)
    check("now playing: the API's title", ok, task(d, "ice1"))
    status, data, _ = d.request("POST", "/api/v1/mixing/2/start",
                                {"path": "Morning Jingle.wav", "type": 2})
    time.sleep(1)
    check("the API's title wins over a new mixing file",
          task(d, "ice1").get("now_playing") == "The Morning Show", task(d, "ice1"))
    status, data, _ = d.request("POST", "/api/v1/mixing/3/start",
                                {"path": "monitor-only.wav", "type": 0})
    check("a file on the playout bus only starts", status == 200, (status, data))
    status, data, _ = d.request("PUT", "/api/v1/cdn/ice1", {"title": ""})
    ok = wait_until(lambda: task(d, "ice1").get("now_playing") == "Morning Jingle.wav", 5)
    check("title cleared: back to the last file on the publish bus", ok, task(d, "ice1"))
    status, data, _ = d.request("PUT", "/api/v1/cdn/ice1", {"title": "The Morning Show"})
    ok = wait_until(lambda: stream_title(ice.port, "/airmix.ogg") == "The Morning Show", 10,
                    step=0.5)
    check("a listener reads the API's title", ok, stream_title(ice.port, "/airmix.ogg"))
    hz = {}
    pull("http://127.0.0.1:%d/airmix.ogg" % ice.port, 3, 48000, hz)
    check("the stream still decodes after the title changes (chained Ogg)",
          len(hz.get("samples", [])) >= 48000 * 2, (len(hz.get("samples", [])), hz.get("err")))


def ctl(d, *args):
    cmd = [os.path.join(BIN, "airmixctl"), "--url", d.url] + list(args)
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    return r.returncode, r.stdout, r.stderr


def test_cli(d, nginx, ice):
    rc, out, err = ctl(d, "cdn", "start", "cli-r", "--url", nginx.url("clikey"), "--rate", "44100",
                       "--channels", "1", "--bitrate", "48")
    check("airmixctl cdn start --url: a table with the masked url", rc == 0 and "cli-r" in out
          and "/live/***" in out and "clikey" not in out and "44100 Hz 1 ch 48 kb/s" in out,
          (rc, out, err))
    rc, out, err = ctl(d, "cdn", "start", "cli-i", "--icecast",
                       "127.0.0.1:%d/cli.ogg" % ice.port, "--password", ice.password,
                       "--name", "CLI Radio", "--genre", "Talk", "--title", "Hello", "--bitrate",
                       "96")
    check("airmixctl cdn start --icecast", rc == 0 and "cli-i" in out and
          "icecast://127.0.0.1:%d/cli.ogg" % ice.port in out and ice.password not in out,
          (rc, out, err))
    ok = wait_until(lambda: task(d, "cli-r").get("state") == "pushing" and
                    task(d, "cli-i").get("now_playing") == "Hello", 10)
    check("both cli tasks push", ok, (task(d, "cli-r"), task(d, "cli-i")))
    rc, out, err = ctl(d, "cdn", "list")
    check("airmixctl cdn list shows them pushing", rc == 0 and
          all(any(t in line and "pushing" in line for line in out.splitlines())
              for t in ("cli-r", "cli-i")), out)
    rc, out, err = ctl(d, "--json", "cdn", "get", "cli-i")
    try:
        j = json.loads(out)
    except ValueError:
        j = {}
    check("airmixctl --json cdn get: the server's JSON", rc == 0 and
          j.get("icecast", {}).get("name") == "CLI Radio" and j.get("bitrate_kbps") == 96 and
          "password" not in j.get("icecast", {}), out)
    rc, out, err = ctl(d, "cdn", "update", "cli-i", "--title", "News at Nine")
    ok = wait_until(lambda: task(d, "cli-i").get("now_playing") == "News at Nine", 5)
    check("airmixctl cdn update --title", rc == 0 and ok, (rc, out, err, task(d, "cli-i")))
    rc, out, err = ctl(d, "cdn", "update", "cli-r", "--rate", "48000")
    check("airmixctl cdn update of an rtmp rate: refused, exit 1", rc == 1 and
          "ERR_PARAM_INVALID" in err, (rc, out, err))
    rc, out, err = ctl(d, "cdn", "start", "cli-x", "--bitrate", "64")
    check("airmixctl cdn start without a target: usage error 64", rc == 64, (rc, err))
    rc, out, err = ctl(d, "cdn", "start", "cli-x", "--icecast", "nohostmount")
    check("airmixctl cdn start --icecast without a mount: usage error", rc == 64, (rc, err))
    rc, out, err = ctl(d, "cdn", "get", "nosuch")
    check("airmixctl cdn get of an unknown task: exit 1", rc == 1, (rc, err))
    for tid in ("cli-r", "cli-i"):
        rc, out, err = ctl(d, "cdn", "stop", tid)
        check("airmixctl cdn stop %s" % tid, rc == 0 and "stopped task %s" % tid in out,
              (rc, out, err))


def test_invalid(d, nginx):
    good = {"url": nginx.url("bad")}
    cases = [
        ("url not rtmp", {"url": "http://127.0.0.1/live/x"}),
        ("url empty", {"url": ""}),
        ("sample rate 22050", dict(good, sample_rate=22050)),
        ("sample rate 96000", dict(good, sample_rate=96000)),
        ("channels 0", dict(good, channels=0)),
        ("channels 3", dict(good, channels=3)),
        ("bitrate 31", dict(good, bitrate_kbps=31)),
        ("bitrate 193", dict(good, bitrate_kbps=193)),
        ("codec opus on rtmp", dict(good, codec="opus")),
        ("profile xx", dict(good, profile="xx")),
        ("no url nor icecast", {"bitrate_kbps": 64}),
        ("icecast without password", {"icecast": {"host": "127.0.0.1", "port": 8000,
                                                  "mount": "/m.ogg"}}),
        ("icecast port 0", {"icecast": {"host": "127.0.0.1", "port": 0, "mount": "/m.ogg",
                                        "password": "x"}}),
    ]
    for what, body in cases:
        status, data = post(d, "bad", body)
        check("invalid: %s -> 4xx ERR_PARAM_INVALID" % what, is_param_invalid(status, data),
              (status, data))
    for prof in ("HEv1", "HEv2"):
        status, data = post(d, "bad", dict(good, profile=prof))
        check("%s: not supported by this build" % prof, is_param_invalid(status, data) and
              "not supported by this build" in data["error"]["message"], (status, data))
    status, data = post(d, "x" * 127, good)
    check("task id of 127 bytes refused", is_param_invalid(status, data), (status, data))
    status, data = post(d, "rtmp1", {"url": nginx.url("dup")})
    check("a running task id refused", is_param_invalid(status, data), (status, data))
    status, data = post(d, "_", {"url": nginx.url("empty")})
    check("empty id refused beside other tasks", is_param_invalid(status, data), (status, data))
    status, data = d.get("/api/v1/cdn/bad")
    check("nothing started by invalid requests", status == 404, (status, data))


def test_unreachable(d):
    port = servers.free_port()
    status, data = post(d, "dead", {"url": "rtmp://127.0.0.1:%d/live/x" % port})
    check("task on an unreachable port is accepted", status == 201, data)
    ev = wait_until(lambda: has_event(d, "dead", "START_FAILED", 2), 8)
    check("history: START_FAILED ERR_FRAME_TIMEOUT", ev, events(d, "dead"))
    t = task(d, "dead")
    check("state retrying, last error ERR_FRAME_TIMEOUT", t.get("state") in
          ("retrying", "connecting") and t.get("last_error") == 2, t)
    status, data, _ = d.request("DELETE", "/api/v1/cdn/dead")
    check("stop a retrying task", status == 200, data)
    ev = wait_until(lambda: has_event(d, "dead", "STOP_SUCCESS", 0), 5)
    check("history: STOP_SUCCESS", ev, events(d, "dead"))


def test_wrong_password(d, ice):
    status, data = post(d, "badpw", {"icecast": {
        "host": "127.0.0.1", "port": ice.port, "mount": "/bad.ogg", "password": "wrong"}})
    check("task with a wrong icecast password is accepted", status == 201, data)
    ev = wait_until(lambda: has_event(d, "badpw", "START_FAILED", 4), 8)
    check("history: START_FAILED ERR_PUSH_CDN (refused)", ev, events(d, "badpw"))
    t = task(d, "badpw")
    check("refusal reason in the status", "401" in t.get("last_message", "") or
          "nauthorized" in t.get("last_message", ""), t)
    status, data, _ = d.request("DELETE", "/api/v1/cdn/badpw")
    check("stop the refused task", status == 200, data)


def test_nginx_restart(d, nginx):
    c0 = task(d, "rtmp1").get("connects", 0)
    nginx.kill()
    time.sleep(3)
    nginx.start()
    back = time.monotonic()
    ok = wait_until(lambda: task(d, "rtmp1").get("connects", 0) > c0 and
                    task(d, "rtmp1").get("state") == "pushing", 8)
    took = time.monotonic() - back
    check("rtmp reconnects within 5 s of the server's return", ok and took <= 5.0,
          "%.1f s %s" % (took, task(d, "rtmp1")))
    ev = wait_until(lambda: events(d, "rtmp1").count(("START_SUCCESS", 0)) >= 2 and
                    events(d, "rtmp1"), 5)
    drop = ev.index(("START_FAILED", 4)) if ev and ("START_FAILED", 4) in ev else -1
    check("history: ERR_PUSH_CDN then START_SUCCESS", drop >= 0 and
          ("START_SUCCESS", 0) in ev[drop:], ev)
    ok = wait_until(lambda: task(d, "rtmp2").get("connects", 0) >= 2 and
                    task(d, "rtmp2").get("state") == "pushing", 5)
    check("the second rtmp task is back too", ok, task(d, "rtmp2"))
    p = probe(nginx.url("test"))
    check("the stream plays again (ffprobe)", p.get("codec_name") == "aac", p)


def test_icecast_restart(d, ice):
    c0 = task(d, "ice1").get("connects", 0)
    ice.kill()
    time.sleep(2)
    ice.start()
    back = time.monotonic()
    ok = wait_until(lambda: task(d, "ice1").get("connects", 0) > c0 and
                    task(d, "ice1").get("state") == "pushing", 8)
    took = time.monotonic() - back
    check("icecast reconnects within 5 s of the server's return", ok and took <= 5.0,
          "%.1f s %s" % (took, task(d, "ice1")))
    src = wait_until(lambda: [s for s in ice.sources()
                              if s.get("listenurl", "").endswith("/airmix.ogg")], 3)
    check("metadata back after the reconnect, with the update (genre Jazz)",
          src and src[0].get("server_name") == "Airmix Test" and src[0].get("genre") == "Jazz",
          ice.sources())
    title = wait_until(lambda: stream_title(ice.port, "/airmix.ogg") == "The Morning Show", 10,
                       step=0.5)
    check("the title is back in the stream after the reconnect", title,
          stream_title(ice.port, "/airmix.ogg"))
    ev = events(d, "ice1")
    drop = ev.index(("START_FAILED", 4)) if ("START_FAILED", 4) in ev else -1
    check("history: icecast ERR_PUSH_CDN then START_SUCCESS", drop >= 0 and
          ("START_SUCCESS", 0) in ev[drop:], ev)


def test_stop_all(d):
    for tid in ("rtmp1", "rtmp2", "ice1"):
        status, data, _ = d.request("DELETE", "/api/v1/cdn/%s" % tid)
        check("stop %s" % tid, status == 200, (status, data))
    status, data, _ = d.request("DELETE", "/api/v1/cdn/rtmp1")
    check("stopping a stopped task: 404 ERR_PARAM_INVALID", status == 404 and
          data["error"]["code"] == 1, (status, data))
    status, data = d.get("/api/v1/cdn")
    check("no tasks left", status == 200 and data["tasks"] == [], data)


def main():
    t0 = time.monotonic()
    try:
        with servers.Nginx() as nginx, servers.Icecast() as ice, JackDummy() as jack, \
                Airmixd(backend="jack", extra_conf=jack.conf()) as d:
            check("the daemon runs on the JACK dummy clock", d.get("/api/v1/health")[1].get("clock") == "jack",
                  d.get("/api/v1/health")[1])
            status, node = d.request("POST", "/api/v1/graph/nodes", TONE)[:2]
            check("1 kHz tone on the publish bus", status == 201, node)
            test_rtmp_and_icecast(d, nginx, ice)
            test_updates(d, nginx)
            test_titles(d, ice)
            test_cli(d, nginx, ice)
            test_invalid(d, nginx)
            test_unreachable(d)
            test_wrong_password(d, ice)
            test_nginx_restart(d, nginx)
            test_icecast_restart(d, ice)
            test_stop_all(d)
            d.check_clean_stop()
    except RuntimeError as e:
        check("servers and daemon start", False, e)
    print("# took %.0f s" % (time.monotonic() - t0))
    finish()


if __name__ == "__main__":
    main()
