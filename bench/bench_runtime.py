"""Runtime benchmarks that need real ranks under mpirun. Each prints one JSON object.

  detect  --kills N      SIGKILL a worker N times (one job per kill, 4 ranks); for every
                         survivor, the time from the kill to its "declared dead" log line.
  idle    --seconds S    4 ranks on 2 cores, 3 of them with nothing to do (one worker runs a
                         single long task): CPU use of each idle rank, from /proc/PID/stat,
                         summarised over the idle ranks.
  falsepos --seconds S   6 ranks on 2 cores, every worker spinning the CPU in tasks of 5x the
                         suspicion timeout for S seconds: count of false suspicions (want 0).
  failover --kills N     5 ranks, 3 voters, default timeouts: SIGKILL the leader N times (one
                         job each); time from the kill to the new leader's first commit.

detect and failover report the median, p95, min, max and n of their latencies and every sample
(samples_ms, in the order measured), so that the distribution can be drawn.
"""
import re
import argparse
import json
import os
import signal
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "mpi"))
import rmtest as t  # noqa: E402

TICKS = os.sysconf("SC_CLK_TCK")


def pct(values, p):
    v = sorted(values)
    k = (len(v) - 1) * p / 100.0
    lo = int(k)
    hi = min(lo + 1, len(v) - 1)
    return v[lo] + (v[hi] - v[lo]) * (k - lo)


def summary(values):
    if not values:
        return {"n": 0}
    return {"median": statistics.median(values), "p95": pct(values, 95), "min": min(values),
            "max": max(values), "n": len(values)}


def samples(values):
    return {"samples_ms": [round(v, 3) for v in values]}


def detect(ringmaster, kills):
    lat, early = [], []
    for i in range(kills):
        job = t.Job(4, [ringmaster, "run", "noop", "--tasks", "100000", "--task-ms", "5",
                        "--batch-size", "1"])
        ranks = job.ranks(4)
        time.sleep(1.0 + (i % 5) * 0.037)  # vary the phase against the heartbeat period
        victim = 1 + i % 3
        killed = time.time()
        os.kill(ranks[victim], signal.SIGKILL)
        time.sleep(2.0)
        job.kill()
        k = t.local_midnight_seconds(killed)
        seen = set()
        err = job.stderr()
        for ts, rank, _, msg in t.log_lines(err):
            if msg.startswith(f"rank {victim} declared dead") and rank not in seen:
                seen.add(rank)
                ms = (ts - k) * 1000.0
                if ms >= 0:
                    lat.append(ms)
                else:  # declared dead before it was killed: a false suspicion, not a latency
                    early.append({"kill": i, "by": rank, "ms_before_kill": round(-ms, 1),
                                  "message": msg})
        if any(e["kill"] == i for e in early):
            print(f"kill {i}: rank {victim} was declared dead before it was killed; its log:\n"
                  + err[-4000:], file=sys.stderr)
        if len(seen) != 3:
            print(f"kill {i}: only ranks {sorted(seen)} reported the death", file=sys.stderr)
    return {"bench": "detection_latency_ms", "kills": kills, "defaults": {
        "heartbeat_ms": 100, "suspect_ms": 400}, **summary(lat), **samples(lat),
        "declared_dead_before_the_kill": early}


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        s = f.read()
    fields = s[s.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def idle(ringmaster, seconds):
    job = t.Job(4, [ringmaster, "run", "noop", "--tasks", "1", "--task-ms",
                    str(int((seconds + 6) * 1000))])
    ranks = job.ranks(4)
    time.sleep(2.0)
    before = {r: cpu_seconds(p) for r, p in ranks.items()}
    t0 = time.time()
    time.sleep(seconds)
    after = {r: cpu_seconds(p) for r, p in ranks.items()}
    wall = time.time() - t0
    job.kill()
    use = {r: 100.0 * (after[r] - before[r]) / wall for r in ranks}
    busy = max(use, key=use.get)  # the one worker running the task
    idle_use = [u for r, u in use.items() if r != busy]
    return {"bench": "idle_cpu_percent_of_core", "ranks": 4, "seconds": seconds,
            "busy_rank": busy, "per_rank": {str(r): round(u, 2) for r, u in use.items()},
            "idle_percent": {"median": statistics.median(idle_use), "min": min(idle_use),
                             "max": max(idle_use), "n": len(idle_use)}}


def falsepos(ringmaster, seconds):
    task_ms = 2000
    tasks = int(seconds * 1000 / task_ms * 5)  # 5 workers
    job = t.Job(6, [ringmaster, "run", "noop", "--tasks", str(tasks), "--task-ms", str(task_ms),
                    "--batch-size", "1", "--suspect-ms", "400"])
    rc = job.wait(timeout=seconds * 3 + 120)
    err = job.stderr()
    false = sum(1 for _, _, _, m in t.log_lines(err) if "declared dead" in m)
    fenced = sum(1 for _, _, _, m in t.log_lines(err) if m.startswith("fenced"))
    ok = rc == 0 and f"noop: {tasks} tasks done" in job.stdout()
    return {"bench": "false_positives", "ranks": 6, "cores": os.cpu_count(),
            "planned_seconds": seconds, "wall_seconds": round(time.time() - job.started, 1),
            "task_ms": task_ms, "tasks": tasks, "completed": ok, "false_suspicions": false,
            "self_fenced": fenced}


FIRST_COMMIT = re.compile(r"leader rank (\d+): first commit in term (\d+)")


def failover(ringmaster, kills):
    lat, elect = [], []
    for i in range(kills):
        job = t.Job(5, [ringmaster, "run", "noop", "--tasks", "100000", "--task-ms", "5",
                        "--batch-size", "1", "--voters", "3"])
        ranks = job.ranks(5)
        time.sleep(1.0 + (i % 5) * 0.029)  # vary the phase against the Raft heartbeat
        leader = None
        for _, _, _, msg in t.log_lines(job.stderr()):
            m = FIRST_COMMIT.search(msg)
            if m:
                leader = int(m.group(1))
        if leader is None:
            print(f"trial {i}: no leader", file=sys.stderr)
            job.kill()
            continue
        killed = time.time()
        os.kill(ranks[leader], signal.SIGKILL)
        time.sleep(2.0)
        job.kill()
        k = t.local_midnight_seconds(killed)
        for ts, _, _, msg in t.log_lines(job.stderr()):
            m = FIRST_COMMIT.search(msg)
            if m and int(m.group(1)) != leader and ts >= k:
                lat.append((ts - k) * 1000.0)
                break
        else:
            print(f"trial {i}: no commit by a new leader", file=sys.stderr)
    return {"bench": "leader_failover_ms", "trials": kills, "measured": len(lat),
            "defaults": {"election_timeout_ms": 150, "raft_heartbeat_ms": 30},
            **summary(lat), **samples(lat)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=["detect", "idle", "falsepos", "failover"])
    ap.add_argument("ringmaster")
    ap.add_argument("--kills", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=10)
    a = ap.parse_args()
    if a.what == "detect":
        r = detect(a.ringmaster, a.kills)
    elif a.what == "failover":
        r = failover(a.ringmaster, a.kills)
    elif a.what == "idle":
        r = idle(a.ringmaster, a.seconds)
    else:
        r = falsepos(a.ringmaster, a.seconds)
    print(json.dumps(r))
    return 1 if r.get("n") == 0 else 0  # no latency measured at all


if __name__ == "__main__":
    sys.exit(main())
