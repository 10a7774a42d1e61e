"""Tailing benchmarks (not tests: run by hand, figures go to docs/performance.md).

    python benchmarks/bench_tailing.py throughput   # replay lines/s vs bare orjson.loads and mtail, one core
    python benchmarks/bench_tailing.py memory       # peak RSS of the daemon following a 1 GB file; bounded tables
    python benchmarks/bench_tailing.py latency      # appended line -> visible in /metrics, p50/p99
    python benchmarks/bench_tailing.py scrape       # /metrics with ~1,000 series while lines are ingested

Each child process is pinned to core 0, so figures are for one core. Work files go to
$BENCH_DIR (default /tmp/llm-exporter-bench).
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

from generate import lines as completion_lines

WORK = Path(os.environ.get("BENCH_DIR", "/tmp/llm-exporter-bench"))
PY = sys.executable


def pin() -> None:
    os.sched_setaffinity(0, {0})


def generated(n: int) -> Path:
    path = WORK / f"completions-{n}.log"
    if not path.exists() or path.stat().st_size == 0:
        WORK.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as out:
            for k, line in enumerate(completion_lines(n)):
                if k >= n:
                    break
                out.write(line + b"\n")
    return path


def throughput() -> None:
    path = generated(300_000)
    n = 300_000
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        subprocess.run(
            [PY, "-m", "llm_exporter", "replay", "--format", "completion", str(path)],
            check=True,
            stdout=subprocess.DEVNULL,
            preexec_fn=pin,
        )
        best = min(best, time.perf_counter() - start)
    bare = subprocess.run(
        [
            PY,
            "-c",
            "import orjson,sys,time\nt=time.perf_counter()\n"
            "for l in open(sys.argv[1],'rb'): orjson.loads(l)\nprint(time.perf_counter()-t)",
            str(path),
        ],
        check=True,
        capture_output=True,
        text=True,
        preexec_fn=pin,
    )
    bare_s = float(bare.stdout)
    print(f"replay: {n} lines in {best:.2f} s (whole process, best of 3) = {n / best:,.0f} lines/s")
    print(f"bare orjson.loads loop, same file, same core: {n / bare_s:,.0f} lines/s")
    print(f"replay / bare orjson: {bare_s / best:.2f}")
    mtail = shutil.which("mtail")
    if mtail is None:
        print("mtail not found (apt-get install mtail): no mtail comparison")
        return
    program = Path(__file__).resolve().parent / "mtail" / "completions.mtail"
    start = time.perf_counter()
    subprocess.run(
        [mtail, "--one_shot", "--one_shot_format=prometheus", "--progs", str(program), "--logs", str(path)],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        preexec_fn=pin,
    )
    mtail_s = time.perf_counter() - start
    print(
        f"mtail --one_shot with benchmarks/mtail/completions.mtail (regexes, no join, no pricing), same core: "
        f"{n / mtail_s:,.0f} lines/s; replay / mtail: {mtail_s / best:.2f}"
    )


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM")


class Daemon:
    def __init__(self, glob: str, fmt: str = "completion", **extra: str) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="bench-", dir=WORK))
        cfg = self.dir / "config.yml"
        lines = [f"sources:\n  - {{name: bench, path: '{glob}', format: {fmt}}}\n", "poll_interval_seconds: 0.1\n"]
        lines += [f"{k}: {v}\n" for k, v in extra.items()]
        cfg.write_text("".join(lines))
        import socket

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.proc = subprocess.Popen(
            [PY, "-m", "llm_exporter", "--config", str(cfg), "--web.listen-address", f"127.0.0.1:{self.port}"],
            preexec_fn=pin,
            stderr=subprocess.DEVNULL,
        )
        self.url = f"http://127.0.0.1:{self.port}"

    def get(self, path: str = "/metrics") -> bytes:
        with urllib.request.urlopen(self.url + path, timeout=30) as resp:
            return resp.read()

    def wait_ready(self, timeout: float = 600) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                self.get("/-/ready")
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("daemon not ready")

    def metric(self, name: str) -> float:
        total = 0.0
        for line in self.get().decode().splitlines():
            if line.startswith(name + "{") or line.startswith(name + " "):
                total += float(line.rsplit(" ", 1)[1])
        return total

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=60)


def memory() -> None:
    big = WORK / "big-1g.log"
    if not big.exists() or big.stat().st_size < 1 << 30:
        base = generated(300_000).read_bytes()
        with open(big, "wb") as out:
            while out.tell() < 1 << 30:
                out.write(base)
    n = big.stat().st_size
    start = time.perf_counter()
    d = Daemon(str(big))
    d.wait_ready()
    took = time.perf_counter() - start
    lines = d.metric("llm_exporter_lines_read_total")
    print(
        f"daemon followed {n / 1e9:.2f} GB ({lines:,.0f} lines) in {took:.1f} s; "
        f"peak RSS {peak_rss_mb(d.proc.pid):.1f} MB"
    )
    d.stop()
    # Unanswered requests and made-up model names must not grow memory without bound.
    pending = WORK / "pending.log"
    with open(pending, "wb") as out:
        for i in range(1_000_000):
            out.write(b'{"event_type":"completion_request","request_id":"r%d","model":"m%d"}\n' % (i, i))
    d = Daemon(str(pending))
    d.wait_ready()
    print(
        f"1,000,000 unanswered requests with 1,000,000 distinct models: in flight "
        f"{d.metric('llm_requests_in_flight'):,.0f}, orphaned {d.metric('llm_exporter_orphaned_requests_total'):,.0f}, "
        f"folded {d.metric('llm_exporter_label_values_folded_total'):,.0f}, peak RSS {peak_rss_mb(d.proc.pid):.1f} MB"
    )
    d.stop()


def latency(samples: int = 200) -> None:
    log = WORK / "latency.log"
    log.write_bytes(b"")
    d = Daemon(str(log), fmt="event")
    d.wait_ready()
    delays = []
    with open(log, "ab", buffering=0) as out:
        for i in range(samples):
            start = time.perf_counter()
            out.write(b'{"model":"gpt-4o","latency_ms":10,"cost_usd":0.0,"n":%d}\n' % i)
            while d.metric("gen_ai_client_operation_duration_seconds_count") < i + 1:
                time.sleep(0.002)
            delays.append(time.perf_counter() - start)
            time.sleep(0.01)
    d.stop()
    delays.sort()
    p99 = delays[int(len(delays) * 0.99) - 1]
    print(
        f"append -> visible in /metrics over {samples} lines: p50 {statistics.median(delays) * 1000:.0f} ms, "
        f"p99 {p99 * 1000:.0f} ms, max {delays[-1] * 1000:.0f} ms"
    )


def scrape(scrapes: int = 200) -> None:
    log = WORK / "scrape.log"
    with open(log, "wb") as out:  # 14 models x ~70 samples each ~ 1,000 series
        for i in range(14 * 20):
            out.write(
                b'{"model":"model-%d","latency_ms":%d,"prompt_tokens":10,"completion_tokens":5,'
                b'"cost_usd":0.1,"status":"%s"}\n' % (i % 14, 100 + i, b"success" if i % 5 else b"error")
            )
    d = Daemon(str(log), fmt="event")
    d.wait_ready()
    series = sum(1 for line in d.get().decode().splitlines() if line and not line.startswith("#"))
    stop = threading.Event()
    written = [0]

    def writer() -> None:
        line = b'{"model":"model-3","latency_ms":120,"prompt_tokens":10,"completion_tokens":5,"cost_usd":0.1}\n'
        with open(log, "ab") as out:
            while not stop.is_set():
                out.write(line * 200)
                out.flush()
                written[0] += 200
                time.sleep(0.01)

    t = threading.Thread(target=writer)
    t.start()
    times = []
    start_all = time.perf_counter()
    for _ in range(scrapes):
        start = time.perf_counter()
        d.get()
        times.append(time.perf_counter() - start)
    elapsed = time.perf_counter() - start_all
    stop.set()
    t.join()
    d.stop()
    times.sort()
    print(
        f"/metrics with {series} series while ingesting {written[0] / elapsed:,.0f} lines/s: "
        f"p50 {statistics.median(times) * 1000:.1f} ms, p99 {times[int(len(times) * 0.99) - 1] * 1000:.1f} ms"
    )


if __name__ == "__main__":
    WORK.mkdir(parents=True, exist_ok=True)
    {"throughput": throughput, "memory": memory, "latency": latency, "scrape": scrape}[sys.argv[1]]()
