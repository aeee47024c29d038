"""airmixd.py - start and stop an airmixd for a test, plus tiny TAP-style checks.

    from airmixd import Airmixd, check, finish
    with Airmixd(extra_conf="[http]\\nmeter_fps = 20\\n") as d:
        status, body = d.get("/api/v1/health")
        check("health answers", status == 200)
    finish()

Airmixd writes a temporary config and data dir, picks a free port, runs
$BUILD/airmixd (BUILD defaults to "build", relative to the repository top)
with the RT-safety shim $BUILD/librtcheck.so preloaded when it exists (not
when AIRMIX_NO_RTCHECK=1, which the suite runner sets for sanitizer builds),
waits for /api/v1/health (bounded), and stops the daemon by its PID (SIGTERM,
then SIGKILL after 5 s). Every wait here is bounded.
"""
import http.client
import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time

import stalls
from procs import stop_process

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.environ.get("BUILD", "build")
BIN = BUILD if os.path.isabs(BUILD) else os.path.join(TOP, BUILD)

_passed = 0
_failed = 0


def check(what, ok, detail=""):
    """Prints "ok - what" or "not ok - what: detail"; returns ok."""
    global _passed, _failed
    if ok:
        _passed += 1
        print("ok - %s" % what, flush=True)
    else:
        _failed += 1
        print("not ok - %s%s" % (what, (": " + str(detail)) if detail else ""), flush=True)
    return bool(ok)


def finish():
    """Prints the summary line and exits non-zero when anything failed."""
    print("# passed %d failed %d" % (_passed, _failed), flush=True)
    sys.exit(1 if _failed else 0)


def check_xruns(health, detail="", witness_log=None):
    """Zero xruns of airmix's own from a /api/v1/health reply: an xrun is
    excused only when the stall witness (stalls.py) saw the machine stalled
    in that cycle for as long as it ran over. Under a sanitizer (the suite
    runner sets AIRMIX_SANITIZER) cycle times are not the product's, as
    with lib.sh's check_timing_eq: the count is printed and only a running,
    connected clock is asserted there."""
    h = health or {}
    san = os.environ.get("AIRMIX_SANITIZER")
    if san:
        print("# note: %s xrun(s) under %s, not asserted" % (h.get("xruns"), san), flush=True)
        return check("the clock kept running (%s)" % san,
                     h.get("running") is True and not h.get("clock_lost"), h)
    if "xruns" not in h:
        return check("zero xruns", False, h)
    own, lines = stalls.judge(h, witness_log or "")
    for line in lines:
        print("# " + line, flush=True)
    return check("zero xruns of airmix's own (%d during witnessed machine stalls)"
                 % (h["xruns"] - own), own == 0, (own, detail) if detail else h)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class JackDummy:
    """A private JACK server, `jackd --no-realtime -d dummy`, under a unique
    name, as tests/lib/jack.sh starts one for shell tests. Not SCHED_FIFO: on
    a VM the host's own preemption of the vCPU would show up as wall-clock
    overruns of the process callback; without real time, airmix times its
    cycles on the thread's CPU clock (engine/clock_jack.c). Stopped by its PID
    with SIGTERM so that it leaves the machine-wide registry, which holds only
    8 servers. conf() is the [jack] section that points airmixd at it."""

    def __init__(self, rate=48000, period=256):
        self.name = "airmix-test-%d-%d" % (os.getpid(), int(time.monotonic() * 1000) % 100000)
        self.rate, self.period = rate, period
        self.proc = None
        self.log_path = os.path.join(tempfile.mkdtemp(prefix="airmix-jack."), "jackd.log")

    def _answers(self):
        r = subprocess.run(["jack_lsp", "-s", self.name], capture_output=True, timeout=5,
                           env=dict(os.environ, JACK_NO_START_SERVER="1"))
        return r.returncode == 0

    def start(self, timeout=10.0):
        env = dict(os.environ, JACK_NO_AUDIO_RESERVATION="1")
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            ["jackd", "--no-realtime", "-n", self.name, "-d", "dummy", "-r", str(self.rate),
             "-p", str(self.period)],
            stdout=self.log, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            if self._answers():
                return self
            time.sleep(0.1)
        self.stop()
        with open(self.log_path) as f:
            raise RuntimeError("jackd %s did not answer within %.0f s: %s"
                               % (self.name, timeout, f.read()[-1000:]))

    def stop(self):
        stop_process(self.proc)
        if self.proc:
            self.log.close()

    def conf(self):
        return "[jack]\nserver_name = %s\n" % self.name

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False


class Airmixd:
    """One daemon on 127.0.0.1:<free port> with a temporary data dir."""

    def __init__(self, backend="internal", extra_conf="", preload_rtcheck=True, token=""):
        self.backend = backend
        self.extra_conf = extra_conf
        self.token = token
        self.preload_rtcheck = preload_rtcheck and os.environ.get("AIRMIX_NO_RTCHECK") != "1"
        self.port = free_port()
        self.url = "http://127.0.0.1:%d" % self.port
        self.ws_url = "ws://127.0.0.1:%d/api/v1/events" % self.port
        self.tmp = tempfile.mkdtemp(prefix="airmix-test.")
        self.data_dir = os.path.join(self.tmp, "data")
        self.conf_path = os.path.join(self.tmp, "airmix.conf")
        self.log_path = os.path.join(self.tmp, "airmixd.log")
        self.rtcheck_log = os.path.join(self.tmp, "rtcheck.log")
        self.stall_log = os.path.join(self.tmp, "stalls.log")
        self.stallwatch = None
        self.proc = None
        self.ssl_ctx = None

    # -- config

    def use_tls(self, names=("IP:127.0.0.1",)):
        """Serve HTTPS and WSS with a fresh self-signed certificate for names
        (subjectAltName entries; the first also gives the CN); this object's
        requests trust it. Returns the certificate's path, or None with the
        reason in self.tls_error when openssl fails."""
        cert, key = os.path.join(self.tmp, "cert.pem"), os.path.join(self.tmp, "key.pem")
        p = subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                            "-subj", "/CN=" + names[0].split(":", 1)[1], "-addext",
                            "subjectAltName=" + ",".join(names), "-keyout", key, "-out", cert],
                           capture_output=True, text=True, timeout=60)
        self.tls_error = p.stderr
        if p.returncode != 0:
            return None
        self.extra_conf += "\n[http]\ntls_cert = %s\ntls_key = %s\n" % (cert, key)
        self.ssl_ctx = ssl.create_default_context(cafile=cert)
        self.url = "https://127.0.0.1:%d" % self.port
        return cert

    def _config(self):
        """The documented keys this test needs; extra_conf may repeat a
        section to add keys (sections may appear more than once in INI)."""
        http = ["listen = 127.0.0.1", "port = %d" % self.port]
        if self.token:
            http.append('token = "%s"' % self.token)
        return "\n".join([
            "[engine]",
            "backend = %s" % self.backend,
            "sample_rate = 48000",
            "period_frames = 256",
            "lock_memory = false",
            "[http]",
        ] + http + ["[log]", "level = warning", ""]) + self.extra_conf + "\n"

    # -- lifetime

    def start(self, timeout=15.0):
        os.makedirs(self.data_dir, exist_ok=True)
        with open(self.conf_path, "w") as f:
            f.write(self._config())
        env = dict(os.environ)
        shim = os.path.join(BIN, "librtcheck.so")
        if self.preload_rtcheck and os.path.exists(shim):
            env["LD_PRELOAD"] = shim
            env["AIRMIX_RTCHECK_LOG"] = self.rtcheck_log
        self.rtcheck_active = "LD_PRELOAD" in env and env["LD_PRELOAD"] == shim
        if not os.environ.get("AIRMIX_SANITIZER") and not self.stallwatch:
            self.stallwatch = stalls.StallWatch(self.stall_log, BIN).start()
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            [os.path.join(BIN, "airmixd"), "--config", self.conf_path, "--data-dir",
             self.data_dir, "--backend", self.backend],
            stdout=self.log, stderr=subprocess.STDOUT, env=env, cwd=self.tmp)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.stop()
                raise RuntimeError("airmixd exited with %s: %s" % (self.proc.returncode,
                                                                  self.log_text()[-2000:]))
            try:
                status, _ = self.get("/api/v1/health", timeout=1.0)
                if status == 200:
                    return self
            except OSError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError("airmixd did not answer within %.0f s" % timeout)

    def check_clean_stop(self):
        """The checks a suite ends with: zero xruns (their history rows as
        the detail), zero RT-safety violations, then a clean exit."""
        status, h = self.get("/api/v1/health")
        rows = (self.get("/api/v1/history?domain=engine&limit=100")[1] or {}).get("rows", [])
        xr = [(r.get("time_us", 0) // 100000 / 10.0, r.get("message")) for r in rows
              if r.get("name") == "ENGINE_XRUN"]
        check_xruns(h if status == 200 else None, xr, self.stall_log)
        if self.rtcheck_active:
            v = self.rtcheck_violations()
            check("zero RT-safety violations", not v, v[:5])
        check("airmixd exits cleanly", self.stop() == 0, self.log_text()[-2000:])

    def stop(self):
        """SIGTERM, then SIGKILL after 5 s, and the stall witness. Returns
        the exit status."""
        if self.stallwatch:
            self.stallwatch.stop()
            self.stallwatch = None
        if not self.proc:
            return None
        stop_process(self.proc)
        self.log.close()
        return self.proc.returncode

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def cleanup(self):
        self.stop()
        if os.environ.get("AIRMIX_KEEP_TMP") != "1":
            shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.cleanup()

    # -- inspection

    def log_text(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def rtcheck_violations(self):
        """Lines in the RT-safety log (each one a violation report line)."""
        try:
            with open(self.rtcheck_log, errors="replace") as f:
                return [line for line in f.read().splitlines() if line.strip()]
        except OSError:
            return []

    # -- HTTP

    def request(self, method, path, body=None, headers=None, timeout=10.0, token=None):
        """Returns (status, parsed JSON or raw text or None, response headers).
        body: dict/list (sent as JSON), str/bytes (sent as is) or None."""
        if self.ssl_ctx:
            conn = http.client.HTTPSConnection("127.0.0.1", self.port, timeout=timeout,
                                               context=self.ssl_ctx)
        else:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        hdrs = dict(headers or {})
        tok = self.token if token is None else token
        if tok and "Authorization" not in hdrs:
            hdrs["Authorization"] = "Bearer " + tok
        if isinstance(body, (dict, list)):
            body = json.dumps(body)
            hdrs.setdefault("Content-Type", "application/json")
        if isinstance(body, str):
            body = body.encode()
        try:
            conn.request(method, path, body=body, headers=hdrs)
            resp = conn.getresponse()
            raw = resp.read()
            rh = {k.lower(): v for k, v in resp.getheaders()}
            status = resp.status
        finally:
            conn.close()
        data = None
        if raw:
            try:
                data = json.loads(raw)
            except ValueError:
                data = raw.decode(errors="replace")
        return status, data, rh

    def get(self, path, timeout=10.0, token=None):
        status, data, _ = self.request("GET", path, timeout=timeout, token=token)
        return status, data
