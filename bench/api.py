"""API benchmark against a real embedded server (`singan-seg serve` in a subprocess).

Prints: upload throughput for N real Kvasir-SEG pairs, enqueue-to-start latency with an
idle worker, and status-poll latency (p50, p99) with C concurrent clients.

    python bench/api.py [--uploads 100] [--clients 50] [--seconds 10] [--poll-interval 0]

``--poll-interval 0`` makes every client poll back to back (a saturation test); a positive
interval paces each client like a script polling a job (clients start at random offsets).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
KVASIR = ROOT.parent / "shared" / "data" / "kvasir-seg"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux): a figure that other load on the machine does not inflate."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_server(data_dir: Path, port: int) -> tuple[subprocess.Popen, httpx.Client]:
    server = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "serve", "--port", str(port), "--data-dir", str(data_dir), "--log-level", "warning"],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if client.get("/healthz").json()["workers"]:
                return server, client
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    server.terminate()
    raise SystemExit("server or worker did not start within 120 s")


def bench_uploads(client: httpx.Client, count: int, concurrency: int) -> list[str]:
    pairs = [(p.read_bytes(), (KVASIR / "masks" / p.name).read_bytes()) for p in sorted((KVASIR / "images").glob("*.jpg"))]
    payload = [pairs[i % len(pairs)] for i in range(count)]

    async def run() -> list[str]:
        ids: list[str] = []
        async with httpx.AsyncClient(base_url=client.base_url, timeout=60) as http:
            queue = list(enumerate(payload))

            async def uploader() -> None:
                while queue:
                    i, (image, mask) = queue.pop()
                    r = await http.post("/v1/pairs", files={"image": (f"{i}.jpg", image), "mask": (f"{i}.jpg", mask)})
                    r.raise_for_status()
                    ids.append(r.json()["id"])

            await asyncio.gather(*(uploader() for _ in range(concurrency)))
        return ids

    started = time.perf_counter()
    ids = asyncio.run(run())
    seconds = time.perf_counter() - started
    megabytes = sum(len(a) + len(b) for a, b in payload) / 1e6
    print(f"upload: {count} Kvasir-SEG pairs ({megabytes:.1f} MB) with {concurrency} clients in {seconds:.2f} s: "
          f"{count / seconds:.1f} pairs/s, {megabytes / seconds:.2f} MB/s")
    return ids


def bench_enqueue_to_start(client: httpx.Client, pair_id: str, runs: int) -> str:
    """POST a smoke training while the worker is idle; time until the worker has claimed it."""
    waits, server_waits, model_id = [], [], ""
    for _ in range(runs):
        posted = time.perf_counter()
        model = client.post("/v1/models", json={"pair_id": pair_id, "preset": "smoke", "overrides": {"niter": 1}}).json()
        model_id = model["id"]
        while (state := client.get(f"/v1/models/{model_id}").json())["status"] == "queued":
            time.sleep(0.01)
        waits.append(time.perf_counter() - posted)
        server_waits.append((datetime.fromisoformat(state["started_at"]) - datetime.fromisoformat(state["created_at"])).total_seconds())
        while client.get(f"/v1/models/{model_id}").json()["status"] == "running":  # idle again before the next run
            time.sleep(0.2)
    print(f"enqueue-to-start (idle worker, {runs} runs): client-observed median {statistics.median(waits) * 1000:.0f} ms, "
          f"max {max(waits) * 1000:.0f} ms; server started_at - created_at median {statistics.median(server_waits) * 1000:.0f} ms")
    return model_id


def bench_polls(base_url: str, model_id: str, clients: int, seconds: float, interval: float, server_pid: int) -> None:
    latencies: list[float] = []
    errors = 0

    async def poller(http: httpx.AsyncClient, stop_at: float) -> None:
        nonlocal errors
        await asyncio.sleep(random.uniform(0, interval))  # independent scripts do not poll in lockstep
        while time.perf_counter() < stop_at:
            t0 = time.perf_counter()
            r = await http.get(f"/v1/models/{model_id}")
            latencies.append(time.perf_counter() - t0)
            errors += r.status_code != 200
            if interval:
                await asyncio.sleep(interval)

    async def run() -> None:
        limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
        async with httpx.AsyncClient(base_url=base_url, timeout=30, limits=limits) as http:
            await http.get(f"/v1/models/{model_id}")  # warm up
            stop_at = time.perf_counter() + seconds
            await asyncio.gather(*(poller(http, stop_at) for _ in range(clients)))

    cpu_before = cpu_seconds(server_pid)
    asyncio.run(run())
    cpu_per_request = (cpu_seconds(server_pid) - cpu_before) / len(latencies)
    mode = f"each every {interval * 1000:.0f} ms" if interval else "back to back"
    print(f"poll GET /v1/models/{{id}}: {clients} clients {mode} for {seconds:.0f} s: {len(latencies)} requests "
          f"({len(latencies) / seconds:.0f}/s), {errors} errors, p50 {percentile(latencies, 0.5) * 1000:.1f} ms, "
          f"p99 {percentile(latencies, 0.99) * 1000:.1f} ms; server CPU {cpu_per_request * 1000:.2f} ms per poll")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--uploads", type=int, default=100)
    parser.add_argument("--upload-clients", type=int, default=4)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--poll-interval", type=float, default=0.0, help="seconds between one client's polls (0: back to back)")
    parser.add_argument("--enqueue-runs", type=int, default=3)
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="singan-bench-") as tmp:
        server, client = start_server(Path(tmp) / "data", args.port)
        try:
            ids = bench_uploads(client, args.uploads, args.upload_clients)
            model_id = bench_enqueue_to_start(client, ids[0], args.enqueue_runs)
            bench_polls(str(client.base_url), model_id, args.clients, args.seconds, args.poll_interval, server.pid)
        finally:
            client.close()
            server.terminate()
            server.wait(30)


if __name__ == "__main__":
    main()
