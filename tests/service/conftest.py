"""Fixtures for the service tests: real SQLite/Redis/PostgreSQL, real uploads, real training.

Plain helpers live in ``service_helpers.py``.
"""

from __future__ import annotations

import os
import uuid
from typing import Callable, Iterator

import pytest
from service_helpers import embedded_client

POLYPS = ("cju0qkwl35piu0993l0dewei2.jpg", "cju0qoxqj9q6s0835b43399p4.jpg")
REDIS_URL = "redis://127.0.0.1:6379"
POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432"


@pytest.fixture(autouse=True)
def _no_service_env(monkeypatch, tmp_path_factory) -> None:
    """Settings come from each test, never from the developer's environment, nor does a
    VGG19 file in the developer's torch hub folder (an empty TORCH_HOME instead)."""
    for key in [k for k in os.environ if k.startswith("SINGAN_SEG_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path_factory.mktemp("torch-home")))


@pytest.fixture
def make_client(tmp_path) -> Iterator[Callable[..., object]]:
    """Build an in-process API (TestClient) on a fresh migrated embedded data dir."""
    clients = []

    def make(**overrides):
        clients.append(embedded_client(tmp_path / f"data{len(clients)}", **overrides))
        return clients[-1]

    yield make
    for client in clients:
        client.close()


@pytest.fixture(scope="session")
def kvasir(shared_data) -> Callable[[int], tuple[bytes, bytes, str]]:
    """(image bytes, mask bytes, file name) of a real Kvasir-SEG pair."""

    def pair(index: int = 0) -> tuple[bytes, bytes, str]:
        name = POLYPS[index]
        root = shared_data / "kvasir-seg"
        return (root / "images" / name).read_bytes(), (root / "masks" / name).read_bytes(), name

    return pair


# --- cluster services ------------------------------------------------------------------


def _unavailable(what: str, exc: Exception) -> None:
    message = f"{what} is not reachable ({exc}); start it to run the cluster tests"
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true: {message}")
    pytest.skip(message)


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """A Redis database number for this run (queue names are unique per run too)."""
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except Exception as exc:  # connection refused, timeout, DNS
        _unavailable(f"Redis at {REDIS_URL}", exc)
    yield f"{REDIS_URL}/{uuid.uuid4().int % 15 + 1}"


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this run, dropped afterwards."""
    import psycopg

    admin = POSTGRES_URL.replace("+psycopg", "") + "/test"
    name = f"singan_test_{uuid.uuid4().hex[:12]}"
    try:
        with psycopg.connect(admin, autocommit=True, connect_timeout=2) as conn:
            conn.execute(f"CREATE DATABASE {name}")
    except psycopg.OperationalError as exc:
        _unavailable(f"PostgreSQL at {admin}", exc)
    yield f"{POSTGRES_URL}/{name}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
