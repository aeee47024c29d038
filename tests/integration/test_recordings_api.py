#!/usr/bin/python3
"""test_recordings_api.py - disk takes over REST on the internal clock.

Starts airmixd, adds a tone on the publish bus, records the publish bus and
the tone node as 16-bit WAV for about 2 s, stops, and reads both files back
with the wave module: the tone is there, both have the same length. Then
list, get, delete, a FLAC take by node names, a playing mixing id, bad requests (unknown track,
bad format and bits, wrong types, unknown take, delete while recording,
stop twice), markers, and crashes: airmixd killed with SIGKILL at random
instants during takes (AIRMIX_CRASH_ROUNDS, default 3) and restarted
recovers every .part file; and the RT-safety log stays clean.
"""
import array
import math
import os
import random
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from airmixd import Airmixd, check, finish  # noqa: E402

CONF = "[recorder]\nwarn_free_mb = 0\nmin_free_mb = 1\nheader_interval_ms = 200\n"


def read_wav16(path):
    import wave
    with wave.open(path, "rb") as w:
        frames = w.getnframes()
        data = array.array("h", w.readframes(frames))
        return w.getnchannels(), w.getframerate(), w.getsampwidth(), frames, data


def rms(data):
    if not data:
        return 0.0
    return math.sqrt(sum(float(x) * x for x in data) / len(data)) / 32768.0


def write_tone_wav(path, seconds, freq=330.0, rate=48000, amp=0.3):
    import struct
    import wave
    frames = bytearray()
    for i in range(int(seconds * rate)):
        v = int(32767 * amp * math.sin(2 * math.pi * freq * i / rate))
        frames += struct.pack("<hh", v, v)
    with wave.open(path, "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(bytes(frames))


def sox_samples(path):
    """Frames per channel as sox reports them, or None when sox fails."""
    try:
        out = subprocess.run(["/usr/bin/sox", "--i", "-s", path], capture_output=True,
                             text=True, timeout=10)
        return int(out.stdout.strip()) if out.returncode == 0 else None
    except (OSError, ValueError, subprocess.TimeoutExpired):
        return None


def is_error(body, domain, name):
    e = body.get("error") if isinstance(body, dict) else None
    return isinstance(e, dict) and e.get("domain") == domain and e.get("name") == name \
        and isinstance(e.get("code"), int) and isinstance(e.get("message"), str)


def wait_state(d, tid, state, seconds=5.0):
    end = time.monotonic() + seconds
    body = None
    while time.monotonic() < end:
        st, body = d.get("/api/v1/recordings/%d" % tid)
        if st == 200 and body.get("state") == state:
            return body
        time.sleep(0.05)
    return body


def take_and_check(d, tone_id):
    st, take, h = d.request("POST", "/api/v1/recordings", {
        "tracks": ["publish", str(tone_id)], "format": "wav", "bits": 16,
        "name": "%Y%m%d-{track}", "description": "integration"})
    tid = take.get("id", 0) if isinstance(take, dict) else 0
    check("POST recordings: 201 with the take", st == 201 and tid > 0
          and take.get("state") == "recording" and len(take.get("files", [])) == 2, (st, take))
    check("POST recordings: location header",
          h.get("location") == "/api/v1/recordings/%d" % tid, h.get("location"))
    time.sleep(2.0)
    st, mid = d.get("/api/v1/recordings/%d" % tid)
    check("GET while recording: frames grow, files are .part",
          st == 200 and mid.get("frames", 0) > 48000
          and all(f["path"].endswith(".part") for f in mid.get("files", [])), (st, mid))
    st, mark, _ = d.request("POST", "/api/v1/recordings/%d/markers" % tid, {"label": "chapter 1"})
    check("POST markers: 201 at the current position", st == 201
          and mark.get("frame", 0) >= mid.get("frames", 0) and mark.get("label") == "chapter 1",
          (st, mark))
    st, data, _ = d.request("POST", "/api/v1/recordings/%d/markers" % tid, {"label": "x" * 64})
    check("marker label too long: 400 API_OUT_OF_RANGE",
          st == 400 and is_error(data, "api", "API_OUT_OF_RANGE"), (st, data))
    st, data, _ = d.request("DELETE", "/api/v1/recordings/%d" % tid)
    check("DELETE while recording: 409 RECORDER_TAKE_RUNNING",
          st == 409 and is_error(data, "recorder", "RECORDER_TAKE_RUNNING"), (st, data))
    st, done, _ = d.request("POST", "/api/v1/recordings/%d/stop" % tid)
    check("stop: 200, state stopped", st == 200 and done.get("state") == "stopped", (st, done))
    marks = done.get("markers", [])
    sidecar = done.get("markers_path") or ""
    check("the marker is listed with the take and in its CSV sidecar",
          len(marks) == 1 and marks[0].get("label") == "chapter 1" and os.path.isfile(sidecar)
          and open(sidecar).read().splitlines()[1].endswith(',"chapter 1"'), (marks, sidecar))
    st, data, _ = d.request("POST", "/api/v1/recordings/%d/markers" % tid, {})
    check("marker on a stopped take: 409 RECORDER_NOT_RECORDING",
          st == 409 and is_error(data, "recorder", "RECORDER_NOT_RECORDING"), (st, data))
    paths_extra = [sidecar]
    secs = done.get("seconds", 0)
    check("duration about 2 s", 1.8 < secs < 4.0, secs)
    files = done.get("files", [])
    paths = [f.get("path", "") for f in files]
    check("files exist under their final names", len(paths) == 2 and all(
        os.path.isfile(p) and p.endswith(".wav") and not p.endswith(".part") for p in paths),
        paths)
    check("file sizes reported", all(f.get("bytes") == os.path.getsize(f["path"])
                                     for f in files if os.path.isfile(f.get("path", ""))), files)
    lengths = []
    for f in files:
        try:
            ch, rate, width, frames, data = read_wav16(f["path"])
        except Exception as exc:  # noqa: BLE001
            check("%s reads with wave" % f.get("track"), False, exc)
            continue
        lengths.append(frames)
        check("%s: 16-bit stereo 48 kHz" % f["track"], ch == 2 and rate == 48000 and width == 2,
              (ch, rate, width))
        level = rms(data)
        check("%s: the tone is there (rms %.4f)" % (f["track"], level), level > 0.05, level)
        check("%s: frames match the take" % f["track"], frames == done.get("frames"),
              (frames, done.get("frames")))
    check("both stems have the same length", len(lengths) == 2 and lengths[0] == lengths[1],
          lengths)
    if os.path.exists("/usr/bin/sox"):
        counts = [sox_samples(p) for p in paths]
        check("sox reads both files with the same length", counts == lengths, (counts, lengths))
    return tid, paths + paths_extra


def run(d):
    st, node, _ = d.request("POST", "/api/v1/graph/nodes", {
        "kind": "tone", "name": "tone1", "frequency_hz": 440, "level_dbfs": -12,
        "buses": ["publish"]})
    tone_id = node.get("id", 0) if isinstance(node, dict) else 0
    check("tone node added", st == 201 and tone_id >= 16, (st, node))

    tid, paths = take_and_check(d, tone_id)

    st, lst = d.get("/api/v1/recordings")
    check("list holds the take", st == 200 and any(
        t.get("id") == tid for t in lst.get("recordings", [])), (st, lst))
    st, data, _ = d.request("POST", "/api/v1/recordings/%d/stop" % tid)
    check("stop twice: 409 RECORDER_NOT_RECORDING",
          st == 409 and is_error(data, "recorder", "RECORDER_NOT_RECORDING"), (st, data))
    st, data, _ = d.request("DELETE", "/api/v1/recordings/%d" % tid)
    check("DELETE: 200", st == 200 and data.get("deleted") is True, (st, data))
    check("DELETE removes the files", not any(os.path.exists(p) for p in paths), paths)
    st, data = d.get("/api/v1/recordings/%d" % tid)
    check("GET deleted take: 404 RECORDER_TAKE_NOT_FOUND",
          st == 404 and is_error(data, "recorder", "RECORDER_TAKE_NOT_FOUND"), (st, data))

    # names of tracks, FLAC and float
    st, take, _ = d.request("POST", "/api/v1/recordings", {
        "tracks": ["tone1", "playout"], "mix": True, "format": "flac", "bits": 24})
    check("FLAC take by node name, playout and the mix: 3 files",
          st == 201 and [f["track"] for f in take.get("files", [])]
          == ["tone1", "playout", "publish"], (st, take))
    time.sleep(0.3)
    st, done, _ = d.request("POST", "/api/v1/recordings/%d/stop" % take.get("id", 0))
    check("FLAC files written", st == 200 and all(
        f["path"].endswith(".flac") and os.path.getsize(f["path"]) > 0
        for f in done.get("files", [])), (st, done))

    # a playing mixing id, by "mixing:<id>"
    write_tone_wav(os.path.join(d.data_dir, "media", "bed.wav"), 3.0)
    st, mix, _ = d.request("POST", "/api/v1/mixing/1/start", {"path": "bed.wav"})
    check("mixing id 1 playing", st == 200, (st, mix))
    st, take, _ = d.request("POST", "/api/v1/recordings", {"tracks": ["mixing:1"], "bits": 16})
    files = take.get("files", []) if isinstance(take, dict) else []
    check("take of mixing:1 records its node", st == 201 and len(files) == 1
          and files[0].get("node_id") == (mix or {}).get("node_id"), (st, take, mix))
    time.sleep(0.5)
    st, done, _ = d.request("POST", "/api/v1/recordings/%d/stop" % take.get("id", 0))
    try:
        level = rms(read_wav16(done["files"][0]["path"])[4])
    except Exception as exc:  # noqa: BLE001
        level = exc
    check("the mixing stem holds the music (rms %s)" % level,
          isinstance(level, float) and level > 0.05, level)

    # bad requests
    cases = [
        ({"tracks": ["mixing:99"]}, 404, "recorder", "RECORDER_UNKNOWN_TRACK"),
        ({"tracks": ["9999"]}, 404, "recorder", "RECORDER_UNKNOWN_TRACK"),
        ({"tracks": ["nosuchnode"]}, 404, "recorder", "RECORDER_UNKNOWN_TRACK"),
        ({"format": "mp3"}, 400, "api", "API_OUT_OF_RANGE"),
        ({"format": "flac", "bits": 32}, 400, "recorder", "RECORDER_INVALID_FORMAT"),
        ({"bits": 20}, 400, "recorder", "RECORDER_INVALID_FORMAT"),
        ({"bits": "24"}, 400, "api", "API_WRONG_TYPE"),
        ({"tracks": "publish"}, 400, "api", "API_WRONG_TYPE"),
        ({"tracks": []}, 400, "api", "API_OUT_OF_RANGE"),
        ({"mix": 1}, 400, "api", "API_WRONG_TYPE"),
        ({"bogus": 1}, 400, "api", "API_UNKNOWN_FIELD"),
    ]
    for body, status, domain, name in cases:
        st, data, _ = d.request("POST", "/api/v1/recordings", body)
        check("POST %s: %d %s" % (body, status, name),
              st == status and is_error(data, domain, name), (st, data))
    st, data = d.get("/api/v1/recordings/777")
    check("GET unknown take: 404", st == 404 and is_error(data, "recorder",
                                                         "RECORDER_TAKE_NOT_FOUND"), (st, data))
    st, data, _ = d.request("POST", "/api/v1/recordings/777/stop")
    check("stop unknown take: 404", st == 404, (st, data))
    st, data, _ = d.request("POST", "/api/v1/recordings/777/markers", {"label": "a"})
    check("marker on an unknown take: 404", st == 404 and is_error(
        data, "recorder", "RECORDER_TAKE_NOT_FOUND"), (st, data))
    st, data = d.get("/api/v1/recordings/abc")
    check("GET /recordings/abc: 404", st == 404, (st, data))


def crash_and_recover(rounds=3):
    """SIGKILL at random instants during a take; each restart recovers the
    .part file: wave and sox read it, the tone is there, a history row."""
    d = Airmixd(extra_conf=CONF + "[tone]\nenabled = true\n")
    rec = os.path.join(d.data_dir, "recordings")
    rng = random.Random(5)
    d.start()
    try:
        for i in range(rounds):
            name = "crash%d" % i
            st, take, _ = d.request("POST", "/api/v1/recordings", {"bits": 16, "name": name})
            check("crash take %d started" % i, st == 201, (st, take))
            delay = rng.uniform(0.6, 1.6)
            time.sleep(delay)
            d.proc.send_signal(signal.SIGKILL)
            d.proc.wait(timeout=5)
            parts = [f for f in os.listdir(rec) if f.endswith(".part")]
            check("kill -9 after %.2f s left %s.wav.part" % (delay, name),
                  parts == [name + ".wav.part"], parts)
            d.log.close()
            d.start()
            path = os.path.join(rec, name + ".wav")
            check("restart recovered %s.wav" % name, os.path.isfile(path)
                  and not os.path.exists(path + ".part"), sorted(os.listdir(rec)))
            try:
                ch, rate, width, frames, data = read_wav16(path)
                lost = delay - frames / 48000.0
                check("%s reads, tone present, %.3f s lost (at most header interval + ring)"
                      % (name, lost), frames >= 24000 and rms(data) > 0.05 and lost < 4.3,
                      (frames, rms(data)))
                if os.path.exists("/usr/bin/sox"):
                    check("sox reads %s" % name, sox_samples(path) == frames, sox_samples(path))
            except Exception as exc:  # noqa: BLE001
                check("%s reads" % name, False, exc)
        found, hist = 0, None
        end = time.monotonic() + 5.0
        while found < rounds and time.monotonic() < end:
            st, hist = d.get("/api/v1/history?domain=recorder&limit=100")
            rows = hist.get("rows", []) if isinstance(hist, dict) else []
            found = sum(r.get("name") == "RECORDER_FILE_RECOVERED" for r in rows)
            time.sleep(0.1)
        check("a recovery row in the history for each crash (%d)" % found, found == rounds,
              hist)
    finally:
        d.stop()
        violations = d.rtcheck_violations()
        if d.rtcheck_active:
            check("no RT-safety violations around the crashes", not violations, violations[:5])
        d.cleanup()


def main():
    d = Airmixd(extra_conf=CONF)
    d.start()
    try:
        run(d)
    finally:
        rc = d.stop()
        check("airmixd stops cleanly with takes made (exit %s)" % rc, rc == 0, d.log_text()[-2000:])
        violations = d.rtcheck_violations()
        if d.rtcheck_active:
            check("no RT-safety violations while recording", not violations, violations[:5])
        d.cleanup()
    crash_and_recover(int(os.environ.get("AIRMIX_CRASH_ROUNDS", "3")))
    finish()


if __name__ == "__main__":
    main()
