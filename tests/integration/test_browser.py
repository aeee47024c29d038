"""test_browser.py - the admin page in headless Chromium against a real airmixd.

Installs the pinned playwright-core into tests/browser/node_modules when it
is missing (npm ci, from npm's cache when offline), writes a 3 s -6 dBFS
tone into the media folder, sets the admin and operator passwords with airmixctl passwd,
starts airmixd (with a bearer token for the script's API read-backs) and
runs tests/browser/test_page.mjs. Each "ok - " / "not ok - "
line of the node script is one check here; when it prints "## restart" the
daemon is stopped and started again on the same port and data folder, and
the script is told "restarted" ("## restart open" restarts it without the
password and the token: a logged-in page must then carry on by itself). Screenshots and downloads go to
$BUILD/artefacts/browser/.

Under ASan (AIRMIX_SANITIZER=asan) the suite runs too: only the meter-rate
check is relaxed (the sanitized daemon is slower; the page is not).
"""
import math
import os
import secrets
import shutil
import struct
import subprocess
import sys
import threading
import time
import wave

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from airmixd import Airmixd, BIN, TOP, check, finish  # noqa: E402

BROWSER_DIR = os.path.join(TOP, "tests", "browser")
ARTEFACTS = os.path.join(os.environ.get("ARTEFACTS", os.path.join(BIN, "artefacts")), "browser")
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
NODE_LIMIT_S = 420


def write_tone(path, seconds=3.0, rate=48000, dbfs=-6.0, freq=440.0):
    amp = 10 ** (dbfs / 20) * 32767
    frames = bytearray()
    for i in range(int(seconds * rate)):
        v = int(round(amp * math.sin(2 * math.pi * freq * i / rate)))
        frames += struct.pack("<hh", v, v)
    with wave.open(path, "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(bytes(frames))


def npm_ci():
    """node_modules from package-lock.json; True when playwright-core is there."""
    mod = os.path.join(BROWSER_DIR, "node_modules", "playwright-core", "package.json")
    if os.path.exists(mod):
        return True
    for extra in (["--prefer-offline"], ["--offline"]):
        r = subprocess.run(["npm", "ci", "--no-audit", "--no-fund"] + extra, cwd=BROWSER_DIR,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=300)
        if r.returncode == 0 and os.path.exists(mod):
            return True
        print("# npm ci %s: %s" % (" ".join(extra), r.stdout.decode(errors="replace")[-400:]))
    return False


def password_hash(conf_path, password, user="admin"):
    """Sets a user's password with airmixctl passwd (which edits the file)
    and returns the config line it wrote, for Airmixd's own config text."""
    r = subprocess.run([os.path.join(BIN, "airmixctl"), "passwd", "--user", user, "--config",
                        conf_path],
                       input=("%s\n%s\n" % (password, password)).encode(),
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=30)
    with open(conf_path) as f:
        line = [x for x in f.read().splitlines() if x.startswith(user + "_password_hash")]
    check("airmixctl passwd sets the %s password" % user, r.returncode == 0 and len(line) == 1,
          r.stdout.decode(errors="replace")[-300:])
    return "[http]\n%s\n" % (line[0] if line else "")


def node_checks(script, env, limit_s, on_line=None):
    """Runs a node script of BROWSER_DIR: its "ok - " and "not ok - " lines
    are checks; any other line goes to on_line(line, proc) when given (which
    returns whether it took it), else it is printed. The script is killed
    after limit_s. Returns its exit status."""
    proc = subprocess.Popen(["node", os.path.join(BROWSER_DIR, script)], cwd=BROWSER_DIR,
                            env=env, stdin=subprocess.PIPE if on_line else subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    timer = threading.Timer(limit_s, proc.kill)
    timer.start()
    try:
        for raw in proc.stdout:
            line = raw.decode(errors="replace").rstrip("\n")
            if line.startswith("ok - "):
                check(line[5:], True)
            elif line.startswith("not ok - "):
                what, _, detail = line[9:].partition(": ")
                check(what, False, detail)
            elif not (on_line and on_line(line, proc)):
                print("# node: %s" % line, flush=True)
        return proc.wait(timeout=10)
    finally:
        timer.cancel()
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def run_node(d, env, hash_conf):
    """Runs test_page.mjs, serving its restart requests ("## restart", or
    "## restart open": without the password). Returns its exit status."""
    def restart(line, proc):
        if not line.startswith("## restart"):
            return False
        try:	# keep the first daemon's log beside the next one's
            shutil.copy(d.log_path, d.log_path + ".%d" % time.monotonic_ns())
        except OSError as e:
            print("# cannot keep the log: %s" % e)
        if line == "## restart open":	# no password, no token: the open mode
            d.extra_conf = d.extra_conf.replace(hash_conf, "")
            d.token = ""
        check("airmixd stops cleanly for the restart", d.stop() == 0, d.log_text()[-500:])
        time.sleep(0.5)
        try:
            d.start()
            answer = "restarted"
        except RuntimeError as e:
            print("# restart failed: %s" % e)
            answer = "failed"
        proc.stdin.write((answer + "\n").encode())
        proc.stdin.flush()
        return True

    return node_checks("test_page.mjs", env, NODE_LIMIT_S, restart)


def main():
    have = all(shutil.which(x) for x in ("node", "npm")) and os.access(CHROMIUM, os.X_OK)
    if not check("node, npm and %s are installed (debian/deps.sh test)" % CHROMIUM, have):
        finish()
    if not check("playwright-core is installed in tests/browser (npm ci)", npm_ci()):
        finish()
    os.makedirs(ARTEFACTS, exist_ok=True)
    token = secrets.token_hex(16)
    password = "pw-" + secrets.token_hex(8)
    operator_password = "op-" + secrets.token_hex(8)
    d = Airmixd(token=token, extra_conf="[http]\nmeter_fps = 25\n[rtc]\n"
                "app_id = 123456781234567812345678\napp_key = browser-test-key\n")
    media = os.path.join(d.data_dir, "media")
    os.makedirs(media, exist_ok=True)
    write_tone(os.path.join(media, "tone.wav"))
    with open(d.conf_path, "w") as f:	# airmixctl passwd edits an existing file
        f.write(d._config())
    hash_conf = password_hash(d.conf_path, password)
    hash_conf += password_hash(d.conf_path, operator_password, "operator")
    d.extra_conf += hash_conf
    try:
        d.start()
        env = dict(os.environ, AIRMIX_URL=d.url, AIRMIX_TOKEN=token, AIRMIX_PASSWORD=password,
                   AIRMIX_OPERATOR_PASSWORD=operator_password,
                   AIRMIX_CONF=d.conf_path, AIRMIX_MEDIA="tone.wav", ARTEFACTS=ARTEFACTS,
                   CHROMIUM=CHROMIUM)
        rc = run_node(d, env, hash_conf)
        check("the browser script exits cleanly", rc == 0, "exit status %s" % rc)
        check("airmixd is still running after the browser tests", d.alive())
        if d.rtcheck_active:
            v = d.rtcheck_violations()
            check("no RT-safety violations", not v, "; ".join(v[:3]))
        check("airmixd stops cleanly", d.stop() == 0, d.log_text()[-500:])
    finally:
        if os.environ.get("AIRMIX_KEEP_TMP") == "1":
            print("# kept %s" % d.tmp)
        d.cleanup()
    finish()


if __name__ == "__main__":
    main()
