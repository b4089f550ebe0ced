"""The compose file validates offline and runs the same commands as the tests."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def compose() -> dict:
    tool = shutil.which("docker-compose")
    if tool is None:
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true: docker-compose is missing (apt-get install docker-compose)")
        pytest.skip("docker-compose is not installed (apt-get install docker-compose)")
    quiet = subprocess.run([tool, "-f", "docker-compose.yml", "config", "-q"], cwd=ROOT, capture_output=True, text=True)
    assert quiet.returncode == 0, quiet.stderr
    rendered = subprocess.run([tool, "-f", "docker-compose.yml", "config"], cwd=ROOT, capture_output=True, text=True, check=True)
    return yaml.safe_load(rendered.stdout)


def test_compose_has_the_cluster_shape(compose):
    services = compose["services"]
    assert set(services) == {"api", "worker", "redis", "postgres"}
    assert all("healthcheck" in s for s in services.values())
    assert set(compose["volumes"]) == {"pgdata", "redisdata", "blobs"}
    for name in ("api", "worker"):
        env = services[name]["environment"]
        assert env["SINGAN_SEG_DATABASE_URL"].startswith("postgresql+psycopg://") and env["SINGAN_SEG_BROKER_URL"].startswith("redis://")
        assert "blobs:/data:rw" in services[name]["volumes"]  # one blob volume shared by API and workers
    gpu = services["worker"]["deploy"]["resources"]["reservations"]["devices"][0]
    assert gpu["driver"] == "nvidia" and gpu["capabilities"] == ["gpu"]
    assert services["worker"]["environment"]["SINGAN_SEG_DEVICE"] == "cuda"


def test_images_run_the_commands_the_tests_run(compose):
    api = " ".join(compose["services"]["api"]["command"])
    assert api.index("alembic upgrade head") < api.index("singan-seg serve --no-worker")
    assert compose["services"]["worker"]["command"] == ["singan-seg", "worker"]
    assert compose["services"]["worker"]["depends_on"]["api"]["condition"] == "service_healthy"
    for dockerfile, command in (("api.Dockerfile", "singan-seg serve --no-worker"), ("worker.Dockerfile", '["singan-seg", "worker"]')):
        assert command in (ROOT / "docker" / dockerfile).read_text()
