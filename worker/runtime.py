"""Per-process worker state: services, identity, the loaded VGG19, and the liveness row ``/healthz`` reads."""

from __future__ import annotations

import logging
import os
import socket
import threading
from functools import lru_cache
from pathlib import Path

from celery.signals import worker_init, worker_ready, worker_shutdown
from sqlalchemy.exc import SQLAlchemyError

from app.db import NotMigrated, check_migrated
from app.orm import Worker, utcnow
from app.services import Services, build_services
from app.settings import get_settings
from models.vgg19 import VGG19Features, load_vgg19

log = logging.getLogger(__name__)
WORKER_ID = f"{socket.gethostname()}:{os.getpid()}"
_stop = threading.Event()


@lru_cache
def services() -> Services:
    return build_services(get_settings())


@lru_cache
def device_name() -> str:
    from models.train import resolve_device

    return str(resolve_device(get_settings().device))


@lru_cache(maxsize=1)
def vgg19(path: Path, device: str) -> VGG19Features:
    """The style-transfer network, loaded once per worker process (reading the file costs
    about 0.5 GB of I/O) and kept for the next generation; another file or device replaces it."""
    return load_vgg19(path, device)


def _beat_forever(svc: Services, device: str) -> None:
    while not _stop.is_set():
        try:
            with svc.sessions() as session:
                row = session.get(Worker, WORKER_ID) or Worker(id=WORKER_ID, device=device)
                row.seen_at = utcnow()
                session.add(row)
                session.commit()
        except SQLAlchemyError as exc:  # the database may be briefly away; keep working
            log.warning("worker heartbeat not recorded: %s", exc)
        _stop.wait(svc.settings.worker_heartbeat)


@worker_init.connect
def _refuse_unmigrated(**_kwargs) -> None:
    try:
        check_migrated(services().engine)
    except NotMigrated as exc:
        log.critical("%s", exc)
        raise SystemExit(2) from None  # SystemExit passes Celery's signal dispatch; an Exception would be logged and ignored


@worker_ready.connect
def _on_ready(**_kwargs) -> None:
    svc = services()
    threading.Thread(target=_beat_forever, args=(svc, device_name()), name="worker-heartbeat", daemon=True).start()
    log.info("worker %s ready on %s, queue %s", WORKER_ID, device_name(), svc.settings.queue)


@worker_shutdown.connect
def _on_shutdown(**_kwargs) -> None:
    _stop.set()
    try:
        with services().sessions() as session:
            if (row := session.get(Worker, WORKER_ID)) is not None:
                session.delete(row)
                session.commit()
    except SQLAlchemyError as exc:
        log.warning("worker row not removed: %s", exc)
