"""The Celery application both sides share: the API sends tasks by name, workers run them.

Configured for long GPU jobs: a message is acknowledged only after its task finished
(``acks_late``), goes back to the queue if the worker dies (``reject_on_worker_lost``),
and each worker reserves one job at a time (prefetch 1). Job state lives in the
database, so there is no result backend.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from celery import Celery
from kombu.transport import sqlalchemy as sqla_transport

from .settings import Settings

TRAIN_TASK = "singan_seg.train_model"
GENERATE_TASK = "singan_seg.generate"


class SQLiteBrokerTransport(sqla_transport.Transport):
    """Kombu's SQLAlchemy transport, polled often enough that an idle worker starts a job within a second.

    (Its ``polling_interval`` cannot be a transport option: those all go to ``create_engine``;
    and a ``sqla+`` URL would pick the stock class, so the URL is passed without the prefix.)
    """

    polling_interval = 0.1


def make_celery(settings: Settings) -> Celery:
    broker = settings.broker
    if broker.startswith("sqla+sqlite:///"):
        database = broker.removeprefix("sqla+")
        _use_wal(Path(database.removeprefix("sqlite:///")))
        app = Celery("singan_seg", broker=database, set_as_current=False)
        # The timeout makes a writer wait for SQLite's lock instead of failing.
        app.conf.update(broker_transport=f"{__name__}:SQLiteBrokerTransport", broker_transport_options={"connect_args": {"timeout": 30}})
    else:
        app = Celery("singan_seg", broker=broker, set_as_current=False)
        app.conf.broker_transport_options = {"visibility_timeout": settings.visibility_timeout}
    app.conf.update(
        broker_connection_retry_on_startup=True,
        task_default_queue=settings.queue,
        task_ignore_result=True,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        worker_concurrency=1,
        worker_hijack_root_logger=False,
        # The SQLite broker has no fanout exchanges; health comes from the workers table instead.
        worker_enable_remote_control=False,
        worker_send_task_events=False,
        # Fail an enqueue fast (the API answers 503) instead of blocking a request.
        task_publish_retry_policy={"max_retries": 2, "interval_start": 0, "interval_step": 0.5, "interval_max": 1},
    )
    return app


def _use_wal(path: Path) -> None:
    """WAL (a persistent property of the file): an enqueue commits in one fsync, and the
    worker's polling reads never block the API's writes. Kombu's engine has no hook for it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(path, timeout=30) as conn:
        conn.execute("PRAGMA journal_mode=WAL")


def enqueue(celery: Celery, task: str, job_id: str) -> None:
    celery.send_task(task, args=[job_id])
