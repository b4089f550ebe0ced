"""The database-side guard: one worker per job, takeover after a silent lease, bounded attempts."""

from __future__ import annotations

import time

from service_helpers import SMOKE, upload_files

from app import jobs
from app.orm import TrainedModel

PROGRESS = {"scale": 0, "scales": 4, "iteration": 1, "iterations": 1, "fraction": 0.1, "eta_seconds": None}


def test_claim_lease_takeover_and_attempts(make_client, kvasir):
    client = make_client()
    svc = client.app.state.services
    pair = client.post("/v1/pairs", files=upload_files(*kvasir(0)[:2])).json()
    model_id = client.post("/v1/models", json={"pair_id": pair["id"], **SMOKE}).json()["id"]

    assert jobs.claim(svc.sessions, TrainedModel, model_id, "a", lease_seconds=0.5).claimed
    busy = jobs.claim(svc.sessions, TrainedModel, model_id, "b", lease_seconds=0.5)
    assert not busy.claimed and busy.reason == "held by a" and 0 < busy.retry_in <= 1.5
    assert jobs.beat(svc.sessions, TrainedModel, model_id, "a", PROGRESS) is True

    time.sleep(0.6)  # worker a falls silent: b takes over, and a can no longer write
    assert jobs.claim(svc.sessions, TrainedModel, model_id, "b", lease_seconds=0.5).claimed
    assert jobs.beat(svc.sessions, TrainedModel, model_id, "a", {**PROGRESS, "scale": 1}) is False
    assert jobs.finish(svc.sessions, TrainedModel, model_id, "a", "succeeded") is False
    row = client.get(f"/v1/models/{model_id}").json()
    assert row["status"] == "running" and row["progress"] == PROGRESS
    with svc.sessions() as session:
        stored = session.get(TrainedModel, model_id)
        assert (stored.worker_id, stored.attempts) == ("b", 2)

    client.post(f"/v1/models/{model_id}/cancel")
    assert jobs.beat(svc.sessions, TrainedModel, model_id, "b", None) is False  # cancel is seen at the next beat
    assert jobs.finish(svc.sessions, TrainedModel, model_id, "b", "cancelled") is True
    done = jobs.claim(svc.sessions, TrainedModel, model_id, "c", lease_seconds=0.5)
    assert not done.claimed and done.retry_in is None and done.reason == "cancelled"


def test_a_job_whose_worker_keeps_dying_fails_after_max_attempts(make_client, kvasir):
    from worker.tasks import _start

    client = make_client(lease_seconds=0.1, max_attempts=2)
    svc = client.app.state.services
    pair = client.post("/v1/pairs", files=upload_files(*kvasir(0)[:2])).json()
    model_id = client.post("/v1/models", json={"pair_id": pair["id"], **SMOKE}).json()["id"]
    for worker in ("a", "b"):  # each claims it and dies silently
        assert jobs.claim(svc.sessions, TrainedModel, model_id, worker, lease_seconds=0.1).claimed
        time.sleep(0.15)
    assert _start(None, svc, TrainedModel, model_id) is None  # the third delivery gives up
    failed = client.get(f"/v1/models/{model_id}").json()
    assert failed["status"] == "failed" and failed["error"] == "gave up after 2 attempts: the worker was lost each time"
