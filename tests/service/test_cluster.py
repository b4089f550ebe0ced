"""The production shape against the real Redis and PostgreSQL of this machine, with real
`celery worker` processes: end to end, and a worker SIGKILLed in the middle of training.

Each run gets its own PostgreSQL database, Redis database number and queue name.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import pytest
import redis
from service_helpers import check_archive, free_port, service_env, start_worker, stop, upload_files, wait_for, wait_status, worker_ready

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, redis_url, postgres_url):
    tmp = tmp_path_factory.mktemp("cluster")
    queue = f"singan-test-{uuid.uuid4().hex[:8]}"
    env = service_env(
        database_url=postgres_url,
        broker_url=redis_url,
        queue=queue,
        data_dir=tmp / "shared",
        # Short timeouts so that a killed worker's job comes back within seconds.
        visibility_timeout=3,
        lease_seconds=2,
        progress_interval=0.2,
        worker_heartbeat=1,
    )
    # The API image runs exactly this before it starts.
    migrated = subprocess.run(["alembic", "upgrade", "head"], env=env, cwd=ROOT, capture_output=True, text=True)
    assert migrated.returncode == 0, migrated.stderr
    port = free_port()
    api = subprocess.Popen([sys.executable, "-m", "app.cli", "serve", "--no-worker", "--port", str(port), "--log-level", "warning"],
                           env=env, stdout=(tmp / "api.log").open("wb"), stderr=subprocess.STDOUT)
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30)
    workers: list[subprocess.Popen] = []

    def spawn() -> subprocess.Popen:
        workers.append(start_worker(env, tmp / "worker.log"))
        return workers[-1]

    def api_up():
        assert api.poll() is None, (tmp / "api.log").read_text()
        try:
            return client.get("/healthz").status_code == 200
        except httpx.TransportError:
            return False

    wait_for(api_up, 60, "the API to start")
    yield client, spawn, tmp
    client.close()
    for process in [api, *workers]:
        stop(process)
    broker = redis.Redis.from_url(redis_url)
    for key in broker.scan_iter(f"*{queue}*"):  # the queue and kombu's bindings of this run
        broker.delete(key)


def test_health_reports_the_cluster_components(cluster):
    client, _, _ = cluster
    body = client.get("/healthz").json()
    assert body["mode"] == "cluster" and body["status"] == "ok"
    assert body["database"]["ok"] and body["broker"]["detail"].startswith("redis://127.0.0.1:6379/")


def test_upload_train_generate_download(cluster, kvasir):
    client, spawn, tmp = cluster
    worker = spawn()
    wait_for(lambda: worker_ready(client), 90, lambda: f"a worker; log:\n{(tmp / 'worker.log').read_text()[-3000:]}", interval=0.5)
    image, mask, name = kvasir(0)
    pair = client.post("/v1/pairs", files=upload_files(image, mask, name)).json()
    model = client.post("/v1/models", json={"pair_id": pair["id"], "preset": "smoke", "overrides": {"niter": 1}}).json()
    trained = wait_status(client, f"/v1/models/{model['id']}", {"succeeded", "failed"}, timeout=120)
    assert trained["status"] == "succeeded", trained["error"]
    generation = client.post("/v1/generations", json={"model_ids": [trained["id"]], "samples_per_model": 3, "seed": 4}).json()
    done = wait_status(client, f"/v1/generations/{generation['id']}", {"succeeded", "failed"}, timeout=60)
    assert done["status"] == "succeeded", done["error"]
    check_archive(client.get(f"/v1/generations/{done['id']}/archive").content, 3, [trained["id"]], seed=4)
    assert (tmp / "shared" / "blobs" / "generations" / done["id"] / "archive.zip").is_file()


def test_sigkilled_worker_job_resumes_from_the_last_finished_scale(cluster, kvasir):
    client, spawn, tmp = cluster
    if not worker_ready(client):
        spawn()
    image, mask, _ = kvasir(1)
    pair = client.post("/v1/pairs", files=upload_files(image, mask)).json()
    model = client.post("/v1/models", json={"pair_id": pair["id"], "preset": "smoke", "overrides": {"niter": 5}}).json()
    path = f"/v1/models/{model['id']}"
    wait_for(lambda: (client.get(path).json()["progress"] or {}).get("scale", 0) >= 1, 120, "training to pass its first scale")
    running = [w for w in client.get("/healthz").json()["workers"]]
    pid = int(running[0]["id"].rsplit(":", 1)[1])
    os.kill(pid, signal.SIGKILL)
    manifest = json.loads((tmp / "shared" / "blobs" / "models" / model["id"] / "model.json").read_text())
    finished_at_kill = len(manifest["scales"])
    assert 1 <= finished_at_kill < len(manifest["pyramid"]["sizes"]), "the kill must land in the middle of training"

    spawn()  # a fresh worker gets the redelivered job
    done = wait_status(client, path, {"succeeded", "failed"}, timeout=180)
    assert done["status"] == "succeeded", done["error"]
    starts = [run["start_scale"] for run in done["runs"]]
    assert starts[0] == 0 and len(starts) == 2, done["runs"]
    assert starts[1] == finished_at_kill >= 1, f"the second run redid finished scales: {done['runs']}"
    assert done["runs"][0]["worker"] != done["runs"][1]["worker"]
