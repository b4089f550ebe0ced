"""SQLAlchemy 2 ORM models. The schema changes only through Alembic migrations."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, Float, ForeignKey, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED = "queued", "running", "succeeded", "failed", "cancelled"
ACTIVE = (QUEUED, RUNNING)
FINISHED = (SUCCEEDED, FAILED, CANCELLED)


def new_id() -> str:
    return uuid.uuid4().hex


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC on the way out on every backend (SQLite stores naive values)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        return value.astimezone(timezone.utc) if value is not None and value.tzinfo else value

    def process_result_value(self, value, dialect):
        return value.replace(tzinfo=timezone.utc) if value is not None and value.tzinfo is None else value


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime, dict[str, Any]: JSON, list[Any]: JSON}


class Pair(Base):
    """An uploaded image and mask; blobs live under ``pairs/<id>/``."""

    __tablename__ = "pairs"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(200))
    width: Mapped[int]
    height: Mapped[int]
    foreground_share: Mapped[float] = mapped_column(Float)
    content_sha256: Mapped[str] = mapped_column(String(64), index=True)
    image_bytes: Mapped[int]
    mask_bytes: Mapped[int]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    models: Mapped[list[TrainedModel]] = relationship(back_populates="pair")


class Job:
    """Columns every background job has: state, progress and the worker lease.

    ``worker_id``/``heartbeat_at`` are the database-side guard: a worker claims a job
    with a conditional UPDATE, so one job never runs on two workers at once, and a
    job whose worker went silent for ``lease_seconds`` can be taken over.
    """

    status: Mapped[str] = mapped_column(String(16), default=QUEUED, index=True)
    progress: Mapped[dict[str, Any] | None]
    error: Mapped[str | None] = mapped_column(Text)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    worker_id: Mapped[str | None] = mapped_column(String(200))
    heartbeat_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]


class TrainedModel(Job, Base):
    """One SinGAN-Seg model trained on one pair; its checkpoint folder is ``models/<id>/``."""

    __tablename__ = "models"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    pair_id: Mapped[str] = mapped_column(ForeignKey("pairs.id"), index=True)
    preset: Mapped[str] = mapped_column(String(16))
    overrides: Mapped[dict[str, Any]] = mapped_column(default=dict)
    num_scales: Mapped[int | None]
    metrics: Mapped[dict[str, Any] | None]
    # One entry per worker run: which scale it started from (resumes skip finished scales).
    runs: Mapped[list[Any]] = mapped_column(default=list)
    # Set when the model succeeded but its quality report (models/<id>/report/) could not be computed.
    report_error: Mapped[str | None] = mapped_column(Text)

    pair: Mapped[Pair] = relationship(back_populates="models")


class Generation(Job, Base):
    """A request for synthetic pairs from one or more succeeded models."""

    __tablename__ = "generations"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    model_ids: Mapped[list[Any]]  # model ids, in request order
    samples_per_model: Mapped[int]
    gen_start_scale: Mapped[int]
    seed: Mapped[int]
    style_transfer: Mapped[bool] = mapped_column(Boolean, default=False)

    archive: Mapped[Archive | None] = relationship(back_populates="generation", cascade="all, delete-orphan")


class Archive(Base):
    """The finished zip of a generation; it exists only once the zip is in storage."""

    __tablename__ = "archives"

    generation_id: Mapped[str] = mapped_column(ForeignKey("generations.id", ondelete="CASCADE"), primary_key=True)
    blob_key: Mapped[str] = mapped_column(String(200))
    size_bytes: Mapped[int]
    sha256: Mapped[str] = mapped_column(String(64))
    pairs: Mapped[int]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    generation: Mapped[Generation] = relationship(back_populates="archive")


class Worker(Base):
    """A worker process's liveness, written every ``worker_heartbeat`` seconds (health shows it)."""

    __tablename__ = "workers"

    id: Mapped[str] = mapped_column(String(200), primary_key=True)
    device: Mapped[str] = mapped_column(String(32))
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    seen_at: Mapped[datetime] = mapped_column(default=utcnow)
