"""End to end on the embedded default: `singan-seg serve` as a subprocess, real worker, real files."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from service_helpers import check_archive, free_port, service_env, stop, upload_files, wait_for, wait_status, worker_ready


@pytest.fixture
def serve(tmp_path):
    """Start `singan-seg serve` on a data dir; returns (process, client) once its worker is up."""
    started: list[tuple[subprocess.Popen, httpx.Client]] = []

    def start(data_dir: Path) -> tuple[subprocess.Popen, httpx.Client]:
        port = free_port()
        log = tmp_path / f"serve{len(started)}.log"
        process = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "serve", "--port", str(port), "--data-dir", str(data_dir), "--log-level", "warning"],
            env=service_env(progress_interval=0.2), stdout=log.open("wb"), stderr=subprocess.STDOUT,
        )
        client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30)
        started.append((process, client))

        def up():
            if process.poll() is not None:
                pytest.fail(f"serve exited with {process.returncode}:\n{log.read_text()[-3000:]}")
            try:
                return worker_ready(client)
            except httpx.TransportError:
                return False

        wait_for(up, 90, lambda: f"the server and its worker to start; log:\n{log.read_text()[-3000:]}", interval=0.5)
        return process, client

    yield start
    for process, client in started:
        client.close()
        stop(process)


def test_upload_train_generate_download(serve, kvasir, tmp_path):
    process, client = serve(tmp_path / "data")
    assert (tmp_path / "data" / "singan-seg.sqlite").is_file() and (tmp_path / "data" / "broker.sqlite").is_file()  # migrated by serve
    image, mask, name = kvasir(0)
    pair = client.post("/v1/pairs", files=upload_files(image, mask, name))
    assert pair.status_code == 201, pair.text
    model = client.post("/v1/models", json={"pair_id": pair.json()["id"], "preset": "smoke", "overrides": {"niter": 1}})
    assert model.status_code == 202 and model.json()["status"] == "queued"
    trained = wait_status(client, f"/v1/models/{model.json()['id']}", {"succeeded", "failed"}, timeout=120)
    assert trained["status"] == "succeeded", trained["error"]
    assert trained["progress"]["fraction"] == 1.0 and trained["num_scales"] == 4

    generation = client.post("/v1/generations", json={"model_ids": [trained["id"]], "samples_per_model": 3, "seed": 11})
    assert generation.status_code == 202
    done = wait_status(client, f"/v1/generations/{generation.json()['id']}", {"succeeded", "failed"}, timeout=60)
    assert done["status"] == "succeeded", done["error"]
    archive = client.get(f"/v1/generations/{done['id']}/archive")
    assert archive.status_code == 200 and archive.headers["content-type"] == "application/zip"
    rows = check_archive(archive.content, 3, [trained["id"]], seed=11)
    assert [r["pair_name"] for r in rows] == [name.rsplit(".", 1)[0]] * 3
    # The worker process wrote both quality reports (issue 4).
    assert client.get(f"/v1/models/{trained['id']}/report").json()["report"]["samples"]["count"] == 16
    assert client.get(f"/v1/generations/{done['id']}/report").json()["reports"][0]["report"]["samples"]["count"] == 3

    stop(process)  # SIGTERM: a clean shutdown that also stops the worker
    assert process.returncode == 0


def test_training_resumes_after_the_service_was_killed(serve, kvasir, tmp_path):
    data = tmp_path / "data"
    process, client = serve(data)
    pair = client.post("/v1/pairs", files=upload_files(*kvasir(1)[:2])).json()
    model = client.post("/v1/models", json={"pair_id": pair["id"], "preset": "smoke", "overrides": {"niter": 5}}).json()
    path = f"/v1/models/{model['id']}"
    wait_for(lambda: (client.get(path).json()["progress"] or {}).get("scale", 0) >= 1, 120, "training to pass its first scale")
    worker_pid = int(client.get("/healthz").json()["workers"][0]["id"].rsplit(":", 1)[1])
    for pid in (worker_pid, process.pid):  # a crash: nothing gets to clean up
        os.kill(pid, signal.SIGKILL)
    process.wait()
    finished_at_kill = len(json.loads((data / "blobs" / "models" / model["id"] / "model.json").read_text())["scales"])
    assert 1 <= finished_at_kill < 4

    _, client = serve(data)  # re-queues the interrupted job
    done = wait_status(client, path, {"succeeded", "failed"}, timeout=180)
    assert done["status"] == "succeeded", done["error"]
    assert [run["start_scale"] for run in done["runs"]] == [0, finished_at_kill]


def test_serve_stops_with_an_error_when_its_worker_dies(serve, tmp_path):
    process, client = serve(tmp_path / "data")
    worker_pid = int(client.get("/healthz").json()["workers"][0]["id"].rsplit(":", 1)[1])
    os.kill(worker_pid, signal.SIGKILL)
    assert process.wait(60) == 1
    log = (tmp_path / "serve0.log").read_text()
    assert "the worker process exited (code -9); stopping the service" in log


def test_worker_refuses_an_unmigrated_database(tmp_path):
    result = subprocess.run([sys.executable, "-m", "app.cli", "worker", "--data-dir", str(tmp_path)], env=service_env(),
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert "is at schema revision none" in result.stderr and "run `alembic upgrade head`" in result.stderr
