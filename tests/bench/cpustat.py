#!/usr/bin/python3
"""Where a benchmark's CPU goes: CPU time and context switches per request.

    cpustat.py snap FILE GROUP=SPEC ...   record counters now into FILE
    cpustat.py diff BEFORE AFTER REQUESTS print per-request figures

SPEC is a comma-separated list of pids, each optionally suffixed with
":main" (only the process's first thread), ":nng" (only its threads named
nng:*) or ":rest" (every thread but those named nng:*).  A snap also
records the machine's total busy CPU time and context switches from
/proc/stat, so `diff` prints, per request:

    total cpu_us ctx_switches | group cpu_us ctx_switches | ...

cpu_us is user + system time in microseconds; ctx_switches counts
voluntary and involuntary switches.  Threads that come and go between the
two snaps are counted from the moment they are seen.
"""

import json
import os
import sys

TICK_US = 1_000_000 / os.sysconf("SC_CLK_TCK")


def machine():
    busy = ctxt = 0
    with open("/proc/stat") as f:
        for line in f:
            parts = line.split()
            if parts[0] == "cpu":
                # user nice system idle iowait irq softirq steal ...
                v = [int(x) for x in parts[1:]]
                busy = v[0] + v[1] + v[2] + v[5] + v[6]
            elif parts[0] == "ctxt":
                ctxt = int(parts[1])
    return busy, ctxt


def thread(pid, tid):
    base = f"/proc/{pid}/task/{tid}"
    try:
        with open(f"{base}/stat") as f:
            stat = f.read()
        with open(f"{base}/status") as f:
            status = f.read()
    except OSError:
        return None
    # comm may hold spaces and parentheses: split after the last ')'
    comm = stat[stat.index("(") + 1:stat.rindex(")")]
    fields = stat[stat.rindex(")") + 2:].split()
    ticks = int(fields[11]) + int(fields[12])      # utime, stime
    switches = 0
    for line in status.splitlines():
        if line.startswith(("voluntary_ctxt_switches",
                            "nonvoluntary_ctxt_switches")):
            switches += int(line.split()[1])
    return comm, ticks, switches


def group(spec):
    threads = {}
    for item in spec.split(","):
        if not item:
            continue
        pid, _, which = item.partition(":")
        try:
            tids = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for tid in tids:
            t = thread(pid, tid)
            if t is None:
                continue
            comm, ticks, switches = t
            nng = comm.startswith("nng:")
            if ((which == "main" and tid != pid)
                    or (which == "nng" and not nng)
                    or (which == "rest" and nng)):
                continue
            threads[f"{pid}/{tid}"] = [ticks, switches]
    return threads


def snap(path, specs):
    busy, ctxt = machine()
    groups = {}
    for spec in specs:
        name, _, pids = spec.partition("=")
        groups[name] = group(pids)
    with open(path, "w") as f:
        json.dump({"busy": busy, "ctxt": ctxt, "groups": groups}, f)


def diff(before_path, after_path, requests):
    with open(before_path) as f:
        before = json.load(f)
    with open(after_path) as f:
        after = json.load(f)
    n = max(float(requests), 1.0)
    out = ["total %.1f %.2f" % ((after["busy"] - before["busy"]) * TICK_US / n,
                                (after["ctxt"] - before["ctxt"]) / n)]
    for name, threads in after["groups"].items():
        old = before["groups"].get(name, {})
        ticks = switches = 0
        for key, (t, s) in threads.items():
            t0, s0 = old.get(key, [t, s])
            ticks += t - t0
            switches += s - s0
        out.append("%s %.1f %.2f" % (name, ticks * TICK_US / n, switches / n))
    print(" | ".join(out))


def main(argv):
    if len(argv) >= 3 and argv[1] == "snap":
        snap(argv[2], argv[3:])
    elif len(argv) == 5 and argv[1] == "diff":
        diff(argv[2], argv[3], argv[4])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
