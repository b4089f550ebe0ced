"""Job state changes shared by the API (cancel) and the workers (claim, progress, finish).

The database is the source of truth for a job's state; Celery only carries the id.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from .errors import Conflict, NotFound, Unavailable
from .orm import ACTIVE, CANCELLED, FINISHED, QUEUED, RUNNING, Base, Generation, TrainedModel, utcnow
from .queue import GENERATE_TASK, TRAIN_TASK, enqueue
from .services import Services
from .storage import model_prefix

log = logging.getLogger(__name__)
JobT = TypeVar("JobT", TrainedModel, Generation)
RowT = TypeVar("RowT", bound=Base)


def get_or_404(session: Session, cls: type[RowT], row_id: str) -> RowT:
    row = session.get(cls, row_id)
    if row is None:
        raise _unknown(cls, row_id)
    return row


def _unknown(cls: type[Base], row_id: str) -> NotFound:
    return NotFound(f"unknown {cls.__tablename__[:-1]} id {row_id}")


def delete_row(session: Session, cls: type[Base], row_id: str) -> None:
    """DELETE one row (not yet committed), or NotFound if it is already gone.

    A conditional DELETE checked by its row count, not ``session.delete``, which only warns
    when the row has vanished: of concurrent deletes of one row exactly one succeeds, as the
    others' DELETE waits for the first one's lock and then matches nothing.
    """
    if session.execute(delete(cls).where(cls.id == row_id)).rowcount != 1:
        raise _unknown(cls, row_id)


def delete_models(session: Session, models: list[TrainedModel]) -> list[str]:
    """Delete model rows (not yet committed); returns the blob prefixes to remove after the commit.

    Refused while a model is queued or running, or a queued or running generation uses it.
    """
    busy = [m.id for m in models if m.status in ACTIVE]
    if busy:
        raise Conflict(f"model(s) {', '.join(busy)} are queued or running; cancel them first")
    ids = {m.id for m in models}
    for generation in session.scalars(select(Generation).where(Generation.status.in_(ACTIVE))):
        used = ids.intersection(generation.model_ids)
        if used:
            raise Conflict(f"generation {generation.id} (status {generation.status}) uses model(s) {', '.join(sorted(used))}; wait for it or cancel it")
    for model in models:
        delete_row(session, TrainedModel, model.id)
    return [model_prefix(m.id) for m in models]


def submit(session: Session, services: Services, job: JobT, task: str) -> JobT:
    """Store a queued job, then send its id to the workers; if the broker is down, store nothing (503)."""
    session.add(job)
    session.commit()
    try:
        enqueue(services.celery, task, job.id)
    except Exception as exc:  # kombu raises transport-specific errors
        session.delete(job)
        session.commit()
        raise Unavailable(f"the job queue (broker) is unreachable, nothing was stored: {exc}") from None
    return job


def request_cancel(session: Session, job: TrainedModel | Generation) -> None:
    """A queued job is cancelled at once; a running one when its worker next checks (within seconds)."""
    if job.status in FINISHED:
        raise Conflict(f"{job.__tablename__[:-1]} {job.id} is already {job.status}; only queued or running jobs can be cancelled")
    job.cancel_requested = True
    if job.status == QUEUED:
        job.status, job.finished_at = CANCELLED, utcnow()
    session.commit()


@dataclass(frozen=True)
class Claim:
    claimed: bool
    retry_in: float | None = None  # another worker holds a live lease: try again later
    reason: str = ""


def claim(sessions: sessionmaker[Session], cls: type[JobT], job_id: str, worker_id: str, lease_seconds: float) -> Claim:
    """Take a queued job, or a running one whose worker fell silent, with one conditional UPDATE."""
    now = utcnow()
    stale = now - timedelta(seconds=lease_seconds)
    with sessions() as session:
        result = session.execute(
            update(cls)
            .where(cls.id == job_id)
            .where(or_(cls.status == QUEUED, (cls.status == RUNNING) & or_(cls.heartbeat_at.is_(None), cls.heartbeat_at < stale)))
            .values(status=RUNNING, worker_id=worker_id, heartbeat_at=now, attempts=cls.attempts + 1, started_at=func.coalesce(cls.started_at, now))
        )
        session.commit()
        if result.rowcount == 1:
            return Claim(True)
        job = session.get(cls, job_id)
        if job is None:
            return Claim(False, reason="deleted")
        if job.status == RUNNING:
            waited = (now - job.heartbeat_at).total_seconds() if job.heartbeat_at else 0.0
            return Claim(False, retry_in=max(lease_seconds - waited, 0.0) + 1.0, reason=f"held by {job.worker_id}")
        return Claim(False, reason=job.status)


def beat(sessions: sessionmaker[Session], cls: type[JobT], job_id: str, worker_id: str, progress: dict[str, Any] | None) -> bool:
    """Record progress and renew the lease; False when the job was cancelled or taken over."""
    try:
        with sessions() as session:
            values: dict[str, Any] = {"heartbeat_at": utcnow()}
            if progress is not None:
                values["progress"] = progress
            held = session.execute(update(cls).where(cls.id == job_id, cls.worker_id == worker_id).values(**values)).rowcount
            cancel = session.execute(select(cls.cancel_requested).where(cls.id == job_id)).scalar()
            session.commit()
    except OperationalError as exc:  # a locked or briefly unreachable database must not fail the job
        log.warning("progress of %s %s not recorded: %s", cls.__tablename__, job_id, exc)
        return True
    return held == 1 and not cancel


def finish(sessions: sessionmaker[Session], cls: type[JobT], job_id: str, worker_id: str, status: str, *, add: tuple[Base, ...] = (), **values: Any) -> bool:
    """Set a final state, and store the rows in ``add`` with it, only if this worker still holds the job."""
    with sessions() as session:
        done = session.execute(
            update(cls).where(cls.id == job_id, cls.worker_id == worker_id, cls.status == RUNNING).values(status=status, finished_at=utcnow(), **values)
        ).rowcount
        if done == 1:
            session.add_all(add)
        session.commit()
    return done == 1


def requeue_orphans(services: Services) -> list[str]:
    """For a restart of the embedded service: its worker died with the last run, and the SQLite
    broker had already handed out the running jobs' messages, so queue those jobs again."""
    requeued = []
    for cls, task in ((TrainedModel, TRAIN_TASK), (Generation, GENERATE_TASK)):
        with services.sessions() as session:
            ids = list(session.scalars(update(cls).where(cls.status == RUNNING).values(status=QUEUED, worker_id=None).returning(cls.id)))
            session.commit()
        for job_id in ids:
            enqueue(services.celery, task, job_id)
        requeued += ids
    return requeued
