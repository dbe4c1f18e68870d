"""Soak: the local stack through a demo day of events, with a `down`/`up` and a SIGKILLed broker on the way.

Starts `pricing-platform up` on its own state directory and free ports, with the market producing at
`--sessions-per-day` (default: the 5.2 M events of a demo day of the first build, 60 events/s, in an
hour). Every minute it
samples each service's CPU (its whole process tree), RSS, and disk, and the tick → end time of the
scheduled pricing runs that finished in that minute. At `--restart-at` minutes it runs `down` then `up`; at
`--kill-broker-at` minutes it SIGKILLs the broker (the process manager restarts it). At the end it stops
the market (which appends what the broker acknowledged, per stream, to its delivered log across every
restart), waits for ingest to drain, and compares those counts with the rows landed plus dead letters.

Pass: for each service, mean CPU and RSS over the last 15 minutes ≤ 1.1× the mean over minutes 15–30, and
for every stream delivered ≤ landed ≤ delivered + in doubt (a send that failed, e.g. across the broker's
SIGKILL, may still have been stored), with no event id landed twice. With `--after-minutes N` it then
lowers the market to the demo rate, runs N more minutes and reports the last 60 scheduled pricing runs'
tick → end (median < 6 s, p95 < 12 s).

Writes `soak.png` (CPU, RSS, disk per service and the pricing runs over time) and `soak.md` (the table) to
`--out` (default benchmarks/results/).

    python benchmarks/soak.py [--minutes 70] [--sessions-per-day 23000000] [--after-minutes 65] [--keep]
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import psutil
import psycopg
import typer

from pricing_platform.localstack.ephemeral import free_port, server_root
from pricing_platform.localstack.stack import delivered_log
from pricing_platform.localstack.supervisor import Supervisor
from pricing_platform.simulators.market.live import read_delivered, read_landed

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DEMO_SESSIONS_PER_DAY = 40_000  # MARKET_SESSIONS_PER_DAY's default: the demo rate
SCHEDULED_TAG = ".dagster/scheduled_execution_time"
RESULTS = PROJECT_ROOT / "benchmarks" / "results"


@dataclass
class Sample:
    minute: int
    cpu: dict[str, float] = field(default_factory=dict)  # % of one core
    rss_mib: dict[str, float] = field(default_factory=dict)
    # RSS summed over a process tree counts shared memory once per process (PostgreSQL's shared buffers once
    # per backend that touched them); PSS splits shared pages between their processes.
    pss_mib: dict[str, float] = field(default_factory=dict)
    disk_mib: dict[str, float] = field(default_factory=dict)
    pricing_tick_to_end_s: list[float] = field(default_factory=list)
    # The machine is shared: how busy it was in all (% of all cores, every process) and its load average.
    machine_cpu: float = 0.0
    load1: float = 0.0


def stack_env(state: Path, sessions_per_day: float) -> dict[str, str]:
    pg = free_port()
    return {
        **os.environ,
        "LOCAL_STATE_DIR": str(state),
        "DATABASE_URL": f"postgresql://pricing@127.0.0.1:{pg}/pricing",
        "DAGSTER_DATABASE_URL": f"postgresql://pricing@127.0.0.1:{pg}/dagster",
        "DAGSTER_PORT": str(free_port()),
        "LOCAL_S3_PORT": str(free_port()),
        "KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{free_port()}",
        "INGEST_METRICS_PORT": str(free_port()),
        "SIMULATOR_METRICS_PORT": str(free_port()),
        "PRICE_FEED_METRICS_PORT": str(free_port()),
        "PROMETHEUS_PORT": str(free_port()),
        "PUSHGATEWAY_PORT": str(free_port()),
        "POSTGRES_EXPORTER_PORT": str(free_port()),
        "DASHBOARD_PORT": str(free_port()),
        "STREAM_METRICS_PORT": str(free_port()),
        "STREAM_LANDING_METRICS_PORT": str(free_port()),
        "REPRICER_METRICS_PORT": str(free_port()),
        "MARKET_SESSIONS_PER_DAY": str(sessions_per_day),
    }


def cli(env: dict[str, str], *args: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pricing_platform", *args], cwd=PROJECT_ROOT, env=env, capture_output=True,
        text=True, check=False, timeout=300,
    )  # fmt: skip
    if result.returncode != 0:
        raise RuntimeError(f"pricing-platform {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")


def process_trees(supervisor: Supervisor) -> dict[tuple[str, int], list[psutil.Process]]:
    """Each running service's process tree, keyed by (service, pid of its root process): a restarted
    service is a new key, so its CPU is counted from its own start rather than against its predecessor's."""
    trees: dict[tuple[str, int], list[psutil.Process]] = {}
    for info in supervisor.processes():
        if not info["pid"]:
            continue
        try:
            root = psutil.Process(info["pid"])
            trees[(info["name"], info["pid"])] = [root, *root.children(recursive=True)]
        except psutil.Error:
            continue
    return trees


def cpu_seconds(processes: list[psutil.Process]) -> float:
    total = 0.0
    for process in processes:
        try:
            times = process.cpu_times()
            total += times.user + times.system + times.children_user + times.children_system
        except psutil.Error:
            continue
    return total


def memory_mib(processes: list[psutil.Process], kind: str) -> float:
    """`kind` "rss" or "pss" (PSS reads /proc/PID/smaps_rollup: slower, still milliseconds a tree)."""
    total = 0
    for process in processes:
        try:
            info = process.memory_full_info() if kind == "pss" else process.memory_info()
            total += getattr(info, kind)
        except psutil.Error:
            continue
    return total / 2**20


def dir_mib(path: Path) -> float:
    if not path.exists():
        return 0.0
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 2**20


def disks(state: Path) -> dict[str, float]:
    return {
        "postgres": dir_mib(state / "postgres"),
        "broker (s3 tansu)": dir_mib(state / "s3" / "tansu"),
        "lake (s3 pricing-lake)": dir_mib(state / "s3" / "pricing-lake"),
        "dagster": dir_mib(state / "dagster"),
        "logs": dir_mib(state / "logs"),
    }


def pricing_runs_finished(database_url: str, since: float, until: float) -> list[float]:
    """tick → end of the scheduled pricing runs that ended in [since, until) (Unix times)."""
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT r.end_time, t.value FROM runs r JOIN run_tags t ON t.run_id = r.run_id "
            "WHERE r.pipeline_name = 'pricing_engine_job' AND r.status = 'SUCCESS' AND t.key = %s "
            "AND r.end_time >= %s AND r.end_time < %s ORDER BY r.end_time",
            (SCHEDULED_TAG, since, until),
        ).fetchall()
    return [end - datetime.fromisoformat(tick).astimezone(UTC).timestamp() for end, tick in rows]


def delivered(state: Path, key: str | None = None) -> dict[str, int]:
    return read_delivered(delivered_log(state), key)


def duplicates(database_url: str) -> int:
    """Event ids landed more than once, over the three event tables (exactly-once: 0)."""
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "SELECT (SELECT count(*) - count(DISTINCT event_id) FROM clickstream_events) "
            "+ (SELECT count(*) - count(DISTINCT event_id) FROM inventory_events) "
            "+ (SELECT count(*) - count(DISTINCT event_id) FROM competitor_prices)"
        ).fetchone()
    return int(row[0]) if row else 0


def mean(values: list[float]) -> float:
    return statistics.fmean(values) if values else 0.0


def main(
    minutes: Annotated[int, typer.Option(help="length of the soak")] = 70,
    sessions_per_day: Annotated[
        float,
        typer.Option(help="the market's rate during the soak (default: a demo day, 5.2 M events, an hour)"),
    ] = 23_000_000,
    restart_at: Annotated[int, typer.Option(help="minute of the down/up")] = 8,
    kill_broker_at: Annotated[int, typer.Option(help="minute of the broker's SIGKILL")] = 12,
    after_minutes: Annotated[
        int, typer.Option(help="then this many minutes at the demo rate (0: skip)")
    ] = 65,
    out: Annotated[Path, typer.Option(help="where soak.png and soak.md go")] = RESULTS,
    keep: Annotated[bool, typer.Option(help="leave the stack running at the end")] = False,
) -> None:
    state = server_root("pricing-soak-")
    env = stack_env(state, sessions_per_day)
    database_url, dagster_url = env["DATABASE_URL"], env["DAGSTER_DATABASE_URL"]
    supervisor = Supervisor(state)
    samples: list[Sample] = []
    produced: dict[str, int] = {}
    in_doubt: dict[str, int] = {}
    arrived: dict[str, int] = {}
    twice = 0
    tail: list[float] = []
    failure: str | None = None
    print(f"soak: {minutes} min at {sessions_per_day:,.0f} sessions/day, state {state}", flush=True)
    # A SIGTERM (a stopped soak) ends like Ctrl-C: the stack goes down and what was measured is reported.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        cli(env, "up")
        last_cpu = {key: cpu_seconds(tree) for key, tree in process_trees(supervisor).items()}
        minute_started = time.time()
        psutil.cpu_percent()  # starts the machine-wide count
        for minute in range(1, minutes + 1):
            time.sleep(max(0.0, minute_started + 60 - time.time()))
            now = time.time()
            trees = process_trees(supervisor)
            cpu_now = {key: cpu_seconds(tree) for key, tree in trees.items()}
            sample = Sample(minute)
            for (name, pid), seconds in cpu_now.items():
                # A process not seen at the last sample (the broker restarted after its SIGKILL) started
                # within this minute: all of its CPU time belongs to it.
                before = last_cpu.get((name, pid), 0.0)
                sample.cpu[name] = max(0.0, (seconds - before) / (now - minute_started) * 100)
                sample.rss_mib[name] = memory_mib(trees[(name, pid)], "rss")
                sample.pss_mib[name] = memory_mib(trees[(name, pid)], "pss")
            sample.disk_mib = disks(state)
            sample.machine_cpu, sample.load1 = psutil.cpu_percent(), os.getloadavg()[0]
            sample.pricing_tick_to_end_s = pricing_runs_finished(dagster_url, minute_started, now)
            samples.append(sample)
            save_samples(samples, out)
            last_cpu, minute_started = cpu_now, now
            top = sorted(sample.cpu.items(), key=lambda kv: -kv[1])[:4]
            pricing = [round(r, 2) for r in sample.pricing_tick_to_end_s]
            print(f"min {minute:3d}: " + ", ".join(f"{n} {c:.0f}%" for n, c in top)
                  + f" | machine {sample.machine_cpu:.0f}%, load {sample.load1:.2f} | pricing {pricing}",
                  flush=True)  # fmt: skip
            if minute == restart_at:
                print("down / up", flush=True)
                cli(env, "down")
                cli(env, "up")
                # The next minute starts when the stack is back, against the new processes' own counts.
                last_cpu = {key: cpu_seconds(tree) for key, tree in process_trees(supervisor).items()}
                minute_started = time.time()
            if minute == kill_broker_at:
                pid = next(i["pid"] for i in supervisor.processes() if i["name"] == "broker")
                os.kill(pid, signal.SIGKILL)
                print(f"SIGKILL broker (pid {pid})", flush=True)
        # Drain: stop the market (it records what the broker acknowledged), then wait for ingest.
        print("draining", flush=True)
        supervisor.rpc().stopProcess("pipeline:simulators")
        produced = delivered(state)
        in_doubt = delivered(state, "in_doubt")
        arrived = drain(database_url, produced)
        twice = duplicates(database_url)
        print(f"delivered {produced} (+ in doubt {in_doubt}), landed {arrived}, twice {twice}", flush=True)
        if after_minutes:
            pricing_after(env, after_minutes, tail)
    except (Exception, KeyboardInterrupt) as exc:
        failure = f"{type(exc).__name__}: {exc}"
        print(f"soak stopped early: {failure}", flush=True)
    finally:
        if not keep:
            try:
                cli(env, "down")
            except Exception as exc:  # still report what was measured
                print(f"down failed: {exc}", flush=True)
    report(samples, produced, in_doubt, arrived, twice, tail, out, failure)
    if not keep:
        shutil.rmtree(state, ignore_errors=True)
    if failure:
        raise typer.Exit(1)


def drain(
    database_url: str, produced: dict[str, int], timeout_s: float = 1800, idle_s: float = 300
) -> dict[str, int]:
    """Wait until what landed equals what was delivered, or nothing more has landed for `idle_s` (events the
    broker lost never land), or `timeout_s`. The durable broker's consumers were seen to stall for minutes
    at a time with a backlog: a short idle limit would report a backlog as a loss."""
    deadline = time.time() + timeout_s
    arrived, changed = read_landed(database_url), time.time()
    while arrived != produced and time.time() < deadline and time.time() - changed < idle_s:
        time.sleep(15)
        now = read_landed(database_url)
        if now != arrived:
            arrived, changed = now, time.time()
            print(f"draining: landed {arrived} of {produced}", flush=True)
    return arrived


def save_samples(samples: list[Sample], out: Path) -> None:
    """Written every minute, so a soak that is stopped or fails still leaves its samples."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "soak.json").write_text(json.dumps([s.__dict__ for s in samples]))


def pricing_after(env: dict[str, str], minutes: int, tail: list[float]) -> None:
    """Back to the demo rate for `minutes`, appending each scheduled pricing run's tick → end to `tail` as
    it finishes (a stopped soak keeps those it saw)."""
    print(f"{minutes} min at the demo rate", flush=True)
    env = {**env, "MARKET_SESSIONS_PER_DAY": str(DEMO_SESSIONS_PER_DAY)}
    cli(env, "down")
    cli(env, "up")
    minute_started = time.time()
    for minute in range(1, minutes + 1):
        time.sleep(max(0.0, minute_started + 60 - time.time()))
        now = time.time()
        runs = pricing_runs_finished(env["DAGSTER_DATABASE_URL"], minute_started, now)
        tail.extend(runs)
        minute_started = now
        print(f"after {minute:3d}: pricing {[round(r, 2) for r in runs]}", flush=True)


def report(
    samples: list[Sample], produced: dict[str, int], in_doubt: dict[str, int], arrived: dict[str, int],
    twice: int, tail: list[float], out: Path, failure: str | None,
) -> None:  # fmt: skip
    out.mkdir(parents=True, exist_ok=True)
    services = sorted({name for s in samples for name in s.cpu})
    early = [s for s in samples if 15 < s.minute <= 30]
    late = samples[-15:]
    # The comparison needs both windows, and the late one after the early one.
    comparable = bool(early) and len(samples) >= 45
    lines = []
    if failure:
        lines += [f"**partial: the soak stopped after {len(samples)} minute(s): {failure}**", ""]
    lines += [
        "| service | CPU % min 15–30 | CPU % last 15 | ratio | RSS MiB min 15–30 | RSS MiB last 15 | ratio "
        "| PSS MiB min 15–30 | PSS MiB last 15 | ratio |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    passed = passed_pss = True
    for name in services:
        cpu_a, cpu_b = mean([s.cpu.get(name, 0) for s in early]), mean([s.cpu.get(name, 0) for s in late])
        rss_a = mean([s.rss_mib.get(name, 0) for s in early])
        rss_b = mean([s.rss_mib.get(name, 0) for s in late])
        cpu_r = cpu_b / cpu_a if cpu_a > 0.5 else 1.0  # a service near idle has no meaningful ratio
        rss_r = rss_b / rss_a if rss_a else 1.0
        pss_a = mean([s.pss_mib.get(name, 0) for s in early])
        pss_b = mean([s.pss_mib.get(name, 0) for s in late])
        pss_r = pss_b / pss_a if pss_a else 1.0
        passed &= cpu_r <= 1.1 and rss_r <= 1.1
        passed_pss &= cpu_r <= 1.1 and pss_r <= 1.1
        mark = {True: "", False: " ✗"}
        lines.append(f"| {name} | {cpu_a:.1f} | {cpu_b:.1f} | {cpu_r:.2f}{mark[cpu_r <= 1.1]} | "
                     f"{rss_a:.0f} | {rss_b:.0f} | {rss_r:.2f}{mark[rss_r <= 1.1]} | "
                     f"{pss_a:.0f} | {pss_b:.0f} | {pss_r:.2f}{mark[pss_r <= 1.1]} |")  # fmt: skip
    runs = [r for s in late for r in s.pricing_tick_to_end_s]
    lines += [
        "",
        "| stream | delivered (acknowledged) | in doubt (send failed; the broker may hold them) "
        "| landed + dead letters |",
        "| --- | --- | --- | --- |",
    ]
    for stream in ("clickstream", "inventory", "competitor"):
        counts = (produced.get(stream, 0), in_doubt.get(stream, 0), arrived.get(stream, 0))
        lines.append(f"| {stream} | " + " | ".join(f"{n:,}" for n in counts) + " |")
    # Exactly once: every acknowledged event landed, nothing beyond what the broker may have stored, and
    # no event id twice.
    once = twice == 0 and all(
        produced.get(s, 0) <= arrived.get(s, 0) <= produced.get(s, 0) + in_doubt.get(s, 0) for s in produced
    )
    total = sum(produced.values())
    first, disk = (samples[0].disk_mib, samples[-1].disk_mib) if samples else ({}, {})
    lines += [
        "",
        f"events delivered in all: {total:,}; every acknowledged event landed once, none twice "
        f"(delivered ≤ landed ≤ delivered + in doubt; {twice} duplicate ids): {once}"
        if produced
        else "delivered vs landed: not measured (the soak stopped before draining)",
        f"resources flat (last 15 min ≤ 1.1× minutes 15–30), CPU and RSS: {passed}; CPU and PSS: {passed_pss}"
        if comparable
        else f"resources flat: not measured ({len(samples)} minutes sampled, 45 needed)",
        f"pricing runs during the last 15 min, tick → end: median {statistics.median(runs):.2f} s, "
        f"max {max(runs):.2f} s ({len(runs)} runs)"
        if runs
        else "no pricing runs in the last 15 minutes",
        "disk at the end (MiB): " + ", ".join(f"{k} {v:.0f}" for k, v in disk.items()),
        "disk growth from minute 1 (MiB): "
        + ", ".join(f"{k} {v - first.get(k, 0):+.0f}" for k, v in disk.items()),
    ]
    if tail:
        last = tail[-60:]
        ordered = sorted(last)
        median, p95 = statistics.median(last), ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]
        lines.append(
            f"after the soak, at the demo rate, last {len(last)} scheduled pricing runs: tick → end "
            f"median {median:.2f} s, p95 {p95:.2f} s (pass: median < 6 s and p95 < 12 s: "
            f"{median < 6 and p95 < 12})"
        )
    if samples:
        busy, load = mean([s.machine_cpu for s in samples]), mean([s.load1 for s in samples])
        lines.append(f"machine: {os.cpu_count()} cores shared with other work; whole machine {busy:.0f} % "
                     f"busy on average (all processes), mean 1-min load average {load:.2f}")  # fmt: skip
    text = "\n".join(lines)
    (out / "soak.md").write_text(text + "\n")
    save_samples(samples, out)
    if samples:
        chart(samples, services, out / "soak.png")
    print(text, flush=True)


def chart(samples: list[Sample], services: list[str], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    minutes = [s.minute for s in samples]
    fig, axes = plt.subplots(4, 1, figsize=(11, 13), sharex=True)
    # More services than the default cycle's ten colours: one colour each, or two lines look like one.
    for axis in axes[:3]:
        axis.set_prop_cycle(color=plt.get_cmap("tab20").colors)
    for name in services:
        axes[0].plot(minutes, [s.cpu.get(name, 0) for s in samples], label=name)
        axes[1].plot(minutes, [s.rss_mib.get(name, 0) for s in samples], label=name)
    for name in samples[-1].disk_mib if samples else []:
        axes[2].plot(minutes, [s.disk_mib.get(name, 0) for s in samples], label=name)
    axes[3].scatter(
        [s.minute for s in samples for _ in s.pricing_tick_to_end_s],
        [r for s in samples for r in s.pricing_tick_to_end_s],
        s=8,
    )
    axes[0].set_ylabel("CPU, % of a core")
    axes[1].set_ylabel("RSS, MiB")
    axes[2].set_ylabel("disk, MiB")
    axes[3].set_ylabel("pricing run tick → end, s")
    axes[3].set_xlabel("minute of the soak")
    for axis in axes[:3]:
        axis.legend(fontsize=7, ncol=3)
    fig.suptitle("pricing-platform up under a demo day of events")
    fig.tight_layout()
    fig.savefig(path, dpi=90)


if __name__ == "__main__":
    typer.run(main)
