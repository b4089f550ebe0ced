"""What the API and the workers share at run time, built once from the settings."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from celery import Celery
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from .db import make_engine, make_sessionmaker
from .queue import make_celery
from .settings import Settings
from .storage import LocalStore


@dataclass
class Services:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    store: LocalStore

    @cached_property
    def celery(self) -> Celery:
        return make_celery(self.settings)

    def close(self) -> None:
        self.engine.dispose()


def build_services(settings: Settings) -> Services:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.db_url)
    return Services(settings, engine, make_sessionmaker(engine), LocalStore(settings.blob_dir))
