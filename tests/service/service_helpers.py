"""Helpers shared by the service tests (fixtures are in conftest.py)."""

from __future__ import annotations

import csv
import io
import os
import socket
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
from PIL import Image

# Tiny training runs keep the whole suite within minutes on 2 CPU cores.
SMOKE = {"preset": "smoke", "overrides": {"niter": 1}}


def embedded_client(data_dir: Path, **overrides):
    """An in-process API (TestClient) on a freshly migrated embedded data dir."""
    from fastapi.testclient import TestClient

    from app.db import migrate
    from app.main import create_app
    from app.settings import Settings

    settings = Settings(data_dir=data_dir, **overrides)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    migrate(settings.db_url)
    return TestClient(create_app(settings))


def upload_files(image: bytes, mask: bytes, name: str = "x.jpg") -> dict:
    return {"image": (name, image, "image/jpeg"), "mask": (name, mask, "image/jpeg")}


def png_bytes(array: np.ndarray) -> bytes:
    out = io.BytesIO()
    Image.fromarray(array).save(out, format="PNG")
    return out.getvalue()


def wait_for(check: Callable[[], object], timeout: float, what: str | Callable[[], str], interval: float = 0.2):
    """Poll ``check`` until it returns something truthy; fail naming ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := check():
            return result
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what if isinstance(what, str) else what()}")


def wait_status(client, path: str, statuses: set[str], timeout: float) -> dict:
    """GET ``path`` until its status is one of ``statuses``; returns the body."""
    seen: list[dict] = [{}]

    def reached():
        seen.append(client.get(path).json())
        return seen[-1] if seen[-1].get("status") in statuses else None

    return wait_for(reached, timeout, lambda: f"{path} to reach {statuses}; last state: {seen[-1]}")


def check_archive(content: bytes, expected_pairs: int, model_ids: list[str], seed: int, style_transfer: bool = False) -> list[dict]:
    """The archive holds matching images/ and masks/, binary masks, one manifest row per pair
    and a report.json per model under reports/."""
    with zipfile.ZipFile(io.BytesIO(content)) as zf:
        names = zf.namelist()
        images = sorted(n[len("images/") :] for n in names if n.startswith("images/"))
        masks = sorted(n[len("masks/") :] for n in names if n.startswith("masks/"))
        assert len(images) == expected_pairs and images == masks
        rows = list(csv.DictReader(io.StringIO(zf.read("manifest.csv").decode())))
        assert sorted(n for n in names if n.endswith("/report.json")) == sorted(f"reports/{m}/report.json" for m in model_ids)
        for name in masks:
            mask = np.asarray(Image.open(io.BytesIO(zf.read(f"masks/{name}"))))
            assert set(np.unique(mask)) <= {0, 255}, f"mask {name} is not binary"
            image = Image.open(io.BytesIO(zf.read(f"images/{name}")))
            assert image.mode == "RGB" and image.size == mask.shape[::-1]
    assert sorted(r["image"] for r in rows) == [f"images/{n}" for n in images]
    assert all(r["mask"] == r["image"].replace("images/", "masks/", 1) for r in rows)
    assert {r["model_id"] for r in rows} == set(model_ids)
    assert all(r["seed"] == str(seed) and r["gen_start_scale"] == "0" and r["style_transfer"] == str(style_transfer).lower() for r in rows)
    return rows


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop(process: subprocess.Popen, timeout: float = 10) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def service_env(**settings: object) -> dict[str, str]:
    """The environment for a service subprocess: SINGAN_SEG_* settings, nothing inherited of ours."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SINGAN_SEG_")}
    env.update({f"SINGAN_SEG_{k.upper()}": str(v) for k, v in settings.items()})
    return env


def start_worker(env: dict[str, str], log: Path) -> subprocess.Popen:
    """A real `celery worker` process, as the worker image runs it."""
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "worker.celery_app", "worker", "-P", "solo", "-Q", env["SINGAN_SEG_QUEUE"],
         "--without-gossip", "--without-mingle", "--without-heartbeat", "-l", "info"],
        env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT, cwd=Path(__file__).resolve().parents[2],
    )


def worker_ready(client, count: int = 1) -> bool:
    return len(client.get("/healthz").json().get("workers", [])) >= count


def run_job(client, kind: str, job_id: str) -> None:
    """Run a queued job in this process with the worker's own code (claim, then train or generate)."""
    from app import jobs
    from app.orm import Generation, TrainedModel
    from worker.runtime import WORKER_ID
    from worker.tasks import run_generation, run_training

    cls, run = {"model": (TrainedModel, run_training), "generation": (Generation, run_generation)}[kind]
    svc = client.app.state.services
    assert jobs.claim(svc.sessions, cls, job_id, WORKER_ID, svc.settings.lease_seconds).claimed
    with svc.sessions() as session:
        run(svc, session.get(cls, job_id))


def finished_model(client, pair_id: str) -> str:
    """A succeeded model row as a worker leaves it, without training (for request checks); returns its id."""
    from app.orm import TrainedModel

    with client.app.state.services.sessions() as session:
        model = TrainedModel(pair_id=pair_id, preset="smoke", status="succeeded", num_scales=4)
        session.add(model)
        session.commit()
        return model.id


def train_smoke(client, pair_id: str) -> dict:
    """Train a tiny smoke model with the worker's code in this process; returns the model's final state."""
    model = client.post("/v1/models", json={"pair_id": pair_id, **SMOKE}).json()
    run_job(client, "model", model["id"])
    return client.get(f"/v1/models/{model['id']}").json()
