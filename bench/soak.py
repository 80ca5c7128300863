#!/usr/bin/env python3
"""`make soak`: the local stack under sustained load, for issue 9 ("Safe under load").

Starts the local stack exactly as `make run` does (`cargo run -q -p kupe-local`, with a rate limit
high enough not to 429 the soak), reads the `export` lines it prints, moves the seeded tenant to
the `enterprise` plan, and then for `--minutes`:

- `--lifecycles` workers each loop create -> resize -> upgrade -> delete on a cluster of their
  own, waiting after every step until the cluster is done (`Running` at its `generation`) or gone
  (404), within `--step-deadline` seconds;
- `--clients` workers hammer `--shared` shared clusters: GET (read the ETag), then PATCH `alerts`
  with `If-Match`, counting 200 (won) against 412 (lost the race).

Nothing is injected (unless `--inject`), so any cluster seen `Degraded` is a false failure, and any step not done
within its deadline is a stuck cluster. At the end it prints those counts, the hammer's 200/412
counts, p50/p99 latency per route, and the RSS of the stack and of the emulator at start and end
(and the peak seen), then stops the stack whatever happened. Exit status 1 when there was a false
failure or a stuck cluster, 2 when the stack could not be set up.

Python 3.11, standard library only.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections import defaultdict

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GET_CLUSTER = "GET /tenants/{tenant}/clusters/{name}"
PATCH_CLUSTER = "PATCH /tenants/{tenant}/clusters/{name}"
DELETE_CLUSTER = "DELETE /tenants/{tenant}/clusters/{name}"
CREATE_CLUSTER = "POST /tenants/{tenant}/clusters"
PATCH_TENANT = "PATCH /tenants/{tenant}"


class Stats:
    """Latencies per route template and counters, shared by every worker."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.latency: dict[str, list[float]] = defaultdict(list)
        self.statuses: dict[str, dict[int, int]] = defaultdict(lambda: defaultdict(int))
        self.counters: dict[str, int] = defaultdict(int)
        self.false_failures: list[str] = []
        self.injected_failures: list[str] = []
        self.injected: set[str] = set()  # cluster names `--inject` fails ("*": every one)
        self.stuck: list[str] = []
        self.errors: list[str] = []

    def record(self, route: str, status: int, seconds: float) -> None:
        with self.lock:
            self.latency[route].append(seconds)
            self.statuses[route][status] += 1

    def count(self, name: str, n: int = 1) -> None:
        with self.lock:
            self.counters[name] += n

    def note(self, kind: str, text: str) -> None:
        with self.lock:
            getattr(self, kind).append(text)
        print(f"[{time.strftime('%H:%M:%S')}] {kind.replace('_', ' ')}: {text}", flush=True)


class Client:
    """One keep-alive HTTP/1.1 connection to the API, timing every call by route template."""

    def __init__(self, api_url: str, tenant: str, key: str, stats: Stats) -> None:
        u = urllib.parse.urlsplit(api_url)
        self.host, self.port = u.hostname, u.port or 80
        self.base = u.path.rstrip("/") + "/api/v1"
        self.tenant, self.key, self.stats = tenant, key, stats
        self.conn: http.client.HTTPConnection | None = None

    def call(self, method: str, route: str, path: str, body=None, headers=None):
        """Returns (status, headers dict lowercased, parsed JSON or None)."""
        hdrs = {"Authorization": f"Bearer {self.key}"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            hdrs["Content-Type"] = "application/json"
        hdrs.update(headers or {})
        for attempt in range(3):
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=120)
            t0 = time.monotonic()
            try:
                self.conn.request(method, self.base + path, body=data, headers=hdrs)
                resp = self.conn.getresponse()
                raw = resp.read()
            except (OSError, http.client.HTTPException) as e:
                self.conn.close()
                self.conn = None
                if attempt == 2:
                    raise
                self.stats.count(f"connection errors ({type(e).__name__})")
                time.sleep(0.5)
                continue
            self.stats.record(route, resp.status, time.monotonic() - t0)
            if resp.getheader("Connection", "").lower() == "close":
                self.conn.close()
                self.conn = None
            try:
                parsed = json.loads(raw) if raw else None
            except ValueError:
                parsed = None
            return resp.status, {k.lower(): v for k, v in resp.getheaders()}, parsed
        raise RuntimeError("unreachable")

    def cluster_path(self, name: str = "") -> str:
        return f"/tenants/{self.tenant}/clusters" + (f"/{name}" if name else "")


def done(c: dict) -> bool:
    st = c.get("status") or {}
    return st.get("phase") == "Running" and st.get("observedGeneration") == c.get("generation")


def wait_for(cl: Client, stats: Stats, name: str, step: str, gone: bool, deadline_s: float,
             poll: float) -> str:
    """Polls the cluster until done (or 404 when `gone`). Returns "ok", "degraded" or "stuck"."""
    end = time.monotonic() + deadline_s
    last = None
    while time.monotonic() < end:
        status, _, body = cl.call("GET", GET_CLUSTER, cl.cluster_path(name))
        if status == 404:
            if gone:
                return "ok"
            last = "404"
        elif status == 200 and body:
            st = body.get("status") or {}
            last = f"{st.get('phase')} gen {body.get('generation')} observed {st.get('observedGeneration')}"
            if st.get("phase") == "Degraded":
                kind = "injected_failures" if ({"*", name} & stats.injected) else "false_failures"
                stats.note(kind, f"{name} after {step}: {json.dumps(st)[:400]}")
                return "degraded"
            if not gone and done(body):
                return "ok"
        else:
            last = f"HTTP {status}"
        time.sleep(poll)
    stats.note("stuck", f"{name}: {step} not done within {deadline_s:.0f} s (last seen: {last})")
    return "stuck"


def lifecycle_worker(i: int, args, env: dict, stats: Stats, stop_at: float) -> None:
    cl = Client(env["KUPE_API_URL"], env["KUPE_TENANT"], env["KUPE_API_KEY"], stats)
    n = 0
    while time.monotonic() < stop_at:
        n += 1
        name = f"soak-l{i}-{n}"
        try:
            if not one_lifecycle(cl, stats, name, args):
                # Leave a failed cluster behind under its name; the next lifecycle takes a new one.
                continue
            stats.count("lifecycles done")
        except Exception as e:  # noqa: BLE001 - a worker reports and carries on
            stats.note("errors", f"{name}: {type(e).__name__}: {e}")
            time.sleep(1)


def one_lifecycle(cl: Client, stats: Stats, name: str, args) -> bool:
    deadline, poll = args.step_deadline, args.poll
    body = {"name": name, "displayName": f"Soak {name}", "type": "shared", "version": "1.32",
            "resources": {"cpu": "1", "memory": "2Gi", "storage": "10Gi"}}
    steps = [
        ("create", "POST", CREATE_CLUSTER, cl.cluster_path(), body, 201),
        ("resize", "PATCH", PATCH_CLUSTER, cl.cluster_path(name),
         {"resources": {"cpu": "2", "memory": "4Gi"}}, 200),
        ("upgrade", "PATCH", PATCH_CLUSTER, cl.cluster_path(name), {"version": "1.33"}, 200),
        ("delete", "DELETE", DELETE_CLUSTER, cl.cluster_path(name), None, 204),
    ]
    for step, method, route, path, payload, want in steps:
        status, _, resp = cl.call(method, route, path, payload)
        if status != want:
            stats.note("errors", f"{name}: {step} answered {status} (wanted {want}): {json.dumps(resp)[:300]}")
            return False
        outcome = wait_for(cl, stats, name, step, step == "delete", deadline, poll)
        if outcome == "degraded":
            cl.call("DELETE", DELETE_CLUSTER, cl.cluster_path(name))
            return False
        if outcome == "stuck":
            return False
    return True


def hammer_worker(i: int, env: dict, names: list[str], stats: Stats, stop_at: float,
                  think: float) -> None:
    cl = Client(env["KUPE_API_URL"], env["KUPE_TENANT"], env["KUPE_API_KEY"], stats)
    rng = random.Random(i)
    n = 0
    while time.monotonic() < stop_at:
        n += 1
        name = rng.choice(names)
        try:
            status, hdrs, body = cl.call("GET", GET_CLUSTER, cl.cluster_path(name))
            if status != 200:
                stats.count(f"hammer GET {status}")
                continue
            if (body.get("status") or {}).get("phase") == "Degraded":
                stats.count("hammer saw Degraded")
            etag = hdrs.get("etag", "")
            status, _, _ = cl.call("PATCH", PATCH_CLUSTER, cl.cluster_path(name),
                                   {"alerts": {"soak": f"c{i}-{n}"}}, {"If-Match": etag})
            stats.count(f"hammer PATCH {status}")
        except Exception as e:  # noqa: BLE001
            stats.note("errors", f"hammer {i}: {type(e).__name__}: {e}")
            time.sleep(1)
        if think:
            time.sleep(think)


# --- the stack's processes -----------------------------------------------------------------

def children(pid: int) -> list[int]:
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        # The command name is in parentheses and may hold spaces: the ppid follows the last ')'.
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == pid:
            out.append(int(entry))
    return out


def comm(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return "?"


def rss_kib(pid: int | None) -> int | None:
    if pid is None:
        return None
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def find_stack_processes(cargo_pid: int) -> tuple[int | None, int | None]:
    """The kupe-local process (cargo's child) and the emulator (the stack's child)."""
    stack = next((p for p in children(cargo_pid) if comm(p).startswith("kupe-local")), None)
    if stack is None and comm(cargo_pid).startswith("kupe-local"):
        stack = cargo_pid
    emulator = None
    if stack is not None:
        emulator = next(iter(children(stack)), None)
    return stack, emulator


def emulator_stats(url: str | None) -> dict | None:
    if not url:
        return None
    try:
        u = urllib.parse.urlsplit(url)
        c = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
        c.request("GET", "/_kupe/stats")
        r = c.getresponse()
        data = json.loads(r.read())
        c.close()
        return data
    except (OSError, ValueError, http.client.HTTPException):
        return None


def mib(kib: int | None) -> str:
    return "n/a" if kib is None else f"{kib / 1024:.0f} MiB"


class Stack:
    """`cargo run -q -p kupe-local` in its own process group; stopped like Ctrl-C, then killed."""

    def __init__(self, port: int, start_timeout: float, inject: str | None) -> None:
        env = dict(os.environ)
        for k in ("SIM_FAIL", "SIM_HANG", "SIM_PROFILE", "KUPE_DEV_API_KEY"):
            env.pop(k, None)
        if inject:
            env["SIM_FAIL"] = inject
        env["KUPE_RATE_LIMIT"] = str(10**9)
        env["KUPE_RATE_LIMIT_WINDOW_SECONDS"] = "60"
        env["KUPE_LOCAL_PORT"] = str(port)
        env["KUPE_REPO_ROOT"] = ROOT
        self.log = tempfile.NamedTemporaryFile(prefix="kupe-soak-stack-", suffix=".log", delete=False)
        self.proc = subprocess.Popen(
            [os.environ.get("CARGO", "cargo"), "run", "-q", "-p", "kupe-local"],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=self.log, text=True,
            start_new_session=True)
        self.exports: dict[str, str] = {}
        self.start_timeout = start_timeout

    def read_exports(self) -> None:
        """Waits for `Serving on` (a build may come first) and keeps the `export` lines."""
        self._read_exports(self.start_timeout)

    def _read_exports(self, timeout: float) -> None:
        lines: list[str] = []
        ready = threading.Event()

        def reader() -> None:
            assert self.proc.stdout is not None
            for line in self.proc.stdout:
                lines.append(line)
                if line.startswith("Serving on"):
                    ready.set()
            ready.set()

        threading.Thread(target=reader, daemon=True).start()
        if not ready.wait(timeout) or self.proc.poll() is not None:
            raise RuntimeError(f"the stack did not become ready within {timeout:.0f} s "
                               f"(stdout: {''.join(lines)[-500:]!r}; stderr in {self.log.name})")
        for line in lines:
            if line.startswith("export "):
                for pair in line[len("export "):].split():
                    k, _, v = pair.partition("=")
                    self.exports[k] = v

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGINT)
                self.proc.wait(timeout=20)
            except (subprocess.TimeoutExpired, ProcessLookupError):
                pass
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait()


def free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def percentile(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, max(0, round(p / 100 * len(xs) + 0.5) - 1))]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--lifecycles", type=int, default=4, help="concurrent lifecycles (default 4)")
    ap.add_argument("--clients", type=int, default=4, help="concurrent hammer clients (default 4)")
    ap.add_argument("--shared", type=int, default=3, help="clusters the hammer shares (default 3)")
    ap.add_argument("--minutes", type=float, default=8, help="load duration (default 8)")
    ap.add_argument("--step-deadline", type=float, default=300,
                    help="seconds a step may take before its cluster counts as stuck (default 300)")
    ap.add_argument("--poll", type=float, default=0.5, help="seconds between status polls")
    ap.add_argument("--think", type=float, default=0.0,
                    help="seconds a hammer client sleeps between GET+PATCH rounds (default 0)")
    ap.add_argument("--inject", metavar="ACTION:CLUSTER[,...]",
                    help="SIM_FAIL for the stack, to check the soak itself: a Degraded cluster named "
                         "there counts as injected, not false (e.g. update:soak-l0-1)")
    ap.add_argument("--port", type=int, default=0,
                    help="KUPE_LOCAL_PORT for the stack (default: a free port)")
    ap.add_argument("--start-timeout", type=float, default=1200,
                    help="seconds to wait for the stack (a cold build included; default 1200)")
    args = ap.parse_args()

    # Ctrl-C, a TERM or a HUP unwind through `finally`, which stops the stack (an async job in
    # a non-interactive shell starts with SIGINT ignored: restore it).
    def interrupted(signum, _frame):
        raise KeyboardInterrupt(signal.Signals(signum).name)

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, interrupted)

    stats = Stats()
    if args.inject:
        stats.injected = {r.partition(":")[2] for r in args.inject.split(",")}
    t_begin = time.time()
    load_start = os.getloadavg()
    print(f"soak: {args.lifecycles} lifecycles, {args.clients} clients on {args.shared} shared "
          f"clusters, {args.minutes:g} min; {os.cpu_count()} cores, load average "
          f"{load_start[0]:.2f} {load_start[1]:.2f} {load_start[2]:.2f}", flush=True)

    stack = None
    try:
        try:
            stack = Stack(args.port or free_port(), args.start_timeout, args.inject)
            stack.read_exports()
        except (RuntimeError, OSError) as e:
            print(f"soak: cannot start the stack: {e}", file=sys.stderr)
            return 2
        env = stack.exports
        for k in ("KUPE_API_URL", "KUPE_TENANT", "KUPE_API_KEY"):
            if k not in env:
                print(f"soak: the stack printed no `export {k}=`", file=sys.stderr)
                return 2
        stack_pid, emu_pid = find_stack_processes(stack.proc.pid)
        emu_url = env.get("AWS_ENDPOINT_URL")
        print(f"soak: stack at {env['KUPE_API_URL']} (pid {stack_pid}), emulator at {emu_url} "
              f"(pid {emu_pid}); stack log {stack.log.name}", flush=True)

        admin = Client(env["KUPE_API_URL"], env["KUPE_TENANT"], env["KUPE_API_KEY"], stats)
        status, _, body = admin.call("PATCH", PATCH_TENANT, f"/tenants/{env['KUPE_TENANT']}",
                                     {"plan": "enterprise"})
        if status != 200:
            print(f"soak: switching the tenant to enterprise answered {status}: {body}", file=sys.stderr)
            return 2

        shared = [f"soak-shared-{k}" for k in range(args.shared)]
        for name in shared:
            status, _, body = admin.call("POST", CREATE_CLUSTER, admin.cluster_path(), {
                "name": name, "displayName": name, "type": "shared", "version": "1.32",
                "resources": {"cpu": "1", "memory": "2Gi", "storage": "10Gi"}})
            if status != 201:
                print(f"soak: creating {name} answered {status}: {body}", file=sys.stderr)
                return 2
        for name in shared:
            if wait_for(admin, stats, name, "create", False, args.step_deadline, args.poll) != "ok":
                print(f"soak: shared cluster {name} did not reach Running", file=sys.stderr)
                return 1

        rss_start = (rss_kib(stack_pid), rss_kib(emu_pid), emulator_stats(emu_url))
        peak = {"stack": rss_start[0] or 0, "emulator": rss_start[1] or 0}
        loads = [os.getloadavg()[0]]
        emu_series = [rss_start[1] or 0]  # the emulator's RSS at start and after each minute
        stop_at = time.monotonic() + args.minutes * 60
        threads = [threading.Thread(target=lifecycle_worker, args=(i, args, env, stats, stop_at))
                   for i in range(args.lifecycles)]
        threads += [threading.Thread(target=hammer_worker,
                                     args=(i, env, shared, stats, stop_at, args.think))
                    for i in range(args.clients)]
        for t in threads:
            t.daemon = True
            t.start()
        next_report = time.monotonic() + 60
        while any(t.is_alive() for t in threads):
            time.sleep(2)
            for key, pid in (("stack", stack_pid), ("emulator", emu_pid)):
                peak[key] = max(peak[key], rss_kib(pid) or 0)
            if time.monotonic() >= next_report:
                next_report += 60
                loads.append(os.getloadavg()[0])
                emu_series.append(rss_kib(emu_pid) or 0)
                with stats.lock:
                    c = dict(stats.counters)
                print(f"[{time.strftime('%H:%M:%S')}] lifecycles done {c.get('lifecycles done', 0)}, "
                      f"PATCH 200 {c.get('hammer PATCH 200', 0)} / 412 {c.get('hammer PATCH 412', 0)}, "
                      f"stack {mib(rss_kib(stack_pid))}, emulator {mib(rss_kib(emu_pid))}, "
                      f"load {loads[-1]:.2f}", flush=True)
        # The hammered clusters must settle too: done at their last generation, never Degraded.
        for name in shared:
            wait_for(admin, stats, name, "the hammer's last PATCH", False, args.step_deadline, args.poll)
        rss_end = (rss_kib(stack_pid), rss_kib(emu_pid), emulator_stats(emu_url))
        load_end = os.getloadavg()
    finally:
        if stack is not None:
            stack.stop()

    c = stats.counters
    print()
    print(f"=== soak results ({time.strftime('%Y-%m-%d %H:%M:%S %Z')}, "
          f"{(time.time() - t_begin) / 60:.1f} min wall) ===")
    print(f"config: {args.lifecycles} lifecycles, {args.clients} clients on {args.shared} shared "
          f"clusters, {args.minutes:g} min of load, step deadline {args.step_deadline:.0f} s")
    print(f"machine: {os.cpu_count()} cores; load average at start {load_start[0]:.2f} "
          f"{load_start[1]:.2f} {load_start[2]:.2f}, at end {load_end[0]:.2f} {load_end[1]:.2f} "
          f"{load_end[2]:.2f}; 1-min load sampled each minute: "
          + " ".join(f"{x:.1f}" for x in loads))
    print(f"lifecycles done (create -> resize -> upgrade -> delete): {c.get('lifecycles done', 0)}")
    print(f"false failures (Degraded, nothing injected): {len(stats.false_failures)}")
    for f in stats.false_failures:
        print(f"  {f}")
    if args.inject:
        print(f"injected failures seen (--inject {args.inject}): {len(stats.injected_failures)}")
    print(f"clusters stuck (a step not done within {args.step_deadline:.0f} s): {len(stats.stuck)}")
    for s in stats.stuck:
        print(f"  {s}")
    print(f"other errors: {len(stats.errors)}")
    for e in stats.errors[:20]:
        print(f"  {e}")
    p200, p412 = c.get("hammer PATCH 200", 0), c.get("hammer PATCH 412", 0)
    print(f"hammer PATCH with If-Match: 200 {p200}, 412 {p412}"
          + (f" ({100 * p412 / (p200 + p412):.0f}% lost the race)" if p200 + p412 else ""))
    others = {k: v for k, v in c.items()
              if k.startswith(("hammer", "connection")) and k not in ("hammer PATCH 200", "hammer PATCH 412")}
    for k, v in sorted(others.items()):
        print(f"  {k}: {v}")
    print()
    print("| route | requests | p50 | p99 | statuses |")
    print("|---|---:|---:|---:|---|")
    for route in sorted(stats.latency):
        xs = stats.latency[route]
        sts = ", ".join(f"{s}: {n}" for s, n in sorted(stats.statuses[route].items()))
        print(f"| {route} | {len(xs)} | {percentile(xs, 50) * 1000:.0f} ms | "
              f"{percentile(xs, 99) * 1000:.0f} ms | {sts} |")
    print()
    print(f"stack RSS (kupe-local, VmRSS): start {mib(rss_start[0])}, end {mib(rss_end[0])}, "
          f"peak {mib(peak['stack'])}")
    print(f"emulator RSS (VmRSS): start {mib(rss_start[1])}, end {mib(rss_end[1])}, "
          f"peak {mib(peak['emulator'])}")
    emu_series.append(rss_end[1] or 0)
    print("emulator RSS at start, each minute and at the end (MiB): "
          + " ".join(f"{x / 1024:.0f}" for x in emu_series))
    half = emu_series[len(emu_series) // 2]
    if half:
        print(f"emulator RSS growth over the second half of the run: "
              f"{100 * (emu_series[-1] - half) / half:+.0f}% ({mib(half)} -> {mib(emu_series[-1])})")
    for label, s in (("start", rss_start[2]), ("end", rss_end[2])):
        if s:
            print(f"emulator /_kupe/stats at {label}: {json.dumps(s)}")
    bad = bool(stats.false_failures or stats.stuck)
    print(f"verdict: {'FAIL' if bad else 'ok'}")
    if not bad and stack is not None:
        os.unlink(stack.log.name)
    return 1 if bad else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt as e:
        print(f"soak: interrupted ({e or 'SIGINT'}); the stack is stopped", file=sys.stderr)
        sys.exit(130)
