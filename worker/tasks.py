"""Celery tasks: train a model and report on it; generate a dataset, report on it and zip both.

Each task carries only a job id. The job's row is claimed with a conditional UPDATE
(one worker per job), progress and a lease heartbeat go to the database at most once
per ``progress_interval``, and the final state is written only while the claim holds.
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch
from PIL import Image

from app import jobs
from app.orm import CANCELLED, FAILED, SUCCEEDED, Archive, Generation, Pair, TrainedModel, utcnow
from app.queue import GENERATE_TASK, TRAIN_TASK
from app.services import Services
from app.storage import generation_prefix, generation_report_prefix, generation_reports_prefix, model_prefix, model_report_prefix, pair_prefix
from models import TrainingCancelled, TrainProgress, generate, load_model, load_pair, preset, read_manifest, train, write_pairs
from models.quality import build_report, samples_from_tensor
from models.style_transfer import StyleProgressFn, stylize_samples
from models.train import REAL_IMAGE_FILE, resolve_device
from models.vgg19 import VGG19Features

from . import runtime
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

    def __call__(self, progress: dict[str, Any] | None) -> None:
        now = time.monotonic()
        if now - self.last >= self.svc.settings.progress_interval:
            self.last = now
            self.stop = self.stop or not jobs.beat(self.svc.sessions, self.cls, self.job_id, WORKER_ID, progress)

    def should_stop(self) -> bool:
        return self.stop

    @contextmanager
    def keepalive(self, progress: dict[str, Any] | None = None) -> Iterator[None]:
        """Keep writing ``progress`` (renewing the lease, noting a cancel) from a thread while
        a step with no progress callback runs: a report on many samples or a big zip can
        outlast ``lease_seconds``."""
        done = threading.Event()

        def beat() -> None:
            while not done.wait(self.svc.settings.progress_interval):
                self(progress)

        self(progress)
        thread = threading.Thread(target=beat, name=f"lease-{self.job_id}", daemon=True)
        thread.start()
        try:
            yield
        finally:
            done.set()
            thread.join()

    def finish(self, status: str, **values: Any) -> bool:
        return jobs.finish(self.svc.sessions, self.cls, self.job_id, WORKER_ID, status, **values)

    def fail(self, exc: Exception) -> None:
        """The job fails with a readable error; the worker goes on to the next one."""
        log.exception("%s %s failed", self.cls.__tablename__, self.job_id)
        self.finish(FAILED, error=f"{type(exc).__name__}: {exc}")

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
    except Exception as exc:  # noqa: BLE001 - any failure becomes the job's readable error
        reporter.fail(exc)
        return
    report_error = None
    report_dir = store.path(model_report_prefix(row.id))
    shutil.rmtree(report_dir, ignore_errors=True)  # no figure of an earlier attempt survives
    try:
        # Not shareable: shows the training pair, and stays inside with the model.
        with reporter.keepalive():
            build_report(model_dir, report_dir, num_samples=settings.model_report_samples, device=settings.device)
    except Exception as exc:  # the trained model is usable without its report; the API says why it is missing
        log.exception("quality report of model %s failed", row.id)
        report_error = f"{type(exc).__name__}: {exc}"
    manifest = read_manifest(model_dir)
    scales = manifest["scales"]
    height, width = manifest["pyramid"]["sizes"][-1]
    reporter.finish(
        SUCCEEDED,
        report_error=report_error,
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
    """Generate every model's samples in batches (restyled when asked), report on them, then
    zip pairs and reports; succeeded only with the zip in place."""
    settings, store = svc.settings, svc.store
    reporter = Reporter(svc, Generation, row.id)
    work = store.path(generation_prefix(row.id)) / "pairs"
    reports = store.path(generation_reports_prefix(row.id))
    for stale in (work, reports):  # a redelivered job starts afresh
        shutil.rmtree(stale, ignore_errors=True)
    n = row.samples_per_model
    total = len(row.model_ids) * n
    rows: list[dict] = []

    def at(stage: str, model_fraction: float = 0.0) -> dict[str, Any]:
        """Progress: pairs of finished models plus the share done of the current one."""
        finished = len(rows) + model_fraction * n
        return {"stage": stage, "samples": int(finished), "total": total, "fraction": finished / total}

    def advance(progress: dict[str, Any]) -> None:
        reporter(progress)
        if reporter.should_stop():
            raise _Stopped

    try:
        device = resolve_device(settings.device)
        # Load (or reuse) VGG19 first: missing weights fail the job before any generating.
        vgg = runtime.vgg19(settings.vgg19_file(), str(device)) if row.style_transfer else None
        with svc.sessions() as session:
            pair_names = {m.id: m.pair.name for m in session.query(TrainedModel).filter(TrainedModel.id.in_(row.model_ids))}
        for index, model_id in enumerate(row.model_ids):
            model_dir = store.path(model_prefix(model_id))
            model = load_model(model_dir, device)
            # With style transfer, generating is a sliver of the work: the fraction follows the restyling.
            samples = generate(
                model,
                n,
                gen_start_scale=row.gen_start_scale,
                seed=row.seed,
                batch_size=settings.generate_batch_size,
                progress=lambda done, _total: advance(at("generating", 0.0 if vgg else done / n)),
            )
            if vgg is not None:
                samples = _stylize(samples, model_dir, vgg, device, settings.style_steps, lambda p: advance(at("style_transfer", p.fraction)))
            names = [f"{index:03d}-{model_id[:8]}-{i:05d}" for i in range(n)]
            write_pairs(samples, work, names)
            rows += [
                {"image": f"images/{name}.png", "mask": f"masks/{name}.png", "model_id": model_id, "pair_name": pair_names.get(model_id, ""),
                 "sample_index": i, "seed": row.seed, "gen_start_scale": row.gen_start_scale, "style_transfer": str(row.style_transfer).lower()}
                for i, name in enumerate(names)
            ]
            # Shareable (it leaves in the archive): no training pair in the figures, no paths or file
            # names; the archive's names, so a flagged near-copy names the file to leave out.
            with reporter.keepalive(at("report")):
                build_report(model_dir, store.path(generation_report_prefix(row.id, model_id)), samples=samples_from_tensor(samples, names), shareable=True)
            advance(at("report"))  # a cancel during the report stops here
        key = f"{generation_prefix(row.id)}/archive.zip"
        with reporter.keepalive(at("archive")):
            size, sha = build_archive(work, rows, reports, store.path(key))
    except _Stopped:
        reporter.stopped()
        return
    except Exception as exc:  # noqa: BLE001 - any failure becomes the job's readable error
        reporter.fail(exc)
        return
    finally:
        shutil.rmtree(work, ignore_errors=True)
    archive = Archive(generation_id=row.id, blob_key=key, size_bytes=size, sha256=sha, pairs=len(rows))
    if not reporter.finish(SUCCEEDED, add=(archive,), progress={"samples": total, "total": total, "fraction": 1.0}):
        log.warning("generation %s was taken over before it could be marked succeeded", row.id)


def _stylize(samples: torch.Tensor, model_dir: Path, vgg: VGG19Features, device: torch.device, steps: int, progress: StyleProgressFn) -> torch.Tensor:
    """Style transfer (SPEC section 7): the model's training image is the style; masks stay as generated."""
    style = np.asarray(Image.open(model_dir / REAL_IMAGE_FILE).convert("RGB"))
    return stylize_samples(samples, style, vgg, steps=steps, device=device, progress=progress)
