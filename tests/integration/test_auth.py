#!/usr/bin/python3
"""test_auth.py - the web admin's security over raw HTTP, against a running airmixd.

airmixctl passwd writes the admin and operator hashes into the config (and
keeps a backup); then, for EVERY state-changing route the server lists in
GET /api/v1/routes (so routes added later are covered by themselves): no
credentials, a made-up session, a logged-out session, a session without or
with a wrong X-CSRF-Token, and an operator where the route needs the admin
are all refused, and nothing changed. Also: the session cookie's flags, the
WebSocket upgrade checked by cookie, the bearer token acting as admin without
CSRF, secrets never returned, uploads (traversal, dot files, extensions,
oversize announced by Content-Length, not audio, 409 on an existing name,
no temporary file left), traversal in media deletes and recording
downloads, settings saved atomically with a backup and applied live, bad
settings refusing the whole request, the CSV export, logout, a new password
on SIGHUP ending old sessions, the login rate limit with Retry-After, TLS
with a self-signed certificate (Secure cookie, HTTPS only), and a
non-loopback listener without a password refusing to start.
"""
import csv
import http.client
import io
import json
import os
import re
import secrets
import signal
import socket
import ssl
import struct
import subprocess
import sys
import time
import wave

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from airmixd import BIN, Airmixd, check, finish, free_port  # noqa: E402

ADMIN_PW = "admin-Pass-1234"
OPER_PW = "operator-Pass-5678"
TOKEN = "script-token-" + secrets.token_hex(8)
AIRMIXCTL = os.path.join(BIN, "airmixctl")


def passwd(conf, user, pw, again=None, extra=()):
    p = subprocess.run([AIRMIXCTL, "passwd", "--user", user, "--config", conf] + list(extra),
                       input="%s\n%s\n" % (pw, pw if again is None else again),
                       capture_output=True, text=True, timeout=30)
    return p.returncode, p.stdout + p.stderr


def write_wav(path, seconds=0.5, rate=48000):
    with wave.open(path, "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(b"\x00\x10" * 2 * int(rate * seconds))


def raw(port, data, timeout=10.0, tls=None):
    """Sends bytes, returns everything the server answers until it closes or
    timeout (bounded)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    if tls:
        s = tls.wrap_socket(s, server_hostname="127.0.0.1")
    out = b""
    try:
        s.sendall(data)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                chunk = s.recv(65536)
            except (socket.timeout, ConnectionResetError):
                break
            if not chunk:
                break
            out += chunk
            if b"\r\n\r\n" in out:
                head, _, body = out.partition(b"\r\n\r\n")
                m = re.search(rb"content-length: *(\d+)", head, re.I)
                if m and len(body) >= int(m.group(1)):
                    break
    finally:
        s.close()
    return out


def status_of(resp):
    m = re.match(rb"HTTP/1\.[01] (\d+)", resp)
    return int(m.group(1)) if m else None


class Client:
    """One browser: a cookie jar of one cookie and its csrf token."""

    def __init__(self, d):
        self.d = d
        self.cookie = None
        self.csrf = None
        self.set_cookie = None

    def login(self, user, pw):
        st, body, h = self.d.request("POST", "/api/v1/session", {"user": user, "password": pw},
                                     token="")
        if st == 200:
            self.set_cookie = h.get("set-cookie", "")
            self.cookie = self.set_cookie.split(";")[0]
            self.csrf = body.get("csrf")
        return st, body, h

    def req(self, method, path, body=None, csrf=True, headers=None):
        hdrs = dict(headers or {})
        if self.cookie:
            hdrs["Cookie"] = self.cookie
        if csrf and self.csrf:
            hdrs.setdefault("X-CSRF-Token", self.csrf)
        return self.d.request(method, path, body, headers=hdrs, token="")


def make_daemon(extra=""):
    """A daemon whose config gets its hashes from airmixctl passwd."""
    d = Airmixd(token=TOKEN)
    os.makedirs(d.tmp, exist_ok=True)
    with open(d.conf_path, "w") as f:
        f.write(d._config())
    rc1, _ = passwd(d.conf_path, "admin", ADMIN_PW)
    rc2, _ = passwd(d.conf_path, "operator", OPER_PW)
    text = open(d.conf_path).read()
    hashes = "".join(line + "\n" for line in text.splitlines() if "_password_hash" in line)
    d.extra_conf = "[http]\n" + hashes + extra
    return d, rc1 == 0 and rc2 == 0


def test_passwd():
    d = Airmixd()
    os.makedirs(d.tmp, exist_ok=True)
    conf = d.conf_path
    with open(conf, "w") as f:
        f.write("# my settings\n[http]\nport = 8080\n")
    before = open(conf).read()
    rc, out = passwd(conf, "admin", ADMIN_PW)
    text = open(conf).read()
    m = re.search(r"^admin_password_hash = (\S+)$", text, re.M)
    check("passwd: exit 0 and a yescrypt hash in [http]", rc == 0 and m and
          m.group(1).startswith("$y$") and text.startswith("# my settings\n[http]\nport = 8080\n"),
          out + text)
    check("passwd: the password itself is nowhere in the file", ADMIN_PW not in text)
    check("passwd: the old file is kept as .bak", open(conf + ".bak").read() == before)
    rc, out = passwd(conf, "operator", OPER_PW, again=OPER_PW + "x")
    check("passwd: two different entries refused (exit 1), file unchanged",
          rc == 1 and "differ" in out and open(conf).read() == text, out)
    rc, out = passwd(conf, "operator", "short")
    check("passwd: a short password refused", rc == 1 and "characters" in out, out)
    rc, out = passwd(conf, "root", OPER_PW)
    check("passwd: unknown user is a usage error (64)", rc == 64, out)
    p = subprocess.run([AIRMIXCTL, "passwd", "--config", conf], input="only-one-line\n",
                       capture_output=True, text=True, timeout=30)
    check("passwd: one line on stdin is not enough", p.returncode == 1, p.stderr)
    rc, out = passwd(conf, "operator", OPER_PW)
    text2 = open(conf).read()
    check("passwd: operator hash added beside the admin's",
          rc == 0 and m.group(0) in text2 and "operator_password_hash = $y$" in text2, text2)
    d.cleanup()


def route_path(pattern):
    return pattern.replace("{id}", "1").replace("{n}", "0")


def test_routes(d, admin, oper):
    st, body, _ = admin.req("GET", "/api/v1/routes")
    routes = body.get("routes", []) if st == 200 else []
    changing = [r for r in routes if r["method"] != "GET"]
    check("GET /api/v1/routes lists the routes (%d, %d state-changing)" % (len(routes),
          len(changing)), st == 200 and len(changing) >= 20, body)
    nodes_before = len(d.get("/api/v1/graph/nodes", token=TOKEN)[1]["nodes"])
    stale = Client(d)
    stale.cookie = "airmix_session=" + secrets.token_hex(32)
    stale.csrf = secrets.token_hex(32)
    gone = Client(d)
    gone.login("admin", ADMIN_PW)
    gone.req("DELETE", "/api/v1/session")
    nocsrf_codes, bad = {}, []
    for r in changing:
        m, path, role = r["method"], route_path(r["path"]), r["role"]
        body = {} if r["json_body"] else None
        if role == "none":
            continue    # logging in
        st, b, _ = d.request(m, path, body, token="")
        if st != 401:
            bad.append("no credentials %s %s: %s" % (m, path, st))
        for who, c in (("made-up session", stale), ("logged-out session", gone)):
            st, b, _ = c.req(m, path, body)
            if st != 401:
                bad.append("%s %s %s: %s" % (who, m, path, st))
        st, b, _ = admin.req(m, path, body, csrf=False)
        if st != 403 or b["error"]["name"] != "API_CSRF_FAILED":
            bad.append("no csrf %s %s: %s %s" % (m, path, st, b))
        st, b, _ = admin.req(m, path, body, headers={"X-CSRF-Token": oper.csrf})
        if st != 403:
            bad.append("another session's csrf %s %s: %s" % (m, path, st))
        if role == "admin":
            st, b, _ = oper.req(m, path, body)
            if st != 403 or b["error"]["name"] != "API_FORBIDDEN":
                bad.append("operator %s %s: %s %s" % (m, path, st, b))
        nocsrf_codes[m] = nocsrf_codes.get(m, 0) + 1
    check("every state-changing route refuses no credentials, stale sessions, missing or "
          "foreign csrf tokens, and the operator where the admin is needed (%s)" % nocsrf_codes,
          not bad, "; ".join(bad[:10]))
    st, b, _ = d.request("PATCH", "/api/v1/graph/nodes/1", {"gain": 0}, headers={
                         "Cookie": admin.cookie}, token="")
    check("PATCH without a csrf token is refused too", st == 403, (st, b))
    nodes_after = len(d.get("/api/v1/graph/nodes", token=TOKEN)[1]["nodes"])
    check("nothing was created by the refused requests", nodes_after == nodes_before,
          (nodes_before, nodes_after))
    roles = {(r["method"], r["path"]): r["role"] for r in routes}
    check("route table: settings and streams need the admin, carts and takes the operator",
          roles.get(("PUT", "/api/v1/config")) == "admin" and
          roles.get(("POST", "/api/v1/cdn/{id}")) == "admin" and
          roles.get(("POST", "/api/v1/mixing/{id}/start")) == "operator" and
          roles.get(("POST", "/api/v1/recordings")) == "operator" and
          roles.get(("POST", "/api/v1/media")) == "operator", roles)


def ws_upgrade(port, cookie=None, query=""):
    key = "dGhlIHNhbXBsZSBub25jZQ=="
    req = ("GET /api/v1/events%s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\n"
           "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n"
           "Sec-WebSocket-Protocol: airmix-events\r\n%s\r\n") % (
        query, port, key, "Cookie: %s\r\n" % cookie if cookie else "")
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    try:
        s.sendall(req.encode())
        data = b""
        deadline = time.monotonic() + 5
        while b"\r\n\r\n" not in data and time.monotonic() < deadline:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    finally:
        s.close()
    return status_of(data)


def test_session_basics(d, admin, oper):
    st, body, _ = d.request("GET", "/api/v1/health", token="")
    check("health answers without a login", st == 200)
    st, body, _ = d.request("GET", "/api/v1/session", token="")
    check("GET /api/v1/session without a session: 401", st == 401, body)
    st, body, _ = d.request("GET", "/api/v1/graph", token="")
    check("a read without a session: 401", st == 401 and body["error"]["code"] == 4008, body)
    sc = admin.set_cookie
    check("the session cookie: 256-bit id, HttpOnly, SameSite=Strict, Path=/, Max-Age, "
          "no Secure on plain HTTP", re.match(r"airmix_session=[0-9a-f]{64};", sc) and
          "HttpOnly" in sc and "SameSite=Strict" in sc and "Path=/" in sc and
          "Max-Age=43200" in sc and "Secure" not in sc, sc)
    st, body, _ = admin.req("GET", "/api/v1/session")
    check("GET /api/v1/session with the cookie: user, role, csrf, expires",
          st == 200 and body["user"] == "admin" and body["role"] == "admin" and
          body["csrf"] == admin.csrf and body["expires"].endswith("Z"), body)
    st, body, _ = oper.req("GET", "/api/v1/session")
    check("the operator's session says operator", st == 200 and body["role"] == "operator", body)
    st, body, _ = d.request("POST", "/api/v1/session", {"user": "admin", "password": "nope"},
                            token="")
    check("a wrong password: 401", st == 401 and body["error"]["name"] == "API_UNAUTHORIZED",
          body)
    st, body, _ = d.request("POST", "/api/v1/graph/nodes", {"kind": "tone"})
    check("the bearer token acts as admin without a csrf token", st == 201, body)
    d.request("DELETE", "/api/v1/graph/nodes/%s" % body.get("id"))
    st, body, _ = oper.req("PUT", "/api/v1/graph/nodes/1", {"gain": 1.0})
    check("the operator may set a bus gain (with its csrf token)", st == 200, body)
    check("WebSocket without a session: refused with 401", ws_upgrade(d.port) == 401)
    check("WebSocket with a made-up cookie: 401",
          ws_upgrade(d.port, "airmix_session=" + "0" * 64) == 401)
    check("WebSocket with the session cookie: 101", ws_upgrade(d.port, admin.cookie) == 101)
    check("WebSocket with ?token=: 101", ws_upgrade(d.port, query="?token=" + TOKEN) == 101)


def test_secrets(d, admin, oper):
    st, body, _ = oper.req("GET", "/api/v1/config")
    keys = {k["name"]: k for k in body.get("keys", [])} if st == 200 else {}
    text = json.dumps(body)
    check("GET /api/v1/config: every key with type, live flag and doc",
          st == 200 and len(keys) > 50 and keys["engine.sample_rate"]["type"] == "int" and
          keys["engine.sample_rate"]["min"] == 8000 and
          keys["log.level"]["choices"] == ["error", "warning", "info", "debug"], st)
    check("secrets are never returned: null values, set flags",
          keys["http.token"]["value"] is None and keys["http.token"]["set"] is True and
          keys["http.admin_password_hash"]["set"] is True and TOKEN not in text and
          "$y$" not in text, [keys.get(k) for k in ("http.token", "http.admin_password_hash")])
    hist = d.get("/api/v1/history?limit=1000", token=TOKEN)[1]
    htext = json.dumps(hist)
    check("no password reached the history", ADMIN_PW not in htext and OPER_PW not in htext and
          "nope" not in htext)


def test_uploads(d, admin, oper):
    media = os.path.join(d.data_dir, "media")
    wav = os.path.join(d.tmp, "clip.wav")
    write_wav(wav)
    data = open(wav, "rb").read()
    hdr = {"Content-Type": "application/octet-stream"}
    st, body, _ = admin.req("POST", "/api/v1/media?name=clip.wav", data, headers=hdr)
    check("upload: a WAV is stored (201) with its duration", st == 201 and
          body["name"] == "clip.wav" and abs(body["duration_s"] - 0.5) < 0.01 and
          open(os.path.join(media, "clip.wav"), "rb").read() == data, (st, body))
    st, body, _ = admin.req("POST", "/api/v1/media?name=clip.wav", data, headers=hdr)
    check("upload: an existing name is 409, never overwritten", st == 409, (st, body))
    st, body, _ = oper.req("POST", "/api/v1/media?name=op.flac", open(wav, "rb").read(),
                           headers=hdr)
    check("upload: the operator may upload (content checked, not the extension)", st == 201,
          (st, body))
    st, body, _ = d.request("POST", "/api/v1/media?name=anon.wav", data, headers=hdr, token="")
    check("upload: without a session 401", st == 401)
    bad_names = ["../evil.wav", "..%2Fevil.wav", "a/b.wav", ".hidden.wav", "x.txt", "",
                 "noext", "a\\b.wav", "%2e%2e%2fevil.wav", "x..wav"]
    bad = []
    for n in bad_names:
        st, body, _ = admin.req("POST", "/api/v1/media?name=" + n, data, headers=hdr)
        if st != 400:
            bad.append("%s: %s" % (n, st))
    st, body, _ = admin.req("POST", "/api/v1/media", data, headers=hdr)
    if st != 400:
        bad.append("no name: %s" % st)
    check("upload: path separators, traversal, dot files, other extensions refused (400)",
          not bad, bad)
    check("upload: nothing landed outside the media folder",
          not os.path.exists(os.path.join(d.data_dir, "evil.wav")) and
          not os.path.exists(os.path.join(d.tmp, "evil.wav")))
    st, body, _ = admin.req("POST", "/api/v1/media?name=fake.wav", b"RIFF not really audio",
                            headers=hdr)
    check("upload: not audio is refused (415) and removed", st == 415 and
          body["error"]["name"] == "API_NOT_AUDIO" and
          not os.path.exists(os.path.join(media, "fake.wav")), (st, body))
    big = 2 * 1024 * 1024
    req = ("POST /api/v1/media?name=big.wav HTTP/1.1\r\nHost: x\r\nCookie: %s\r\n"
           "X-CSRF-Token: %s\r\nContent-Type: application/octet-stream\r\n"
           "Content-Length: %d\r\n\r\n" % (admin.cookie, admin.csrf, big)).encode()
    resp = raw(d.port, req + b"\0" * 4096)
    check("upload: larger than upload_max_mb (1) refused from Content-Length (413)",
          status_of(resp) == 413 and b"upload_max_mb" in resp and
          not os.path.exists(os.path.join(media, "big.wav")), resp[:300])
    leftovers = [f for f in os.listdir(media) if f.startswith(".upload-")]
    check("upload: no temporary file is left behind", not leftovers, leftovers)
    st, body, _ = admin.req("GET", "/api/v1/media")
    names = [f["name"] for f in body.get("files", [])]
    check("GET /api/v1/media lists the uploads only", names == ["clip.wav", "op.flac"], body)
    conf_before = open(d.conf_path).read()
    for path in ("/api/v1/media/..%2F..%2Fairmix.conf", "/api/v1/media/..%2Fairmix.conf",
                 "/api/v1/media/.hidden.wav"):
        st, body, _ = admin.req("DELETE", path)
        check("delete %s: refused (%s)" % (path, st), st in (400, 404) and
              open(d.conf_path).read() == conf_before)
    st, body, _ = oper.req("DELETE", "/api/v1/media/op.flac")
    check("the operator deletes a media file (204)", st == 204 and
          not os.path.exists(os.path.join(media, "op.flac")), (st, body))
    st, body, _ = admin.req("DELETE", "/api/v1/media/op.flac")
    check("deleting it again: 404", st == 404)


def test_downloads(d, admin):
    probes = ["/api/v1/recordings/..%2F..%2F..%2Fetc%2Fpasswd/files/0",
              "/api/v1/recordings/1/files/..%2F..%2Fairmix.conf",
              "/api/v1/recordings/../../../../etc/passwd",
              "/api/v1/recordings/%2e%2e/files/0",
              "/api/v1/media/../../airmix.conf"]
    bad = []
    for p in probes:
        resp = raw(d.port, ("GET %s HTTP/1.1\r\nHost: x\r\nCookie: %s\r\nConnection: close"
                            "\r\n\r\n" % (p, admin.cookie)).encode())
        if status_of(resp) == 200 or b"root:" in resp or b"password_hash" in resp:
            bad.append("%s: %s" % (p, resp[:80]))
    check("downloads: traversal in take ids, file indexes and raw paths refused", not bad, bad)


def test_settings(d, admin, oper):
    conf = d.conf_path
    before = open(conf).read()
    st, body, _ = oper.req("PUT", "/api/v1/config", {"engine.limiter_ceiling_db": -3.5})
    check("settings: the operator may not save (403)", st == 403 and open(conf).read() == before)
    for bad_body, key in (({"engine.limiter_ceiling_db": -3.5, "engine.sample_rate": 7},
                           "sample_rate"),
                          ({"engine.nope": 1}, "engine.nope"),
                          ({"http.token": "new"}, "http.token"),
                          ({"http.admin_password_hash": ""}, "admin_password_hash"),
                          ({"log.level": ["x"]}, "log.level"),
                          ({"http.tls_cert": "/x.pem"}, "tls_cert")):
        st, body, _ = admin.req("PUT", "/api/v1/config", bad_body)
        check("settings: %s refused whole, the error names %s (%s)" % (list(bad_body), key, st),
              st == 400 and key in body["error"]["message"] and open(conf).read() == before,
              body)
    st, body, _ = admin.req("PUT", "/api/v1/config", {"engine.limiter_ceiling_db": -3.5,
                                                      "http.meter_fps": 25})
    text = open(conf).read()
    check("settings: saved (200), live key applied, restart key listed",
          st == 200 and body["applied"] == ["engine.limiter_ceiling_db"] and
          body["restart"] == ["http.meter_fps"], body)
    check("settings: the values are in the file, the rest of it kept",
          "limiter_ceiling_db = -3.5" in text and "meter_fps = 25" in text and
          "admin_password_hash = $y$" in text, text)
    check("settings: the previous file is the backup", open(conf + ".bak").read() == before)
    st, body, _ = admin.req("GET", "/api/v1/config")
    keys = {k["name"]: k for k in body["keys"]}
    check("settings: read back, live value running, restart pending where needed",
          keys["engine.limiter_ceiling_db"]["value"] == -3.5 and
          keys["engine.limiter_ceiling_db"]["running"] == -3.5 and
          keys["http.meter_fps"]["value"] == 25 and keys["http.meter_fps"]["running"] == 20 and
          keys["http.meter_fps"]["restart_pending"] is True,
          [keys["engine.limiter_ceiling_db"], keys["http.meter_fps"]])
    tmp = [f for f in os.listdir(d.tmp) if f.startswith("airmix.conf.")]
    check("settings: no temporary file left beside the config",
          sorted(tmp) == ["airmix.conf.bak"], tmp)


def test_csv(d, admin):
    st, body, _ = admin.req("POST", "/api/v1/graph/nodes", {"kind": "x,\"y\"", "name": "a"})
    check("a bad node kind is refused (a history row with commas and quotes)", st == 400, body)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not admin.req(
            "GET", "/api/v1/history?code=4003&limit=1")[1].get("rows"):
        time.sleep(0.1)
    st, body, h = admin.req("GET", "/api/v1/history.csv?limit=50")
    rows = list(csv.reader(io.StringIO(body))) if isinstance(body, str) else []
    st2, js, _ = admin.req("GET", "/api/v1/history?limit=50")
    ok = st == 200 and h.get("content-type", "").startswith("text/csv") and rows and \
        rows[0][:6] == ["id", "time", "time_us", "domain", "code", "name"] and \
        len(rows) - 1 == len(js["rows"])
    same = ok and all(int(r[0]) == j["id"] and r[8].lstrip("'") == j["message"] and
                      r[9].lstrip("'") == j["request"] for r, j in zip(rows[1:], js["rows"]))
    check("history.csv: a header and the same rows as /api/v1/history (%d)" % (len(rows) - 1),
          ok, (st, h.get("content-type"), rows[:2]))
    check("history.csv: commas and quotes survive the quoting", same and
          any("," in r[8] or '"' in r[8] or "," in r[9] for r in rows[1:]), rows[1:3])
    st, body, _ = admin.req("GET", "/api/v1/history.csv?domain=api&code=4014&limit=5")
    rows = list(csv.reader(io.StringIO(body))) if st == 200 else []
    check("history.csv: filters as /api/v1/history (the csrf refusals)", st == 200 and
          len(rows) == 6 and all(r[5] == "API_CSRF_FAILED" for r in rows[1:]), rows[:3])
    st, body, _ = admin.req("GET", "/api/v1/history.csv?bogus=1")
    check("history.csv: an unknown parameter is refused", st == 400)


def test_logout_and_reload(d, admin, oper):
    st, body, h = admin.req("DELETE", "/api/v1/session", csrf=False)
    check("logout without the csrf token: 403", st == 403)
    old = admin.cookie
    st, body, h = admin.req("DELETE", "/api/v1/session")
    check("logout: 204 and the cookie cleared", st == 204 and
          "airmix_session=;" in h.get("set-cookie", "") and "Max-Age=0" in h["set-cookie"], h)
    st, _, _ = d.request("GET", "/api/v1/graph", headers={"Cookie": old}, token="")
    check("the logged-out cookie is refused", st == 401)
    rc, out = passwd(d.conf_path, "operator", "another-Pass-99")
    d.proc.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and oper.req("GET", "/api/v1/graph")[0] == 200:
        time.sleep(0.1)
    check("a new operator password (passwd + SIGHUP) ends the operator's session",
          rc == 0 and oper.req("GET", "/api/v1/graph")[0] == 401, out)
    c = Client(d)
    st1 = c.login("operator", OPER_PW)[0]
    st2 = c.login("operator", "another-Pass-99")[0]
    check("the old operator password is refused, the new one works", st1 == 401 and st2 == 200,
          (st1, st2))


def test_rate_limit():
    d, ok = make_daemon()
    with d:
        codes = []
        for i in range(5):
            codes.append(d.request("POST", "/api/v1/session", {"user": "admin",
                                   "password": "guess-%d" % i}, token="")[0])
        st, body, h = d.request("POST", "/api/v1/session", {"user": "admin",
                                "password": ADMIN_PW}, token="")
        check("rate limit: 5 wrong passwords are 401 each", codes == [401] * 5, codes)
        check("rate limit: then 429 with Retry-After, even for the right password",
              st == 429 and body["error"]["name"] == "API_RATE_LIMITED" and
              55 <= int(h.get("retry-after", "0")) <= 60, (st, body, h))
        st, body, _ = d.request("GET", "/api/v1/graph")
        check("rate limit: the bearer token still works", st == 200)
        check("rate limit daemon stops cleanly", d.stop() == 0)


def test_tls():
    d, ok = make_daemon()
    cert, key = os.path.join(d.tmp, "cert.pem"), os.path.join(d.tmp, "key.pem")
    p = subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                        "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                        "-keyout", key, "-out", cert], capture_output=True, text=True,
                       timeout=60)
    check("tls: openssl made a self-signed certificate", p.returncode == 0, p.stderr)
    d.extra_conf += "tls_cert = %s\ntls_key = %s\n" % (cert, key)
    ctx = ssl.create_default_context(cafile=cert)
    d.get = lambda path, timeout=10.0, token=None: https(d, ctx, "GET", path)[:2]
    try:
        d.start()
        started = True
    except RuntimeError as e:
        started = False
        check("tls: airmixd starts with tls_cert and tls_key", False, str(e))
    if started:
        st, body, h = https(d, ctx, "POST", "/api/v1/session",
                            {"user": "admin", "password": ADMIN_PW})
        sc = h.get("set-cookie", "")
        check("tls: login over HTTPS (certificate verified), the cookie is Secure",
              st == 200 and "; Secure" in sc and "HttpOnly" in sc, (st, sc))
        cookie = sc.split(";")[0]
        st, body, _ = https(d, ctx, "GET", "/api/v1/session", headers={"Cookie": cookie})
        check("tls: the session works over HTTPS", st == 200 and body["role"] == "admin")
        check("tls: a browser offering h2 and http/1.1 gets http/1.1 (lws stalls files on h2)",
              alpn_of(d.port) == "http/1.1", alpn_of(d.port))
        resp = raw(d.port, b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\n\r\n", timeout=3)
        check("tls: plain HTTP gets no HTTP answer", not resp.startswith(b"HTTP/1.1 200"),
              resp[:80])
        check("tls daemon stops cleanly", d.stop() == 0)
    d.cleanup()
    d2, _ = make_daemon()
    d2.extra_conf += "tls_cert = %s/missing.pem\ntls_key = %s\n" % (d2.tmp, key)
    try:
        d2.start(timeout=5)
        msg = "it started"
    except RuntimeError as e:
        msg = str(e)
    check("tls: an unreadable certificate stops the start with its name",
          "missing.pem" in msg and "tls_cert" in msg, msg[-300:])
    d2.cleanup()


def alpn_of(port):
    """The protocol the server picks from a browser's ALPN offer."""
    offer = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    offer.check_hostname, offer.verify_mode = False, ssl.CERT_NONE
    offer.set_alpn_protocols(["h2", "http/1.1"])
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        with offer.wrap_socket(s, server_hostname="127.0.0.1") as t:
            return t.selected_alpn_protocol()


def https(d, ctx, method, path, body=None, headers=None):
    conn = http.client.HTTPSConnection("127.0.0.1", d.port, context=ctx, timeout=10)
    hdrs = dict(headers or {})
    if body is not None:
        body = json.dumps(body)
        hdrs["Content-Type"] = "application/json"
    try:
        conn.request(method, path, body=body, headers=hdrs)
        r = conn.getresponse()
        raw_body = r.read()
        h = {k.lower(): v for k, v in r.getheaders()}
        return r.status, json.loads(raw_body) if raw_body else None, h
    finally:
        conn.close()


def test_nonloopback():
    d = Airmixd()
    orig = d._config
    d._config = lambda: orig().replace("listen = 127.0.0.1", "listen = 0.0.0.0")
    try:
        d.start(timeout=5)
        msg = "it started"
    except RuntimeError as e:
        msg = str(e)
    finally:
        rc = d.proc.returncode if d.proc else None
        d.cleanup()
    check("a non-loopback listener without a password refuses to start (exit %s)" % rc,
          rc not in (0, None) and "admin_password_hash" in msg, msg[-300:])


def main():
    test_passwd()
    d, ok = make_daemon("upload_max_mb = 1\n")
    check("airmixctl passwd set both passwords for the daemon", ok)
    with d:
        admin, oper = Client(d), Client(d)
        st_a = admin.login("admin", ADMIN_PW)[0]
        st_o = oper.login("operator", OPER_PW)[0]
        check("admin and operator log in (200)", st_a == 200 and st_o == 200, (st_a, st_o))
        test_session_basics(d, admin, oper)
        test_routes(d, admin, oper)
        test_secrets(d, admin, oper)
        test_uploads(d, admin, oper)
        test_downloads(d, admin)
        test_settings(d, admin, oper)
        test_csv(d, admin)
        test_logout_and_reload(d, admin, oper)
        check("daemon still running", d.alive(), d.log_text()[-2000:])
        check("no RT-safety violations", not d.rtcheck_violations(), d.rtcheck_violations()[:5])
        check("daemon stops cleanly", d.stop() == 0)
    test_rate_limit()
    test_tls()
    test_nonloopback()
    finish()


if __name__ == "__main__":
    main()
