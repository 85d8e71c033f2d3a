#!/usr/bin/env python3
"""The load client, the monitor and the report of test/load/run.sh.

    load.py CONFIG.json [--doc docs/load.md]

CONFIG is written by run.sh (ports, directories, durations).  Two phases,
each with N analysts connected over TCP to the coordinator (site_a), each
running federated queries in a loop without pause, alternating a total and
a GROUP BY query; every answer is compared with the plaintext truth:

  steady   N clients for D seconds (this Python client, or pgbench with
           --pgbench: -c N -j 2 -T D -n with a per-transaction log);
  restart  the same with site_b stopped (pg_ctl stop -m fast) at R seconds
           and started again O seconds later.

Meanwhile a monitor samples, every 2 s, the coordinator's client backends
and every peer's scor backends (pg_stat_activity, then /proc/PID/status and
/proc/PID/stat) and the load average.  After each phase it checks that no
connection is left at any site.  Exits 1 when a check fails, and prints
(and, with --doc, writes) the figures.
"""
import datetime
import json
import os
import platform
import re
import resource
import subprocess
import sys
import threading
import time

import psycopg2

QUERIES = {
    "total": "SELECT * FROM scor.federate($q$ SELECT enc_count(*), enc_sum(x) FROM t WHERE flag $q$) "
             "AS t(n bigint, s bigint)",
    "group": "SELECT * FROM scor.federate($q$ SELECT g, enc_count(*), enc_sum(x) FROM t WHERE flag GROUP BY g $q$) "
             "AS t(g text, n bigint, s bigint) ORDER BY g",
}
KINDS = ["total", "group"]
TRUTH_SQL = {
    "total": "SELECT count(*), sum(x) FROM t WHERE flag",
    "group": "SELECT g, count(*), sum(x) FROM t WHERE flag GROUP BY g",
}

APP = "scor-load"              # the analysts' application_name at the coordinator
MONITOR_APP = "scor-load-monitor"
PEER_APP = "scor"              # what scor's connections to a peer present
SAMPLE_EVERY = 2.0
WARMUP = 10.0                  # memory growth is measured from here to the end
GROWTH_PCT = 20.0              # a backend fails when it grows by more than both
GROWTH_KB = 10 * 1024
DRAIN_TIMEOUT = 15.0           # connections must be gone this long after the clients
SINGLE_DURATION = 15           # the latency of one analyst alone, before the load

CLK_TCK = os.sysconf("SC_CLK_TCK")


def now():
    return time.time()


class Config:
    def __init__(self, path):
        with open(path) as f:
            c = json.load(f)
        self.__dict__.update(c)
        self.password = os.environ["SCOR_LOAD_PASSWORD"]

    def analyst_dsn(self):
        return dict(host=self.host, port=self.sites[self.coordinator], dbname=self.dbname,
                    user=self.analyst, password=self.password, application_name=APP,
                    connect_timeout=10, options="-c statement_timeout=60000")

    def admin_dsn(self, site):
        return dict(host=self.socket_dir, port=self.sites[site], dbname=self.dbname,
                    user="postgres", application_name=MONITOR_APP, connect_timeout=2,
                    options="-c statement_timeout=5000")

    def owner_cmd(self, argv):
        if self.as_root:
            return ["runuser", "-u", "postgres", "--"] + argv
        return argv


class Admin:
    """A superuser connection per site, over the unix socket; None while down."""

    def __init__(self, cfg):
        self.cfg = cfg
        self.conns = {}
        self.lock = threading.Lock()

    def query(self, site, sql, args=None):
        with self.lock:
            conn = self.conns.get(site)
            try:
                if conn is None or conn.closed:
                    conn = psycopg2.connect(**self.cfg.admin_dsn(site))
                    conn.autocommit = True
                    self.conns[site] = conn
                with conn.cursor() as cur:
                    cur.execute(sql, args)
                    return cur.fetchall()
            except psycopg2.Error:
                if conn is not None:
                    try:
                        conn.close()
                    except psycopg2.Error:
                        pass
                self.conns.pop(site, None)
                return None

    def close(self):
        for conn in self.conns.values():
            try:
                conn.close()
            except psycopg2.Error:
                pass
        self.conns = {}


def proc_status(pid):
    """VmRSS, RssAnon, RssShmem (kB) and CPU seconds of a process, or None."""
    out = {}
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                k, _, v = line.partition(":")
                if k in ("VmRSS", "RssAnon", "RssShmem", "RssFile"):
                    out[k] = int(v.split()[0])
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        out["cpu"] = (int(fields[11]) + int(fields[12])) / CLK_TCK
    except (OSError, ValueError, IndexError):
        return None
    return out if "VmRSS" in out else None


def cpu_busy():
    """Seconds of CPU the whole machine has spent busy since boot."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return (sum(v[:8]) - v[3] - v[4]) / CLK_TCK


def loadavg():
    with open("/proc/loadavg") as f:
        return float(f.read().split()[0])


class Monitor(threading.Thread):
    """Every SAMPLE_EVERY seconds: the coordinator's client backends and every
    peer's scor backends, their memory and CPU, and the load average."""

    def __init__(self, cfg, admin, t0, end, client_app):
        super().__init__(daemon=True)
        self.cfg, self.admin, self.t0, self.end, self.client_app = cfg, admin, t0, end, client_app
        self.samples = []
        self.stop = threading.Event()

    def sample(self):
        s = {"t": now() - self.t0, "load1": loadavg(), "backends": [], "peer_conns": {}, "down": []}
        for site in self.cfg.sites:
            rows = self.admin.query(
                site, "SELECT pid, application_name FROM pg_stat_activity WHERE application_name IN (%s, %s)",
                (self.client_app, PEER_APP))
            if rows is None:
                s["down"].append(site)
                continue
            s["peer_conns"][site] = sum(1 for _, app in rows if app == PEER_APP)
            for pid, app in rows:
                st = proc_status(pid)
                if st is None:
                    continue
                role = "coordinator" if app == self.client_app else "peer"
                s["backends"].append(dict(site=site, role=role, pid=pid, **st))
        self.samples.append(s)

    def run(self):
        while not self.stop.is_set() and now() < self.end:
            self.sample()
            self.stop.wait(SAMPLE_EVERY)


def compute_truth(cfg, admin):
    total = [0, 0]
    groups = {}
    for site in cfg.sites:
        n, s = admin.query(site, TRUTH_SQL["total"])[0]
        total[0] += n
        total[1] += s
        for g, n, s in admin.query(site, TRUTH_SQL["group"]):
            a = groups.setdefault(g, [0, 0])
            a[0] += n
            a[1] += s
    return {"total": [tuple(total)], "group": sorted((g, n, s) for g, (n, s) in groups.items())}


def log_size(path):
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


def log_since(path, offset):
    try:
        with open(path, errors="replace") as f:
            f.seek(offset)
            return f.read()
    except OSError:
        return ""


def server_log(cfg, site):
    return os.path.join(cfg.work, site[-1], "server.log")


#
# The load: this client, or pgbench
#

def python_load(cfg, truth, t0, end, records, reconnects, pids, nclients):
    """One thread per analyst, one persistent connection each."""

    def worker(idx):
        conn = None
        i = idx
        while now() < end:
            if conn is None or conn.closed:
                try:
                    conn = psycopg2.connect(**cfg.analyst_dsn())
                    conn.autocommit = True
                    pids[idx] = conn.get_backend_pid()
                except psycopg2.Error as e:
                    records.append((now() - t0, 0.0, "connect", idx, "connect", str(e).strip()))
                    time.sleep(0.5)
                    continue
            kind = KINDS[i % 2]
            i += 1
            start = now()
            m0 = time.perf_counter()
            code = msg = None
            try:
                with conn.cursor() as cur:
                    cur.execute(QUERIES[kind])
                    rows = [tuple(r) for r in cur.fetchall()]
                if rows != truth[kind]:
                    code, msg = "wrong", "wrong answer: %r, expected %r" % (rows, truth[kind])
            except psycopg2.Error as e:
                code = e.pgcode or "client"
                d = e.diag
                msg = d.message_primary or str(e).strip()
                if d.message_detail:
                    msg += " | DETAIL: " + d.message_detail
                if conn.closed:
                    reconnects[idx] = reconnects.get(idx, 0) + 1
            lat = time.perf_counter() - m0
            records.append((start - t0, lat, kind, idx, code, msg, pids.get(idx)))
        if conn is not None:
            conn.close()

    threads = [threading.Thread(target=worker, args=(k,), daemon=True) for k in range(nclients)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(max(1.0, end - now() + 90))
    return sum(th.is_alive() for th in threads)


def pgbench_load(cfg, t0, end, records, notes):
    """pgbench -c N -j 2 -T D -n, the two queries as two scripts of equal
    weight, a per-transaction log; a client that fails aborts (pgbench 15)."""
    files = []
    for k, kind in enumerate(KINDS):
        path = os.path.join(cfg.work, "pgbench-%s.sql" % kind)
        with open(path, "w") as f:
            f.write(QUERIES[kind] + ";\n")
        files += ["-f", path]
    prefix = os.path.join(cfg.work, "pgbench-log")
    env = dict(os.environ, PGPASSWORD=cfg.password, PGAPPNAME=APP, PGCONNECT_TIMEOUT="10")
    argv = [os.path.join(cfg.bindir, "pgbench"), "-h", cfg.host, "-p", str(cfg.sites[cfg.coordinator]),
            "-U", cfg.analyst, "-n", "-c", str(cfg.clients), "-j", "2", "-T", str(cfg.duration),
            "--log", "--log-prefix=" + prefix] + files + [cfg.dbname]
    notes["pgbench_cmd"] = " ".join(argv).replace(cfg.work + "/", "")
    p = subprocess.run(argv, env=env, cwd=cfg.work, capture_output=True, text=True,
                       timeout=cfg.duration + 120)
    notes["pgbench_rc"] = p.returncode
    notes["pgbench_out"] = p.stdout
    aborted = [line.strip() for line in p.stderr.splitlines() if "aborted in command" in line]
    for line in aborted:
        records.append((end - t0, 0.0, "pgbench", -1, "pgbench", line))
    if p.returncode != 0 and not aborted:
        records.append((end - t0, 0.0, "pgbench", -1, "pgbench", "pgbench exited with status %d: %s" % (
            p.returncode, p.stderr.strip()[-500:])))
    for line in p.stdout.splitlines():
        m = re.match(r"number of failed transactions: (\d+)", line)
        if m and int(m.group(1)) > 0:
            records.append((end - t0, 0.0, "pgbench", -1, "pgbench", line.strip()))
    for name in sorted(os.listdir(cfg.work)):
        if not name.startswith("pgbench-log."):
            continue
        with open(os.path.join(cfg.work, name)) as f:
            for line in f:
                # client_id transaction_no time script_no time_epoch time_us
                fl = line.split()
                if len(fl) < 6:
                    continue
                if fl[2] in ("failed", "skipped"):
                    records.append((float(fl[4]) - t0, 0.0, KINDS[int(fl[3])], int(fl[0]), "failed", line.strip()))
                    continue
                lat = int(fl[2]) / 1e6
                t_end = int(fl[4]) + int(fl[5]) / 1e6
                records.append((t_end - lat - t0, lat, KINDS[int(fl[3])], int(fl[0]), None, None))
    return 0


def restarter(cfg, t0, events):
    """Stop the restarted peer at restart_at, start it again outage s later."""
    data, log = cfg.restart_data, cfg.restart_log
    pg_ctl = os.path.join(cfg.bindir, "pg_ctl")
    time.sleep(max(0.0, t0 + cfg.restart_at - now()))
    events["stop_begin"] = now() - t0
    p = subprocess.run(cfg.owner_cmd([pg_ctl, "-D", data, "-m", "fast", "-w", "-t", "60", "stop"]),
                       cwd="/", capture_output=True, text=True, timeout=90)
    events["stopped"] = now() - t0
    events["stop_rc"] = p.returncode
    time.sleep(cfg.outage)
    events["start_begin"] = now() - t0
    p = subprocess.run(cfg.owner_cmd([pg_ctl, "-D", data, "-l", log, "-w", "-t", "60", "start"]),
                       cwd="/", capture_output=True, text=True, timeout=90)
    events["ready"] = now() - t0
    events["start_rc"] = p.returncode


#
# One phase
#

def drain(cfg, admin):
    """Wait until no client backend and no scor connection is left at any
    site; returns (seconds it took, what was left at the deadline)."""
    t = now()
    left = {}
    while now() - t < DRAIN_TIMEOUT:
        left = {}
        for site in cfg.sites:
            rows = admin.query(site, "SELECT application_name, count(*) FROM pg_stat_activity "
                                     "WHERE application_name IN (%s, %s, 'pgbench') GROUP BY 1",
                               (APP, PEER_APP))
            if rows is None:
                left[site] = {"unreachable": 1}
            elif rows:
                left[site] = dict(rows)
        if not left:
            return now() - t, {}
        time.sleep(0.2)
    return now() - t, left


def run_phase(cfg, admin, truth, name, client, restart, clients, duration):
    print("== phase %s: %d client%s (%s), %d s%s" % (
        name, clients, "s" if clients > 1 else "", client, duration,
        ", site %s stopped at %d s for %d s" % (cfg.restarted, cfg.restart_at, cfg.outage) if restart else ""),
        flush=True)
    offsets = {site: log_size(server_log(cfg, site)) for site in cfg.sites}
    ru0 = resource.getrusage(resource.RUSAGE_SELF)
    ruc0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    load_before = loadavg()
    busy0 = cpu_busy()
    t0 = now()
    end = t0 + duration
    records, reconnects, events, notes = [], {}, {}, {}
    mon = Monitor(cfg, admin, t0, end, APP)
    mon.start()
    rth = None
    if restart:
        rth = threading.Thread(target=restarter, args=(cfg, t0, events), daemon=True)
        rth.start()
    if client == "pgbench":
        stuck = pgbench_load(cfg, t0, end, records, notes)
    else:
        stuck = python_load(cfg, truth, t0, end, records, reconnects, {}, clients)
    elapsed = now() - t0
    busy = cpu_busy() - busy0
    mon.stop.set()
    mon.join(10)
    if rth is not None:
        rth.join(120)
    drain_s, left = drain(cfg, admin)
    ru1 = resource.getrusage(resource.RUSAGE_SELF)
    ruc1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    conn_auth, log_errors, log_alarms = {}, {}, {}
    for site in cfg.sites:
        text = log_since(server_log(cfg, site), offsets[site])
        conn_auth[site] = len(re.findall(r"connection authorized: user=scor_peer", text))
        log_errors[site] = len(re.findall(r"\bERROR:", text))
        # what must never appear: warnings (resource, cache or snapshot leaks
        # are reported as such), assertion failures, crashes
        log_alarms[site] = [line for line in text.splitlines()
                            if re.search(r"\b(WARNING|PANIC):|TRAP:|leak|terminated by signal|"
                                         r"terminated by exception|server process .* exited", line)]
    cpu_client = (ru1.ru_utime + ru1.ru_stime - ru0.ru_utime - ru0.ru_stime)
    if client == "pgbench":
        cpu_client = ruc1.ru_utime + ruc1.ru_stime - ruc0.ru_utime - ruc0.ru_stime
    return dict(name=name, client=client, restart=restart, clients=clients, duration=duration,
                t0=t0, elapsed=elapsed, records=records,
                reconnects=reconnects, events=events, notes=notes, samples=mon.samples,
                drain_s=drain_s, left=left, stuck=stuck, conn_auth=conn_auth,
                log_errors=log_errors, log_alarms=log_alarms,
                cpu_client=cpu_client, cpu_machine=busy, load_before=load_before, load_after=loadavg())


#
# Figures and checks
#

def pct(sorted_vals, p):
    if not sorted_vals:
        return float("nan")
    k = max(0, min(len(sorted_vals) - 1, int(-(-p * len(sorted_vals) // 100)) - 1))
    return sorted_vals[k]


def latency_stats(recs):
    lat = sorted(r[1] for r in recs)
    return dict(n=len(lat), p50=pct(lat, 50) * 1000, p99=pct(lat, 99) * 1000,
                max=(lat[-1] * 1000 if lat else float("nan")),
                mean=(sum(lat) / len(lat) * 1000 if lat else float("nan")))


def memory(ph, role):
    """Per backend: first sample, the first sample at or after WARMUP, the
    last sample while the clients ran (a backend must be in both)."""
    series = {}
    for s in ph["samples"]:
        for b in s["backends"]:
            if b["role"] == role:
                series.setdefault((b["site"], b["pid"]), []).append((s["t"], b))
    out = []
    for (site, pid), ser in sorted(series.items()):
        # a backend that appears later (site_b's after the restart) warms up from its first sample
        t_warm = max(WARMUP, ser[0][0] + WARMUP - SAMPLE_EVERY) if ser[0][0] > SAMPLE_EVERY else WARMUP
        base_t, base = next(((t, b) for t, b in ser if t >= t_warm), (None, None))
        first, last = ser[0][1], ser[-1][1]
        if base is None or ser[-1][0] < base_t + 10:
            out.append(dict(site=site, pid=pid, first=first, base=None, last=last, t_first=ser[0][0],
                            t_last=ser[-1][0], short=True))
            continue
        row = dict(site=site, pid=pid, first=first, base=base, last=last, t_first=ser[0][0],
                   t_last=ser[-1][0], short=False)
        row["t_base"] = base_t
        if role == "coordinator":
            row["queries"] = sum(1 for r in ph["records"] if len(r) > 6 and r[6] == pid
                                 and base_t <= r[0] and r[0] + r[1] <= ser[-1][0])
        row["grow_RssShmem"] = last.get("RssShmem", 0) - base.get("RssShmem", 0)
        for k in ("VmRSS", "RssAnon"):
            g = last[k] - base[k]
            row["grow_" + k] = g
            row["bad_" + k] = g > GROWTH_KB and g > base[k] * GROWTH_PCT / 100
        out.append(row)
    return out


def analyse(cfg, ph):
    recs = [r for r in ph["records"] if r[2] in KINDS]
    ok = [r for r in recs if r[4] is None]
    errs = [r for r in ph["records"] if r[4] is not None]
    a = dict(queries=len(recs), ok=len(ok), errors=len(errs),
             qps=len(ok) / ph["elapsed"] if ph["elapsed"] else 0.0,
             lat=latency_stats(ok), by_kind={k: latency_stats([r for r in ok if r[2] == k]) for k in KINDS})
    a["lat_failed"] = latency_stats([r for r in errs if r[2] in KINDS])
    loads = [s["load1"] for s in ph["samples"]]
    a["load"] = (min(loads), sum(loads) / len(loads), max(loads)) if loads else (0, 0, 0)
    a["mem_coord"] = memory(ph, "coordinator")
    a["mem_peer"] = memory(ph, "peer")
    a["max_peer_conns"] = {site: max([s["peer_conns"].get(site, 0) for s in ph["samples"]] or [0])
                           for site in cfg.sites}
    a["max_coord_backends"] = max([sum(1 for b in s["backends"] if b["role"] == "coordinator")
                                   for s in ph["samples"]] or [0])
    # CPU seconds used during the phase, per site and role: last minus first sample per pid
    cpu = {}
    seen = {}
    for s in ph["samples"]:
        for b in s["backends"]:
            seen.setdefault((b["site"], b["role"], b["pid"]), []).append(b["cpu"])
    for (site, role, pid), v in seen.items():
        key = "%s %s" % (site, role)
        cpu[key] = cpu.get(key, 0.0) + (v[-1] - v[0])
    a["cpu"] = cpu
    msgs = {}
    for r in errs:
        m = re.sub(r"\d+\.\d+\.\d+\.\d+|port \d+|\b\d{3,}\b", "#", r[5] or "")
        m = re.sub(r"\s+", " ", m).strip()
        key = "%s %s" % (r[4], m)
        msgs[key] = msgs.get(key, 0) + 1
    a["messages"] = sorted(msgs.items(), key=lambda kv: -kv[1])
    return a


def check(cfg, ph, a):
    """The pass/fail list of a phase: (ok, text)."""
    c = []
    n = ph["clients"]
    c.append((ph["stuck"] == 0, "every client finished within its time limit"))
    alarms = [line for v in ph["log_alarms"].values() for line in v]
    c.append((not alarms, "no WARNING, PANIC, assertion failure, leak report or crashed process in any "
              "server log (%d)%s" % (len(alarms), "" if not alarms else ": " + " / ".join(alarms[:3]))))
    if not ph["restart"]:
        c.append((sum(ph["log_errors"].values()) == 0, "no ERROR in any server log (%s)" % ", ".join(
            "%s %d" % kv for kv in ph["log_errors"].items())))
    if ph["name"] == "single":
        c.append((a["errors"] == 0 and a["ok"] > 0, "zero errors (%d queries, %d errors or wrong answers)" % (
            a["queries"], a["errors"])))
        c.append((not ph["left"], "no connection left behind (%.1f s)" % ph["drain_s"]))
        return c
    c.append((a["max_coord_backends"] >= n,
              "%d client backends seen at the coordinator (expected %d)" % (a["max_coord_backends"], n)))
    if not ph["restart"]:
        if ph["client"] == "python":
            what = "zero errors (%d queries, %d errors or wrong answers; every answer compared with the " \
                   "plaintext truth)" % (a["queries"], a["errors"])
        else:
            what = "zero errors (%d transactions, %d failed or aborted clients; pgbench does not compare " \
                   "answers)" % (a["queries"], a["errors"])
        c.append((a["errors"] == 0 and a["ok"] > 0, what))
    for role, mem in (("coordinator", a["mem_coord"]), ("peer", a["mem_peer"])):
        measured = [m for m in mem if not m["short"]]
        bad = [m for m in measured if m["bad_RssAnon"]]
        if ph["restart"] and role == "peer":
            continue  # site_b's backends are replaced half-way
        c.append((not bad and bool(measured),
                  "%s backends flat in memory from %d s to the end: %d measured, %d grew by more than "
                  "%d%% and %d MB (private memory, RssAnon)" % (
                      role, WARMUP, len(measured), len(bad), GROWTH_PCT, GROWTH_KB // 1024)))
    for site, m in a["max_peer_conns"].items():
        if site == cfg.coordinator:
            c.append((m == 0, "no scor connection into the coordinator %s (max %d)" % (site, m)))
        else:
            c.append((m <= n, "at most one scor connection per client backend at %s (max %d, %d clients)"
                      % (site, m, n)))
    c.append((not ph["left"], "no connection left behind: every client backend and every scor connection "
              "gone %.1f s after the clients disconnected%s" % (
                  ph["drain_s"], "" if not ph["left"] else " (left: %r)" % ph["left"])))
    if not ph["restart"]:
        for site, k in ph["conn_auth"].items():
            if site != cfg.coordinator:
                c.append((k <= n, "no connection churn at %s: %d scor_peer logins for %d clients" % (site, k, n)))
        return c

    ev = ph["events"]
    c.append((ev.get("stop_rc") == 0 and ev.get("start_rc") == 0,
              "%s stopped at %.1f s (down at %.1f s), started at %.1f s, ready at %.1f s" % (
                  cfg.restarted, ev.get("stop_begin", -1), ev.get("stopped", -1), ev.get("start_begin", -1),
                  ev.get("ready", -1))))
    lo, hi = ev.get("stop_begin", 0), ev.get("ready", ph["duration"])
    errs = [r for r in ph["records"] if r[4] is not None]
    outside = [r for r in errs if r[0] + r[1] < lo or r[0] >= hi]
    c.append((not outside, "errors only during the outage: %d of %d errors outside [%.1f s, %.1f s]" % (
        len(outside), len(errs), lo, hi)))
    unnamed = [r for r in errs if 'site "%s"' % cfg.restarted not in (r[5] or "")]
    c.append((errs and not unnamed, "every error names site \"%s\": %d errors, %d do not" % (
        cfg.restarted, len(errs), len(unnamed))))
    before = [r for r in ph["records"] if r[4] is None and r[0] + r[1] < lo]
    after = [r for r in ph["records"] if r[0] >= hi]
    c.append((before and after and all(r[4] is None for r in after),
              "queries before the outage succeed (%d), and every query started after %s was back "
              "succeeds (%d of %d)" % (len(before), cfg.restarted, sum(r[4] is None for r in after), len(after))))
    recovered = {r[3] for r in after if r[4] is None}
    c.append((len(recovered) == n, "every client recovered: %d of %d had a successful query after the "
              "restart" % (len(recovered), n)))
    fl = a["lat_failed"]
    c.append((fl["n"] == 0 or fl["max"] < 10000,
              "failures are quick: the slowest failed query took %.0f ms" % (fl["max"] if fl["n"] else 0)))
    rc = sum(ph["reconnects"].values())
    c.append((rc == 0, "no analyst session was lost (%d reconnects)" % rc))
    after_conns = [s["peer_conns"].get(cfg.restarted, 0) for s in ph["samples"] if s["t"] >= hi]
    c.append((all(k <= n for k in after_conns), "after the restart at most %d scor connections at %s (max %d)"
              % (n, cfg.restarted, max(after_conns or [0]))))
    return c


def timeline(cfg, ph):
    """Per second of start time: successes, errors."""
    bins = {}
    for r in ph["records"]:
        if r[2] not in KINDS:
            continue
        sec = int(r[0])
        ok, err = bins.get(sec, (0, 0))
        bins[sec] = (ok + (r[4] is None), err + (r[4] is not None))
    return [(s, bins.get(s, (0, 0))[0], bins.get(s, (0, 0))[1]) for s in range(0, int(ph["elapsed"]) + 1)]


#
# Report
#

def sh(argv, cwd=None):
    try:
        return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=20).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def machine(cfg, admin):
    cpu = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        mem_kb = int(f.readline().split()[1])
    commit = sh(["git", "-c", "safe.directory=*", "-C", cfg.repo, "rev-parse", "--short", "HEAD"])
    dirty = sh(["git", "-c", "safe.directory=*", "-C", cfg.repo, "status", "--porcelain", "--", "src", "sql"])
    ver = admin.query(cfg.coordinator, "SELECT current_setting('server_version'), "
                      "(SELECT extversion FROM pg_extension WHERE extname = 'scor')")
    return dict(cpu=cpu, ncpu=os.cpu_count(), mem_gb=mem_kb / 1024 / 1024, kernel=platform.release(),
                date=datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
                commit=(commit or "?") + (" (with uncommitted changes in src/ or sql/)" if dirty else ""),
                pg=ver[0][0] if ver else "?", scor=ver[0][1] if ver else "?", so=installed_so(cfg))


def installed_so(cfg):
    """sha256 (first 12 hex digits) and mtime of the installed scor.so."""
    import hashlib
    path = os.path.join(sh(["pg_config", "--pkglibdir"]) or "/usr/lib/postgresql/15/lib", "scor.so")
    try:
        with open(path, "rb") as f:
            digest = hashlib.sha256(f.read()).hexdigest()[:12]
        mtime = datetime.datetime.fromtimestamp(os.path.getmtime(path), datetime.timezone.utc)
        return "%s of %s" % (digest, mtime.strftime("%Y-%m-%d %H:%M:%S UTC"))
    except OSError:
        return "?"


def mb(kb):
    return "%.1f" % (kb / 1024)


def fmt_lat(s):
    return "%.1f" % s["p50"], "%.1f" % s["p99"], "%.1f" % s["max"]


def report(cfg, m, phases):
    L = []
    w = L.append
    w("# Load and soak test")
    w("")
    w("Analysts run federated queries without pause at one coordinator of a three-site network:")
    w("one analyst alone for %d s (phase `single`, the latency without contention), then %d at" % (
        SINGLE_DURATION, cfg.clients))
    w("once for %d s (`steady`), then %d for %d s during which one peer is stopped and started" % (
        cfg.duration, cfg.clients, cfg.duration))
    w("again (`restart`). Written by `test/load/run.sh` (the figures below are from the run of")
    w("%s); reproduce, as root, after `make && make install`:" % m["date"])
    w("")
    w("```sh")
    w("bash test/load/run.sh              # every phase, rewrites this file (about 3 minutes)")
    w("bash test/load/run.sh --pgbench    # the steady phase with pgbench instead of the Python client")
    w("SCOR_LOAD_DURATION=600 bash test/load/run.sh --no-doc   # a longer soak")
    w("```")
    w("")
    w("## Set-up")
    w("")
    w("| | |")
    w("|---|---|")
    w("| machine | %s, %d cores, %.0f GB, Linux %s; shared with other work (load average below) |" % (
        m["cpu"], m["ncpu"], m["mem_gb"], m["kernel"]))
    w("| software | PostgreSQL %s, scor %s (installed `scor.so`: sha256 %s), repository at commit %s |" % (
        m["pg"], m["scor"], m["so"], m["commit"]))
    if m.get("so_end", m["so"]) != m["so"]:
        clock = lambda t: datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime("%H:%M:%S")
        spans = []
        for ph, _ in phases:
            span = "%s %s–%s" % (ph["name"], clock(ph["t0"]), clock(ph["t0"] + ph["elapsed"]))
            if ph["restart"] and "ready" in ph["events"]:
                span += " (%s back at %s)" % (cfg.restarted, clock(ph["t0"] + ph["events"]["ready"]))
            spans.append(span)
        w("| note | `scor.so` was reinstalled by other work on this machine during the run (now %s); a "
          "backend started after that runs the newer one. The phases ran: %s |" % (m["so_end"], "; ".join(spans)))
    w("| sites | three clusters on 127.0.0.1 (`site_a` coordinator, `site_b`, `site_c`), peers wired as foreign "
      "servers with a `PUBLIC` user mapping for `scor_peer`, scram-sha-256 over TCP |")
    w("| data | %d rows per site: `t(id, x, flag, g)`, a third of the rows flagged, four groups |" % cfg.rows)
    w("| settings | `shared_buffers = 128MB`, `max_connections = %d`, `synchronous_commit = off` (each "
      "answered query writes a `scor.query_log` row at every site), scor defaults otherwise |"
      % (4 * cfg.clients + 20))
    w("| clients | %d analysts (`load_analyst`, a member of `scor_analyst`) over TCP with scram-sha-256, one "
      "persistent connection each, no think time, alternating the two queries below |" % cfg.clients)
    w("")
    w("```sql")
    for k in KINDS:
        w(QUERIES[k].replace("$q$", "$$") + ";")
    w("```")
    w("")
    w("Every answer is compared with the plaintext truth (computed by the script as superuser at each")
    w("site); a wrong answer counts as an error. Memory is read from `/proc/PID/status` of the")
    w("coordinator's client backends (`application_name` `%s`) and of every peer's scor backends" % APP)
    w("(`application_name` `scor`) every %.0f s: `VmRSS`, and `RssAnon`, the backend's private memory," % SAMPLE_EVERY)
    w("which is what a leak grows. `VmRSS` also counts the pages of shared memory a backend has")
    w("touched (`RssShmem`: shared buffers, where `scor.query_log` grows by a row a query at every")
    w("site, and the shared decoding table), which rises with time up to the size of shared memory")
    w("without any leak. A backend fails the check when its `RssAnon` grows by more than")
    w("%d%% and %d MB between %d s and the end." % (GROWTH_PCT, GROWTH_KB // 1024, WARMUP))
    w("")
    w("## Figures")
    w("")
    w("| phase | client | queries/s | p50 ms | p99 ms | max ms | queries | errors | load average before; during (min/mean/max) |")
    w("|---|---|---:|---:|---:|---:|---:|---:|---|")
    for ph, a in phases:
        p50, p99, mx = fmt_lat(a["lat"])
        w("| %s | %s | %.1f | %s | %s | %s | %d | %d | %.1f; %.1f / %.1f / %.1f |" % (
            ph["name"], ph["client"], a["qps"], p50, p99, mx, a["queries"], a["errors"], ph["load_before"],
            *a["load"]))
    w("")
    w("queries/s counts successful queries over the phase; p50/p99/max are of successful queries, "
      "measured by the client from sending the statement to the last row.")
    w("")
    w("Latency of successful queries, by query:")
    w("")
    w("| phase | query | n | p50 ms | p99 ms | max ms |")
    w("|---|---|---:|---:|---:|---:|")
    for ph, a in phases:
        for k in KINDS:
            s = a["by_kind"][k]
            w("| %s | %s | %d | %s | %s | %s |" % (ph["name"], k, s["n"], *fmt_lat(s)))
    w("")
    w("CPU seconds used during each phase, of %d cores × its duration: by the load client, by "
      "the backends it measures (from their first to their last sample, so a little less than they used), "
      "and by the whole machine (`/proc/stat`); the rest of the machine's is other work, which ran "
      "at the same time (the load average was %.1f before the clusters were made; %d busy clients "
      "alone make a load average of about %d):" % (
        m["ncpu"], cfg.load_at_start, cfg.clients, cfg.clients))
    w("")
    roles = ["%s %s" % (s, "coordinator" if s == cfg.coordinator else "peer") for s in cfg.sites]
    w("| phase | client | " + " | ".join(roles) + " | machine busy | not this test |")
    w("|---|---:|" + "---:|" * len(roles) + "---:|---:|")
    for ph, a in phases:
        cells = [a["cpu"].get(r, 0.0) for r in roles]
        ours = ph["cpu_client"] + sum(cells)
        w("| %s (%d s) | %.1f | %s | %.1f | %.1f |" % (ph["name"], ph["duration"], ph["cpu_client"],
                                                   " | ".join("%.1f" % c for c in cells),
                                             ph["cpu_machine"], max(0.0, ph["cpu_machine"] - ours)))
    w("")
    for ph, a in phases:
        w("## Phase %s: checks" % ph["name"])
        w("")
        for ok, text in ph["checks"]:
            w("- %s %s" % ("✓" if ok else "✗ **FAILED**", text))
        if ph["client"] == "pgbench" and ph["notes"].get("pgbench_cmd"):
            w("")
            w("`%s`" % ph["notes"]["pgbench_cmd"])
        w("")
    for ph, a in phases:
        if ph["name"] == "single":
            continue
        w("## Phase %s: memory of the coordinator's backends" % ph["name"])
        w("")
        w("VmRSS in MB; RssAnon (private memory) in MB and its growth in kB; queries: what the backend "
          "ran between the %.0f s sample and its last sample." % WARMUP)
        w("")
        measured = [r for r in a["mem_coord"] if not r["short"]]
        if measured:
            gv = sorted(r["grow_VmRSS"] for r in measured)[len(measured) // 2]
            gs = sorted(r["grow_RssShmem"] for r in measured)[len(measured) // 2]
            w("The median backend's VmRSS grew by %.1f MB, of which %.1f MB shared memory (RssShmem): "
              "pages of shared memory it touched for the first time." % (gv / 1024, gs / 1024))
            w("")
        w("| backend | queries | VmRSS first | at %.0f s | end | growth MB | RssAnon first | at %.0f s | end | growth kB |" % (
            WARMUP, WARMUP))
        w("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for r in a["mem_coord"]:
            if r["short"]:
                w("| %d | - | %s | - | %s | - | %s | - | %s | - |" % (
                    r["pid"], mb(r["first"]["VmRSS"]), mb(r["last"]["VmRSS"]),
                    mb(r["first"]["RssAnon"]), mb(r["last"]["RssAnon"])))
                continue
            w("| %d | %s | %s | %s | %s | %+.1f | %s | %s | %s | %+d |" % (
                r["pid"], r.get("queries", "-") if ph["client"] == "python" else "-",
                mb(r["first"]["VmRSS"]), mb(r["base"]["VmRSS"]), mb(r["last"]["VmRSS"]),
                r["grow_VmRSS"] / 1024, mb(r["first"]["RssAnon"]), mb(r["base"]["RssAnon"]),
                mb(r["last"]["RssAnon"]), r["grow_RssAnon"]))
        w("")
        peers = [r for r in a["mem_peer"] if not r["short"]]
        if peers:
            w("The peers' scor backends (%d measured%s), growth from %.0f s to the end:" % (
                len(peers), "; %s's were replaced by the restart, and are measured from %.0f s after "
                "they started" % (cfg.restarted, WARMUP) if ph["restart"] else "", WARMUP))
            w("")
            w("| site | backends | VmRSS at %.0f s, median MB | end, median | largest growth MB | RssAnon at %.0f s, median MB | end, median | largest growth kB |" % (WARMUP, WARMUP))
            w("|---|---:|---:|---:|---:|---:|---:|---:|")
            for site in cfg.sites:
                rs = [r for r in peers if r["site"] == site]
                if not rs:
                    continue

                def med(vals):
                    v = sorted(vals)
                    return v[len(v) // 2]
                w("| %s | %d | %s | %s | %+.1f | %s | %s | %+d |" % (
                    site, len(rs), mb(med(r["base"]["VmRSS"] for r in rs)), mb(med(r["last"]["VmRSS"] for r in rs)),
                    max(r["grow_VmRSS"] for r in rs) / 1024, mb(med(r["base"]["RssAnon"] for r in rs)),
                    mb(med(r["last"]["RssAnon"] for r in rs)), max(r["grow_RssAnon"] for r in rs)))
            w("")
    for ph, a in phases:
        if not ph["restart"]:
            continue
        ev = ph["events"]
        w("## Phase %s: timeline" % ph["name"])
        w("")
        w("`%s` was stopped (`pg_ctl stop -m fast`) at %.1f s, was down at %.1f s, was started at %.1f s "
          "and accepted connections at %.1f s. Queries by second of their start:" % (
              cfg.restarted, ev.get("stop_begin", -1), ev.get("stopped", -1), ev.get("start_begin", -1),
              ev.get("ready", -1)))
        w("")
        w("| second | succeeded | failed | | second | succeeded | failed |")
        w("|---:|---:|---:|---|---:|---:|---:|")
        tl = timeline(cfg, ph)
        half = (len(tl) + 1) // 2
        for i in range(half):
            l = tl[i]
            r = tl[i + half] if i + half < len(tl) else None
            mark = lambda x: "**%d**" % x if x else "0"
            w("| %d | %d | %s | | %s | %s | %s |" % (
                l[0], l[1], mark(l[2]), r[0] if r else "", r[1] if r else "", mark(r[2]) if r else ""))
        w("")
        w("Errors, by SQLSTATE and message (addresses and numbers as `#`):")
        w("")
        w("| n | SQLSTATE and message |")
        w("|---:|---|")
        for msg, k in a["messages"]:
            w("| %d | `%s` |" % (k, msg.replace("|", "\\|").replace("`", "'")))
        fl = a["lat_failed"]
        if fl["n"]:
            w("")
            w("Failed queries returned in %.1f ms (median), %.1f ms at worst." % (fl["p50"], fl["max"]))
        w("")
        others = [x for x in cfg.sites if x not in (cfg.coordinator, cfg.restarted)]
        w("scor_peer logins at each site during the phase: %s. Each client backend connects once to each "
          "peer and keeps the connection; after the restart every one connects to %s again, and a "
          "connection to %s that was in the middle of a call when the call failed at %s is cancelled "
          "and closed rather than reused (`src/connection.c`), and made again by the next query." % (
              ", ".join("%s %d" % kv for kv in ph["conn_auth"].items()), cfg.restarted,
              " and ".join(others), cfg.restarted))
        w("")
    return "\n".join(L) + "\n"


def summary(cfg, phases):
    print("")
    print("%-8s %-8s %9s %8s %8s %8s %8s %7s  %s" % ("phase", "client", "queries/s", "p50 ms", "p99 ms", "max ms",
                                                   "queries", "errors", "load avg min/mean/max"))
    for ph, a in phases:
        print("%-8s %-8s %9.1f %8.1f %8.1f %8.1f %8d %7d  %.1f/%.1f/%.1f" % (
            ph["name"], ph["client"], a["qps"], a["lat"]["p50"], a["lat"]["p99"], a["lat"]["max"], a["queries"],
            a["errors"], *a["load"]))
    for ph, a in phases:
        coord = [r for r in a["mem_coord"] if not r["short"]]
        if coord:
            print("%s: coordinator backends VmRSS %s -> %s MB (median at %d s -> end), RssAnon %s -> %s MB; "
                  "largest growth VmRSS %+.1f MB, RssAnon %+d kB" % (
                      ph["name"], mb(sorted(r["base"]["VmRSS"] for r in coord)[len(coord) // 2]),
                      mb(sorted(r["last"]["VmRSS"] for r in coord)[len(coord) // 2]), WARMUP,
                      mb(sorted(r["base"]["RssAnon"] for r in coord)[len(coord) // 2]),
                      mb(sorted(r["last"]["RssAnon"] for r in coord)[len(coord) // 2]),
                      max(r["grow_VmRSS"] for r in coord) / 1024, max(r["grow_RssAnon"] for r in coord)))
    for ph, a in phases:
        if ph["restart"]:
            print("%s timeline (second: ok/failed): %s" % (ph["name"], " ".join(
                "%d:%d/%d" % t for t in timeline(cfg, ph))))
            for msg, k in a["messages"][:6]:
                print("   %5d  %s" % (k, msg[:160]))
    for ph, a in phases:
        print("-- checks, phase %s" % ph["name"])
        for ok, text in ph["checks"]:
            print("  %s %s" % ("ok  " if ok else "FAIL", text))


def main():
    args = sys.argv[1:]
    if not args:
        print(__doc__, file=sys.stderr)
        return 2
    cfg = Config(args[0])
    doc = args[args.index("--doc") + 1] if "--doc" in args else None
    admin = Admin(cfg)
    truth = compute_truth(cfg, admin)
    print("   truth: total %r, groups %r" % (truth["total"][0], truth["group"]))
    # one warm-up query, so that the first figures are not of a cold start
    conn = psycopg2.connect(**dict(cfg.analyst_dsn(), application_name="scor-load-warmup"))
    conn.autocommit = True
    with conn.cursor() as cur:
        for k in KINDS:
            cur.execute(QUERIES[k])
            got = [tuple(r) for r in cur.fetchall()]
            if got != truth[k]:
                print("load: the warm-up query %s answered %r, expected %r" % (k, got, truth[k]))
                return 1
    conn.close()
    drain(cfg, admin)
    m = machine(cfg, admin)
    phases = []
    plan = [("single", "python", False, 1, SINGLE_DURATION),
            ("steady", cfg.steady_client, False, cfg.clients, cfg.duration),
            ("restart", "python", True, cfg.clients, cfg.duration)]
    for name, client, restart, clients, duration in plan:
        ph = run_phase(cfg, admin, truth, name, client, restart, clients, duration)
        a = analyse(cfg, ph)
        ph["checks"] = check(cfg, ph, a)
        phases.append((ph, a))
        with open(os.path.join(cfg.work, "%s.json" % name), "w") as f:
            json.dump(dict((k, v) for k, v in ph.items()), f, default=str)
    admin.close()
    m["so_end"] = installed_so(cfg)
    if m["so_end"] != m["so"]:
        print("load: warning: scor.so was reinstalled during the run (%s, then %s)" % (m["so"], m["so_end"]))
    summary(cfg, phases)
    failed = [t for ph, _ in phases for ok, t in ph["checks"] if not ok]
    if doc:
        with open(doc, "w") as f:
            f.write(report(cfg, m, phases))
        print("wrote %s" % doc)
    print("== load test %s" % ("PASSED" if not failed else "FAILED: %d check(s)" % len(failed)))
    return 1 if failed else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("load: interrupted", file=sys.stderr)
        sys.exit(130)
