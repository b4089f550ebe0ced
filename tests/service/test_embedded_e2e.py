"""End to end on the embedded default: `singan-seg serve` as a subprocess, real worker, real files."""

from __future__ import annotations

import subprocess
import sys

import httpx
import pytest
from service_helpers import check_archive, free_port, service_env, stop, upload_files, wait_for, wait_status, worker_ready


@pytest.fixture
def server(tmp_path):
    port = free_port()
    log = tmp_path / "serve.log"
    process = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "serve", "--port", str(port), "--data-dir", str(tmp_path / "data"), "--log-level", "warning"],
        env=service_env(progress_interval=0.5), stdout=log.open("wb"), stderr=subprocess.STDOUT,
    )
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30)

    def up():
        if process.poll() is not None:
            pytest.fail(f"serve exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            return worker_ready(client)
        except httpx.TransportError:
            return False

    wait_for(up, 90, lambda: f"the server and its worker to start; log:\n{log.read_text()[-3000:]}", interval=0.5)
    yield client, tmp_path / "data"
    client.close()
    stop(process)
    assert process.returncode == 0, log.read_text()[-3000:]


def test_upload_train_generate_download(server, kvasir):
    client, data_dir = server
    assert (data_dir / "singan-seg.sqlite").is_file() and (data_dir / "broker.sqlite").is_file()  # migrated by serve
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
