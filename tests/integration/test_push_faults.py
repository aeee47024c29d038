#!/usr/bin/python3
"""test_push_faults.py - CDN push tasks through the long faults, against real
nginx-rtmp and icecast2 servers started here on free 127.0.0.1 ports.

- Wrong RTMP stream key: nginx's on_publish asks its own /auth location,
  which refuses every key but the right one. The task reports START_FAILED
  ERR_PUSH_CDN "refused" and keeps retrying; a task with the right key pushes;
  the key never shows in GET replies nor in the history.
- Frozen servers: nginx and icecast stopped with SIGSTOP for 30 s at once.
  The kernel keeps accepting into socket buffers, so only the liveness probe
  sees it: each task reports ERR_FRAME_TIMEOUT or ERR_PUSH_CDN within 10 s,
  retries while frozen, and is back (START_SUCCESS) after SIGCONT.
- Long outage: both servers killed for 90 s at once and restarted on the
  same ports. The tasks keep retrying with backoff bounded by backoff_max_ms
  (2 s here), are back within 5 s of the servers' return, and push at real
  time afterwards: frames encoded over a wall-clock window match the rate
  (no burst of the outage's audio), bytes sent match the bitrate, nothing
  dropped at the tap (under a sanitizer, keeping up with real time is
  reported, not asserted; no burst still is).
Throughout: no RT-safety violation, no xrun (internal clock). Every wait is
bounded; the whole file takes about 2.5 minutes.
"""
import os
import re
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from airmixd import Airmixd, JackDummy, check, finish  # noqa: E402
import servers  # noqa: E402
from test_push import TONE, events, post, probe, task, wait_until  # noqa: E402
from test_push import history_rows as history  # noqa: E402

BACKOFF_MAX_MS = 2000
RING_S = 2
CONF = ("[push]\ntimeout_ms = 3000\nbackoff_min_ms = 250\nbackoff_max_ms = %d\n"
        "probe_ms = 2000\nring_ms = %d\n" % (BACKOFF_MAX_MS, RING_S * 1000))
WINDOW_S = 6.0
FREEZE_S = 30
OUTAGE_S = 90


def failures_after(d, tid, n):
    """START_FAILED rows of the task beyond the first n."""
    rows = [r for r in history(d, tid) if r["message"].startswith("START_FAILED")]
    return rows[n:]


def count_failed(d, tid):
    return len(failures_after(d, tid, 0))


def test_stream_key(d, nginx):
    wrong = nginx.url("wrongkey", "secure")
    status, data = post(d, "k1", {"url": wrong})
    check("a task with a wrong stream key is accepted", status == 201, data)
    rows = wait_until(lambda: failures_after(d, "k1", 0), 10)
    check("history: START_FAILED ERR_PUSH_CDN, the server refused the stream",
          rows and rows[0]["code"] == 4 and "refused" in rows[0]["message"], history(d, "k1"))
    t = task(d, "k1")
    check("GET: retrying, ERR_PUSH_CDN, refused", t.get("state") in ("retrying", "connecting")
          and t.get("last_error") == 4 and "refused" in t.get("last_message", ""), t)
    check("GET shows the url with its key masked", t.get("url") ==
          "rtmp://127.0.0.1:%d/secure/***" % nginx.port, t)
    c0 = count_failed(d, "k1")
    ok = wait_until(lambda: task(d, "k1").get("state") == "connecting", 5, step=0.02)
    check("it keeps retrying", ok and task(d, "k1").get("connects") == 0, task(d, "k1"))
    status, data = post(d, "k2", {"url": nginx.url(nginx.key, "secure")})
    ok = wait_until(lambda: task(d, "k2").get("state") == "pushing", 10)
    check("the right key pushes", status == 201 and ok, task(d, "k2"))
    p = probe(nginx.url(nginx.key, "secure"))
    check("ffprobe: the stream with the right key plays", p.get("codec_name") == "aac", p)
    status, body = d.get("/api/v1/cdn")
    check("no stream key in GET /api/v1/cdn", status == 200 and "wrongkey" not in str(body)
          and nginx.key not in str(body), body)
    rows = history(d, "k1") + history(d, "k2")
    check("no stream key in the history (requests, messages)",
          rows and "wrongkey" not in str(rows) and nginx.key not in str(rows) and
          c0 >= 1, rows)
    for tid in ("k1", "k2"):
        status, data, _ = d.request("DELETE", "/api/v1/cdn/%s" % tid)
        check("stop %s" % tid, status == 200, data)


def start_pair(d, nginx, ice):
    status, data = post(d, "r", {"url": nginx.url("faults")})
    check("rtmp task starts", status == 201, data)
    status, data = post(d, "i", {"icecast": {"host": "127.0.0.1", "port": ice.port,
                                             "mount": "/faults.ogg", "password": ice.password}})
    check("icecast task starts", status == 201, data)
    for tid in ("r", "i"):
        ok = wait_until(lambda: task(d, tid).get("state") == "pushing", 10)
        check("%s is pushing" % tid, ok, task(d, tid))


def watch_detection(d, tid, n0, t0, out):
    """Seconds from t0 to the first failure row beyond n0 (or None)."""
    rows = wait_until(lambda: failures_after(d, tid, n0), 15, step=0.2)
    out[tid] = (time.monotonic() - t0, rows[0]) if rows else (None, None)


def wait_back(d, tid, c0, t0, out):
    ok = wait_until(lambda: task(d, tid).get("connects", 0) > c0 and
                    task(d, tid).get("state") == "pushing", 20, step=0.1)
    out[tid] = time.monotonic() - t0 if ok else None


def test_freeze(d, nginx, ice):
    n0 = {tid: count_failed(d, tid) for tid in ("r", "i")}
    c0 = {tid: task(d, tid).get("connects", 0) for tid in ("r", "i")}
    nginx.freeze()
    ice.freeze()
    t0 = time.monotonic()
    try:
        out = {}
        threads = [threading.Thread(target=watch_detection, args=(d, tid, n0[tid], t0, out))
                   for tid in ("r", "i")]
        for th in threads:
            th.start()
        for th in threads:
            th.join(timeout=30)
        for tid, name in (("r", "nginx"), ("i", "icecast")):
            took, row = out.get(tid, (None, None))
            check("frozen %s detected within 10 s (%s)" % (name, row and row["name"]),
                  took is not None and took <= 10.0 and row["code"] in (2, 4),
                  "%s s %s" % (took, row))
        states = set()
        while time.monotonic() - t0 < FREEZE_S:
            states.update(task(d, tid).get("state") for tid in ("r", "i"))
            time.sleep(0.25)
        check("while frozen the tasks retry, never pushing", "pushing" not in states and
              states & {"retrying", "connecting"}, states)
    finally:
        nginx.thaw()
        ice.thaw()
    t1 = time.monotonic()
    out = {}
    for tid in ("r", "i"):
        wait_back(d, tid, c0[tid], t1, out)
    for tid, name in (("r", "nginx"), ("i", "icecast")):
        took = out.get(tid)
        ev = wait_until(lambda: ("START_SUCCESS", 0) in events(d, tid)[-3:], 5)
        check("%s back after SIGCONT (START_SUCCESS)" % name, took is not None and ev,
              "%s s %s" % (took, events(d, tid)))
    p = probe(nginx.url("faults"))
    check("ffprobe: the rtmp stream plays again", p.get("codec_name") == "aac", p)


def retry_delays(d, tid):
    """The "retrying in N ms" delays of the task's history rows."""
    return [int(m.group(1)) for r in history(d, tid)
            for m in [re.search(r"retrying in (\d+) ms", r["message"])] if m]


def timing_check(what, ok, got):
    """Under a sanitizer (AIRMIX_SANITIZER, set by tests/suites.sh) the
    encoders run several times slower on a shared machine: keeping up with
    real time is reported, not asserted. Every other check still runs."""
    if os.environ.get("AIRMIX_SANITIZER") and not ok:
        check("%s # skipped under %s (deadline check; got %s)"
              % (what, os.environ["AIRMIX_SANITIZER"], got), True)
        return
    check(what, ok, got)


def rates(d, tid, seconds):
    """(frames encoded per second, bytes sent per second, frames dropped)
    over a wall-clock window. (Frames are dropped at the tap while a
    connection attempt to a frozen server blocks for timeout_ms; that audio
    is the outage's anyway.)"""
    a, t0 = task(d, tid), time.monotonic()
    time.sleep(seconds)
    b, t1 = task(d, tid), time.monotonic()
    dt = t1 - t0
    return ((b.get("frames_encoded", 0) - a.get("frames_encoded", 0)) / dt,
            (b.get("bytes_sent", 0) - a.get("bytes_sent", 0)) / dt,
            b.get("frames_dropped", 0) - a.get("frames_dropped", 0))


def test_outage(d, nginx, ice):
    c0 = {tid: task(d, tid).get("connects", 0) for tid in ("r", "i")}
    nginx.kill()
    ice.kill()
    t0 = time.monotonic()
    a0 = {tid: task(d, tid).get("attempts", 0) for tid in ("r", "i")}
    while time.monotonic() - t0 < OUTAGE_S:
        time.sleep(1)
    tries = {tid: task(d, tid).get("attempts", 0) - a0[tid] for tid in ("r", "i")}
    # one attempt per backoff_max_ms (+-20 %) once the delays have grown
    most = OUTAGE_S * 1000 / (BACKOFF_MAX_MS * 0.8) + 10
    check("during 90 s down both tasks kept retrying at the bounded backoff (%s attempts)"
          % tries, all(OUTAGE_S / 3 <= n <= most for n in tries.values()), tries)
    nginx.start()
    ice.start()
    t1 = time.monotonic()
    out = {}
    threads = [threading.Thread(target=wait_back, args=(d, tid, c0[tid], t1, out))
               for tid in ("r", "i")]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=30)
    for tid, name in (("r", "nginx"), ("i", "icecast")):
        took = out.get(tid)
        check("%s: back within 5 s of the return after 90 s down" % name,
              took is not None and took <= 5.0, "%s s %s" % (took, task(d, tid)))
        delays = retry_delays(d, tid)
        check("%s: retry delays bounded by backoff_max_ms +20 %%" % name,
              delays and max(delays) <= BACKOFF_MAX_MS * 1.2 + 1, delays)
        ev = wait_until(lambda: events(d, tid)[-1:] == [("START_SUCCESS", 0)] and
                        events(d, tid), 5)
        check("%s: history ERR_PUSH_CDN, then START_SUCCESS" % name,
              ev and ("START_FAILED", 4) in ev, events(d, tid))
    for tid, name, kbps in (("r", "rtmp", 64), ("i", "icecast", 64)):
        fps, bps, dropped = rates(d, tid, WINDOW_S)
        # a task that fell behind may catch up on what its ring holds, never more:
        # the outage's audio would be far beyond that
        check("%s after the outage: no burst (%.0f frames/s)" % (name, fps),
              fps <= 48000 * (1.1 + RING_S / WINDOW_S), fps)
        timing_check("%s after the outage: keeps up with real time" % name,
                     fps >= 48000 * 0.9, fps)
        check("%s after the outage: %.0f bytes/s, not above %d kb/s" % (name, bps, kbps),
              bps <= kbps * 125 * 1.2 * (1 + RING_S / WINDOW_S), bps)
        timing_check("%s after the outage: bytes/s near %d kb/s" % (name, kbps),
                     bps >= kbps * 125 * 0.7, bps)
        timing_check("%s: nothing dropped at the tap while connected" % name, dropped == 0,
                     dropped)
    p = probe(nginx.url("faults"))
    check("ffprobe: the rtmp stream plays after the outage", p.get("codec_name") == "aac", p)
    src = [s for s in ice.sources() if s.get("listenurl", "").endswith("/faults.ogg")]
    check("icecast lists the mount after the outage", src, ice.sources())


def main():
    t0 = time.monotonic()
    try:
        with servers.Nginx() as nginx, servers.Icecast() as ice, JackDummy() as jack, \
                Airmixd(backend="jack", extra_conf=CONF + jack.conf()) as d:
            check("the daemon runs on the JACK dummy clock", d.get("/api/v1/health")[1].get("clock") == "jack",
                  d.get("/api/v1/health")[1])
            status, node = d.request("POST", "/api/v1/graph/nodes", TONE)[:2]
            check("1 kHz tone on the publish bus", status == 201, node)
            test_stream_key(d, nginx)
            start_pair(d, nginx, ice)
            test_freeze(d, nginx, ice)
            test_outage(d, nginx, ice)
            d.check_clean_stop()
    except RuntimeError as e:
        check("servers and daemon start", False, e)
    print("# took %.0f s" % (time.monotonic() - t0))
    finish()


if __name__ == "__main__":
    main()
