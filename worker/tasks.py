"""Celery tasks: train a model; generate a dataset and zip it.

Each task carries only a job id. The job's row is claimed with a conditional UPDATE
(one worker per job), progress and a lease heartbeat go to the database at most once
per ``progress_interval``, and the final state is written only while the claim holds.
"""

from __future__ import annotations

import logging
import shutil
import time
from dataclasses import asdict
from typing import Any

import numpy as np
from PIL import Image

from app import jobs
from app.orm import CANCELLED, FAILED, SUCCEEDED, Archive, Generation, Pair, TrainedModel, utcnow
from app.queue import GENERATE_TASK, TRAIN_TASK
from app.services import Services
from app.storage import generation_prefix, model_prefix, pair_prefix
from models import TrainingCancelled, TrainProgress, generate, load_model, load_pair, preset, read_manifest, train, write_pairs
from models.train import REAL_IMAGE_FILE, resolve_device

from .archive import build_archive
from .celery_app import celery
from .runtime import WORKER_ID, services

log = logging.getLogger(__name__)


class Reporter:
    """Throttled progress writes that double as the lease heartbeat and the cancel check."""

    def __init__(self, svc: Services, cls: type[jobs.JobT], job_id: str):
        self.svc, self.cls, self.job_id = svc, cls, job_id
        self.last = 0.0
        self.stop = False

    def __call__(self, progress: dict[str, Any]) -> None:
        now = time.monotonic()
        if now - self.last >= self.svc.settings.progress_interval:
            self.last = now
            self.stop = self.stop or not jobs.beat(self.svc.sessions, self.cls, self.job_id, WORKER_ID, progress)

    def should_stop(self) -> bool:
        return self.stop

    def finish(self, status: str, **values: Any) -> bool:
        return jobs.finish(self.svc.sessions, self.cls, self.job_id, WORKER_ID, status, **values)

    def stopped(self) -> None:
        """After a stop: cancelled if the user asked; otherwise another worker took the job over."""
        with self.svc.sessions() as session:
            job = session.get(self.cls, self.job_id)
            if job is not None and job.cancel_requested:
                self.finish(CANCELLED)


def _start(task, svc: Services, cls: type[jobs.JobT], job_id: str) -> jobs.JobT | None:
    """Claim the job; None when there is nothing (more) to do for this delivery."""
    claim = jobs.claim(svc.sessions, cls, job_id, WORKER_ID, svc.settings.lease_seconds)
    if claim.retry_in is not None:
        # Redelivered while the previous worker's lease is still fresh: look again once it expires.
        raise task.retry(countdown=claim.retry_in, max_retries=svc.settings.max_attempts)
    if not claim.claimed:
        log.info("%s %s not run: %s", cls.__tablename__, job_id, claim.reason)
        return None
    with svc.sessions() as session:
        job = session.get(cls, job_id)
    if job.attempts > svc.settings.max_attempts:
        jobs.finish(svc.sessions, cls, job_id, WORKER_ID, FAILED, error=f"gave up after {job.attempts - 1} attempts: the worker was lost each time")
        return None
    return job


@celery.task(name=TRAIN_TASK, bind=True)
def train_model(self, model_id: str) -> None:
    svc = services()
    if (row := _start(self, svc, TrainedModel, model_id)) is not None:
        run_training(svc, row)


def run_training(svc: Services, row: TrainedModel) -> None:
    settings, store = svc.settings, svc.store
    reporter = Reporter(svc, TrainedModel, row.id)
    model_dir = store.path(model_prefix(row.id))
    start_scale = len(read_manifest(model_dir)["scales"]) if (model_dir / "model.json").is_file() else 0
    with svc.sessions() as session:
        pair = session.get(Pair, row.pair_id)
        model = session.get(TrainedModel, row.id)
        model.runs = [*model.runs, {"worker": WORKER_ID, "started_at": utcnow().isoformat(), "start_scale": start_scale}]
        session.commit()
    try:
        config = preset(row.preset, **row.overrides, device=settings.device)
        prefix = pair_prefix(pair.id)
        loaded = load_pair(store.path(f"{prefix}/image"), store.path(f"{prefix}/mask"), image_name=f"{pair.name} (image)", mask_name=f"{pair.name} (mask)", max_pixels=settings.max_pixels)

        def on_progress(p: TrainProgress) -> None:
            reporter({k: v for k, v in asdict(p).items() if k != "elapsed_seconds"})

        # resume=True: a redelivered job continues after the last finished scale.
        train(loaded, config, model_dir, resume=True, progress=on_progress, should_stop=reporter.should_stop)
    except TrainingCancelled:
        reporter.stopped()
        return
    except Exception as exc:  # the job fails with a readable error; the worker goes on
        log.exception("training %s failed", row.id)
        reporter.finish(FAILED, error=f"{type(exc).__name__}: {exc}")
        return
    manifest = read_manifest(model_dir)
    scales = manifest["scales"]
    height, width = manifest["pyramid"]["sizes"][-1]
    reporter.finish(
        SUCCEEDED,
        num_scales=len(scales),
        progress={"scale": len(scales) - 1, "scales": len(scales), "iteration": config.niter, "iterations": config.niter, "fraction": 1.0, "eta_seconds": 0.0},
        metrics={
            "output_size": {"width": width, "height": height},
            "seconds": round(sum(s.get("seconds", 0.0) for s in scales), 3),
            "device": scales[-1].get("device"),
            "scales": [{k: s[k] for k in ("seconds", "d_loss", "g_adv_loss", "rec_loss", "noise_amp") if k in s} for s in scales],
        },
    )


@celery.task(name=GENERATE_TASK, bind=True)
def generate_dataset(self, generation_id: str) -> None:
    svc = services()
    if (row := _start(self, svc, Generation, generation_id)) is not None:
        run_generation(svc, row)


class _Stopped(Exception):
    pass


def run_generation(svc: Services, row: Generation) -> None:
    """Generate every model's samples in batches, then zip them; succeeded only with the zip in place."""
    settings, store = svc.settings, svc.store
    reporter = Reporter(svc, Generation, row.id)
    folder = store.path(generation_prefix(row.id))
    work = folder / "pairs"
    shutil.rmtree(work, ignore_errors=True)  # a redelivered job starts its samples afresh
    total = len(row.model_ids) * row.samples_per_model
    rows: list[dict] = []
    try:
        device = resolve_device(settings.device)
        with svc.sessions() as session:
            pair_names = {m.id: m.pair.name for m in session.query(TrainedModel).filter(TrainedModel.id.in_(row.model_ids))}
        for index, model_id in enumerate(row.model_ids):
            model_dir = store.path(model_prefix(model_id))
            model = load_model(model_dir, device)

            def on_batch(done: int, _total: int) -> None:
                reporter({"samples": len(rows) + done, "total": total, "fraction": (len(rows) + done) / total})
                if reporter.should_stop():
                    raise _Stopped

            samples = generate(model, row.samples_per_model, gen_start_scale=row.gen_start_scale, seed=row.seed, batch_size=settings.generate_batch_size, progress=on_batch)
            if row.style_transfer:
                samples = _stylize(samples, model_dir, settings.vgg19_weights, device)
            names = [f"{index:03d}-{model_id[:8]}-{i:05d}" for i in range(row.samples_per_model)]
            write_pairs(samples, work, names)
            rows += [
                {"image": f"images/{name}.png", "mask": f"masks/{name}.png", "model_id": model_id, "pair_name": pair_names.get(model_id, ""),
                 "sample_index": i, "seed": row.seed, "gen_start_scale": row.gen_start_scale, "style_transfer": str(row.style_transfer).lower()}
                for i, name in enumerate(names)
            ]
        key = f"{generation_prefix(row.id)}/archive.zip"
        size, sha = build_archive(work, rows, store.path(key))
    except _Stopped:
        reporter.stopped()
        return
    except Exception as exc:  # the job fails with a readable error; the worker goes on
        log.exception("generation %s failed", row.id)
        reporter.finish(FAILED, error=f"{type(exc).__name__}: {exc}")
        return
    finally:
        shutil.rmtree(work, ignore_errors=True)
    archive = Archive(generation_id=row.id, blob_key=key, size_bytes=size, sha256=sha, pairs=len(rows))
    if not reporter.finish(SUCCEEDED, add=(archive,), progress={"samples": total, "total": total, "fraction": 1.0}):
        log.warning("generation %s was taken over before it could be marked succeeded", row.id)


def _stylize(samples, model_dir, weights, device):
    """Style transfer (SPEC section 7, issue 4): the model's training image is the style."""
    from models.style_transfer import stylize_samples  # only loaded when a generation asks for it

    style = np.asarray(Image.open(model_dir / REAL_IMAGE_FILE).convert("RGB"))
    return stylize_samples(samples, style, weights, device=device)
