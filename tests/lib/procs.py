"""procs.py - stop a server the tests started, by its PID: SIGTERM, then
SIGKILL after a bounded wait."""
import signal
import subprocess


def stop_process(proc, timeout=5):
    """Stops a subprocess.Popen that may already have exited; bounded."""
    if proc and proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=timeout)
