"""stalls.py - tell airmix's own xruns from machine stalls.

The suites assert zero xruns on the JACK dummy clock, on a VM. There the host
now and then holds a vCPU back for several milliseconds (steal, interrupt
work), and the guest charges that time to the thread that was running: its
wall time and its CPU time both grow, so no clock inside airmixd can tell such
a cycle from one that did too much work. $BUILD/stallwatch
(tests/stallwatch/stallwatch.c) is an independent witness: a SCHED_FIFO
thread per CPU that logs every wake-up the machine delayed by 2 ms or more.

An xrun is excused only when the witness saw the machine stalled, inside the
late cycle's wall time, for at least as long as the cycle ran over its period
(a cycle of `took` ms against a period P is excused by stalls summing to at
least took - P on one CPU, counting only their overlap with the cycle). The
cycles come from /api/v1/health's recent_xruns. Anything else counts:
- an xrun when the witness could not run SCHED_FIFO ("fifo no"),
- an xrun without a logged time (more than the 16 the health reply keeps),
- an xrun with no stall, or too short a one, in its cycle.

    python3 stalls.py WITNESS_LOG < health.json   prints the count of xruns
    not excused, then one line per xrun on stderr.
"""
import json
import os
import subprocess
import sys

from procs import stop_process

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.abspath(os.path.join(HERE, "..", ".."))


class StallWatch:
    """The witness process, stopped by its PID."""

    def __init__(self, log_path, build):
        self.log_path = log_path
        self.binary = os.path.join(build if os.path.isabs(build) else os.path.join(TOP, build),
                                   "stallwatch")
        self.proc = None

    def start(self):
        if os.path.exists(self.binary):
            self.proc = subprocess.Popen([self.binary, self.log_path])
        return self

    def stop(self):
        stop_process(self.proc)


def read_witness(path):
    """(fifo, {cpu: [(began, ended), ...]}) from a witness log; fifo is
    False when the log is missing or the witness ran without SCHED_FIFO."""
    fifo, stalls = False, {}
    try:
        with open(path) as f:
            for line in f:
                parts = line.split()
                if parts[:1] == ["fifo"]:
                    fifo = parts[1:2] == ["yes"]
                elif parts[:1] == ["stall"] and len(parts) == 4:
                    stalls.setdefault(parts[1], []).append((float(parts[2]), float(parts[3])))
    except OSError:
        pass
    return fifo, stalls


def judge(health, witness_path):
    """(own, lines): the xruns not excused by a witnessed stall, and one
    human line per xrun."""
    xruns = health.get("xruns", 0)
    if not xruns:
        return 0, []
    period_ms = health["period"] * 1000.0 / health["rate"]
    fifo, stalls = read_witness(witness_path)
    logged = health.get("recent_xruns", [])
    own = max(0, xruns - len(logged))
    lines = ["%d xrun(s) without a logged time" % own] if own else []
    for x in logged:
        began = x["began_us"] / 1e6
        ended = began + x["wall_ms"] / 1000.0
        over_ms = x["took_ms"] - period_ms
        seen_ms = 0.0
        for spans in stalls.values():
            overlap = sum(max(0.0, min(e, ended) - max(b, began)) for b, e in spans) * 1000
            seen_ms = max(seen_ms, overlap)
        excused = fifo and seen_ms >= over_ms
        own += 0 if excused else 1
        lines.append("xrun at %.3f: took %.2f ms (wall %.2f) against %.2f; the machine stalled "
                     "%.2f ms in it%s: %s" % (began, x["took_ms"], x["wall_ms"], period_ms, seen_ms,
                                              "" if fifo else " (no FIFO witness)",
                                              "excused" if excused else "airmix's own"))
    return own, lines


def main():
    own, lines = judge(json.load(sys.stdin), sys.argv[1])
    for line in lines:
        print("# " + line, file=sys.stderr)
    print(own)


if __name__ == "__main__":
    main()
