"""servers.py - streaming servers for the push tests, each on a free
127.0.0.1 port from a temporary config, started and stopped by PID.

    from servers import Nginx, Icecast
    with Nginx() as n:            # rtmp://127.0.0.1:<n.port>/live/<key>
        ...                       # rtmp://127.0.0.1:<n.port>/secure/<key>: only n.key
        n.kill(); n.start()       # the same port again
        n.freeze(); n.thaw()      # SIGSTOP, SIGCONT
    with Icecast() as ice:        # http://127.0.0.1:<ice.port>/<mount>, source password ice.password
        ...

Nginx runs with the RTMP module (load_module), "daemon off; master_process
off;" so that its one process is the PID we stop. A server counts as started
when its own process holds the listening socket (/proc), so that another
program taking the port first is not mistaken for it; the first start then
tries new ports (three times). Its application "secure"
checks each publish with on_publish against an http location of the same
nginx (127.0.0.1:<n.http_port>/auth), which answers 2xx for the stream key
n.key only, as a CDN's ingest does. Icecast refuses to run as
root without <changeowner>: as root the config changes to the icecast2 user
and its log folder is made writable for it. Every wait is bounded.
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request

RTMP_MODULE = "/usr/lib/nginx/modules/ngx_rtmp_module.so"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def port_open(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def _listening_inodes(port):
    """Socket inodes listening on 127.0.0.1-or-any:port, from /proc/net."""
    inodes = set()
    for name in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(name) as f:
                rows = f.read().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            cols = row.split()
            if len(cols) > 9 and cols[3] == "0A" and int(cols[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(cols[9])
    return inodes


def owns_listener(pid, port):
    """True when process pid holds the socket listening on port (and not
    another program that took the port between free_port() and our bind)."""
    inodes = _listening_inodes(port)
    try:
        fds = os.listdir("/proc/%d/fd" % pid)
    except OSError:
        return False
    for fd in fds:
        try:
            link = os.readlink("/proc/%d/fd/%s" % (pid, fd))
        except OSError:
            continue
        if link.startswith("socket:[") and link[8:-1] in inodes:
            return True
    return False


class Server:
    """A process started from a temporary folder and stopped by PID."""

    def __init__(self, prefix):
        self.port = free_port()
        self.tmp = tempfile.mkdtemp(prefix=prefix)
        self.proc = None

    def command(self):
        raise NotImplementedError

    def configure(self):
        """Writes the configuration for the current ports."""
        raise NotImplementedError

    def new_ports(self):
        self.port = free_port()
        self.configure()

    def start(self, timeout=10.0):
        self.log = open(os.path.join(self.tmp, "server.log"), "a")
        self.proc = subprocess.Popen(self.command(), stdout=self.log, stderr=subprocess.STDOUT,
                                     cwd=self.tmp)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("%s exited with %s: %s" % (self.command()[0],
                                   self.proc.returncode, self.log_text()[-1500:]))
            if port_open(self.port) and owns_listener(self.proc.pid, self.port):
                return self
            time.sleep(0.05)
        self.kill()
        raise RuntimeError("%s did not listen within %.0f s" % (self.command()[0], timeout))

    def kill(self):
        """SIGKILL by PID and wait (bounded); a frozen process too."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.kill()
            self.proc.wait(timeout=5)
        if self.proc:
            self.log.close()
        self.proc = None

    def freeze(self):
        """SIGSTOP: the process keeps its sockets but answers nothing."""
        self.proc.send_signal(signal.SIGSTOP)

    def thaw(self):
        self.proc.send_signal(signal.SIGCONT)

    def stop(self):
        """SIGTERM, then SIGKILL after 5 s."""
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        self.kill()

    def log_text(self):
        try:
            with open(os.path.join(self.tmp, "server.log"), errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def __enter__(self):
        """Starts; when another program took a port first, again on new ports
        (three tries). Restarts with start() keep the ports."""
        for attempt in range(3):
            try:
                return self.start()
            except RuntimeError:
                self.kill()
                if attempt == 2:
                    raise
                self.new_ports()

    def __exit__(self, *exc):
        self.stop()
        if os.environ.get("AIRMIX_KEEP_TMP") != "1":
            shutil.rmtree(self.tmp, ignore_errors=True)


class Nginx(Server):
    """nginx with the RTMP module: application "live"."""

    def __init__(self, key="goodkey"):
        super().__init__("airmix-nginx.")
        self.key = key
        self.http_port = free_port()
        self.conf = os.path.join(self.tmp, "nginx.conf")
        self.configure()

    def new_ports(self):
        self.http_port = free_port()
        super().new_ports()

    def configure(self):
        conf = """load_module %s;
error_log %s/error.log warn;
pid %s/nginx.pid;
events { worker_connections 64; }
http {
    access_log off;
    server {
        listen 127.0.0.1:%d;
        location = /auth {
            if ($arg_name != "%s") { return 403; }
            return 204;
        }
    }
}
rtmp {
    server {
        listen 127.0.0.1:%d;
        notify_method get;
        application live { live on; record off; }
        application secure {
            live on; record off;
            on_publish http://127.0.0.1:%d/auth;
        }
    }
}
""" % (RTMP_MODULE, self.tmp, self.tmp, self.http_port, self.key, self.port, self.http_port)
        with open(self.conf, "w") as f:
            f.write(conf)

    def command(self):
        return ["nginx", "-p", self.tmp, "-e", os.path.join(self.tmp, "error.log"),
                "-c", self.conf, "-g", "daemon off; master_process off;"]

    def url(self, key="test", app="live"):
        return "rtmp://127.0.0.1:%d/%s/%s" % (self.port, app, key)


class Icecast(Server):
    """icecast2 with one source password for every mount."""

    def __init__(self, password="hackme"):
        super().__init__("airmix-icecast.")
        self.password = password
        self.logdir = os.path.join(self.tmp, "log")
        os.makedirs(self.logdir)
        self.conf = os.path.join(self.tmp, "icecast.xml")
        self.configure()

    def configure(self):
        owner = ""
        if os.geteuid() == 0:
            os.chmod(self.tmp, 0o755)
            os.chmod(self.logdir, 0o777)
            owner = ("<changeowner><user>icecast2</user><group>icecast</group>"
                     "</changeowner>")
        conf = """<icecast>
  <location>test</location><admin>test@localhost</admin>
  <limits><clients>20</clients><sources>4</sources><queue-size>524288</queue-size>
    <client-timeout>30</client-timeout><header-timeout>15</header-timeout>
    <source-timeout>10</source-timeout><burst-size>65535</burst-size></limits>
  <authentication><source-password>%s</source-password>
    <admin-user>admin</admin-user><admin-password>admin-%s</admin-password></authentication>
  <hostname>127.0.0.1</hostname>
  <listen-socket><port>%d</port><bind-address>127.0.0.1</bind-address></listen-socket>
  <fileserve>1</fileserve>
  <paths><basedir>/usr/share/icecast2</basedir><logdir>%s</logdir>
    <webroot>/usr/share/icecast2/web</webroot><adminroot>/usr/share/icecast2/admin</adminroot>
    <pidfile>%s/icecast.pid</pidfile></paths>
  <logging><accesslog>access.log</accesslog><errorlog>error.log</errorlog>
    <loglevel>3</loglevel></logging>
  <security><chroot>0</chroot>%s</security>
</icecast>
""" % (self.password, self.password, self.port, self.logdir, self.logdir, owner)
        with open(self.conf, "w") as f:
            f.write(conf)
        os.chmod(self.conf, 0o644)

    def command(self):
        return ["icecast2", "-c", self.conf]

    def status(self):
        """status-json.xsl parsed, or None."""
        try:
            with urllib.request.urlopen("http://127.0.0.1:%d/status-json.xsl" % self.port,
                                        timeout=3) as r:
                text = r.read().decode("utf-8", "replace")
        except OSError:
            return None
        # icecast 2.4.4's stylesheet drops a "{" when the server_start comes first
        text = text.replace('{"icestats":"server_start"', '{"icestats":{"server_start"')
        try:
            return json.loads(text)
        except ValueError:
            return None

    def sources(self):
        st = self.status() or {}
        src = st.get("icestats", {}).get("source", [])
        return src if isinstance(src, list) else [src]
