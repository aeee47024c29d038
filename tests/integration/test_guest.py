#!/usr/bin/env python3
"""test_guest.py - browser guests over WebRTC: the guest page in headless
Chromium against a real airmixd.

Starts airmixd (internal clock, a bearer token for the API, [rtc] app id and
key, [webrtc] host candidates on 127.0.0.1 only: no packet leaves loopback),
creates the rooms "studio" and "lobby", writes the guests' microphone tones
(1 kHz and 700 Hz, fed to Chromium with --use-file-for-fake-audio-capture)
and a 440 Hz cart into the media folder, and runs tests/browser/test_guest.mjs,
which opens guest links, drives the pages and checks (see its header): the
guest's tone in the publish bus, the cart and not the guest's own tone in
what the page receives, two guests with one page closed abruptly, expired
and forged tokens, a plain-http link (no microphone outside a secure
context), the green room, a kick, and a guest in Firefox (firefox-esr over
WebDriver BiDi, when installed). Then a second airmixd with a self-signed
certificate: the page over https:// signals over wss:// and goes live. Each
"ok - " / "not ok - " line of the script is one check here.

Under AIRMIX_SANITIZER (ASan) the same checks run with longer waits.
"""
import os
import secrets
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from airmixd import Airmixd, BIN, check, finish  # noqa: E402
from test_browser import CHROMIUM, node_checks, npm_ci, write_tone  # noqa: E402

ARTEFACTS = os.path.join(os.environ.get("ARTEFACTS", os.path.join(BIN, "artefacts")), "guest")
APP_ID = "123456781234567812345678"
APP_KEY = "guest-test-key"
NODE_LIMIT_S = 600 if os.environ.get("AIRMIX_SANITIZER") else 360
CONF = """[rtc]
app_id = %s
app_key = %s
[webrtc]
interfaces = 127.0.0.1
""" % (APP_ID, APP_KEY)


def run_node(env):
    """test_guest.mjs's lines as checks; its exit status."""
    return node_checks("test_guest.mjs", env, NODE_LIMIT_S)


def tls_run(env, token):
    """The node script's GUEST_MODE=tls against an airmixd speaking HTTPS
    with a self-signed certificate for studio.test and 127.0.0.1."""
    t = Airmixd(token=token, extra_conf=CONF)
    cert = t.use_tls(("DNS:studio.test", "IP:127.0.0.1"))
    if not check("openssl made a self-signed certificate", cert, t.tls_error):
        t.cleanup()
        return
    try:
        try:
            t.start()
        except RuntimeError as e:
            check("airmixd starts with tls_cert and tls_key", False, str(e)[-1500:])
            return
        rc = run_node(dict(env, AIRMIX_URL="https://127.0.0.1:%d" % t.port, GUEST_MODE="tls",
                           NODE_EXTRA_CA_CERTS=cert))
        check("the HTTPS browser script exits cleanly", rc == 0, "exit status %s" % rc)
        check("the HTTPS airmixd stops cleanly", t.stop() == 0, t.log_text()[-1500:])
    finally:
        t.cleanup()


def full_leak_stacks():
    """Under ASan: GStreamer makes GLib grow its quark table, and GLib leaves
    the first block (allocated by its constructor) behind on purpose. GLib
    has no frame pointers, so only the slow unwinder reaches _dl_init, which
    tests/lib/lsan.supp suppresses; for this suite's daemons only."""
    if os.environ.get("AIRMIX_SANITIZER"):
        opts = os.environ.get("ASAN_OPTIONS", "")
        os.environ["ASAN_OPTIONS"] = (opts + ":" if opts else "") + "fast_unwind_on_malloc=0"


def main():
    full_leak_stacks()
    have = all(shutil.which(x) for x in ("node", "npm")) and os.access(CHROMIUM, os.X_OK)
    if not check("node, npm and %s are installed (debian/deps.sh test)" % CHROMIUM, have):
        finish()
    if not check("playwright-core is installed in tests/browser (npm ci)", npm_ci()):
        finish()
    os.makedirs(ARTEFACTS, exist_ok=True)
    token = secrets.token_hex(16)
    d = Airmixd(token=token, extra_conf=CONF)
    media = os.path.join(d.data_dir, "media")
    os.makedirs(media, exist_ok=True)
    # whole cycles per file: the loops (Chromium's fake capture, the cart) are seamless
    write_tone(os.path.join(media, "cart.wav"), seconds=4.0, dbfs=-12.0, freq=440.0)
    tones_dir = tempfile.mkdtemp(prefix="airmix-guest-tones.")
    tones = {}
    for hz in (1000, 700):
        tones[hz] = os.path.join(tones_dir, "mic-%d.wav" % hz)
        write_tone(tones[hz], seconds=2.0, dbfs=-12.0, freq=float(hz))
    try:
        run_both(d, token, tones)
    finally:
        shutil.rmtree(tones_dir, ignore_errors=True)
    finish()


def run_both(d, token, tones):
    """The plain-HTTP daemon's scenario, then the HTTPS one."""
    try:
        try:
            d.start()
        except RuntimeError as e:
            check("airmixd starts with [webrtc]", False, str(e)[-1500:])
            return
        for room in ("studio", "lobby"):
            st, body, _ = d.request("POST", "/api/v1/rooms", {"room": room})
            check("room %s created" % room, st == 201, (st, body))
        env = dict(os.environ, AIRMIX_URL=d.url, AIRMIX_TOKEN=token, AIRMIX_DATA=d.data_dir,
                   TONE_1000=tones[1000], TONE_700=tones[700], CART="cart.wav",
                   ARTEFACTS=ARTEFACTS, CHROMIUM=CHROMIUM)
        rc = run_node(env)
        check("the browser script exits cleanly", rc == 0, "exit status %s" % rc)
        check("airmixd is still running after the guests", d.alive(), d.log_text()[-1500:])
        d.check_clean_stop()
    finally:
        if os.environ.get("AIRMIX_KEEP_TMP") == "1":
            print("# kept %s" % d.tmp)
        d.cleanup()
    tls_run(env, token)


if __name__ == "__main__":
    main()
