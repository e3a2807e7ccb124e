#!/usr/bin/env python3
"""Report how busy each node's links were, from a run of bench/p2p/run.sh
with WIRE set.

    bench/p2p/wire.py LOGDIR [FROM TO]

LOGDIR is one run's logs (OUT/logs/gantry-n32-64m-1, say). For each node,
the bytes its HTB classes sent between FROM and TO seconds after T0
(default 15 and 50), over the time between its first and last sample in
that window, as a fraction of RATE_MBIT (default 10): "down" is what the
node received, "up" what it sent, headers and ACKs included. Nodes are
listed by completion time, the fetcher (the agent that took bytes from the
origin) first, then the median and mean of the others.
"""

import collections
import glob
import os
import re
import statistics
import sys


def main():
    if len(sys.argv) not in (2, 4):
        sys.exit("usage: bench/p2p/wire.py LOGDIR [FROM TO]")
    logdir = sys.argv[1]
    lo, hi = (float(sys.argv[2]), float(sys.argv[3])) if len(sys.argv) == 4 else (15.0, 50.0)
    rate = float(os.environ.get("RATE_MBIT", "10")) * 1e6 / 8

    samples = collections.defaultdict(list)  # (node, dir) -> [(t, bytes)]
    with open(os.path.join(logdir, "wire")) as f:
        for line in f:
            t, node, d, n = line.split()
            if lo <= float(t) <= hi:
                samples[(int(node), d)].append((float(t), int(n)))
    with open(os.path.join(logdir, "times")) as f:
        done = [float(x) for x in f]

    fetcher = None
    for path in glob.glob(os.path.join(logdir, "agent*.log")):
        with open(path) as f:
            if re.search(r"msg=pull .*origin_bytes=[1-9]", f.read()):
                fetcher = int(re.search(r"agent(\d+)\.log$", path).group(1))

    def busy(node, d):
        s = samples.get((node, d), [])
        if len(s) < 2 or s[-1][0] <= s[0][0]:
            return None
        return (s[-1][1] - s[0][1]) / (s[-1][0] - s[0][0]) / rate

    nodes = sorted(range(1, len(done) + 1), key=lambda i: (i != fetcher, done[i - 1]))
    print(f"window {lo:g}-{hi:g} s after T0; link busy as a fraction of B")
    print("node     done s   down    up")
    others = {"down": [], "up": []}
    for i in nodes:
        down, up = busy(i, "down"), busy(i, "up")
        mark = " (fetcher)" if i == fetcher else ""
        print(f"n{i:<4} {done[i - 1]:9.2f}  {fmt(down)}  {fmt(up)}{mark}")
        if i != fetcher:
            for d, v in (("down", down), ("up", up)):
                if v is not None:
                    others[d].append(v)
    for name, f in (("median", statistics.median), ("mean", statistics.mean)):
        if others["down"] and others["up"]:
            print(f"{name:<6} {'':9}  {f(others['down']):.3f}  {f(others['up']):.3f}")


def fmt(v):
    return "    -" if v is None else f"{v:.3f}"


if __name__ == "__main__":
    main()
