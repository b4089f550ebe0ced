"""The service's settings: the only place that reads the environment (prefix ``SINGAN_SEG_``).

With nothing set, everything lives under ``data_dir``: a SQLite database, a SQLite
broker (Kombu's SQLAlchemy transport) and the blob folder, so the service runs on a
fresh machine. Cluster deployments set ``database_url`` and ``broker_url``.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from models.quality.report import DEFAULT_SAMPLES
from models.style_transfer import DEFAULT_STEPS
from models.vgg19 import find_vgg19_weights


class Settings(BaseSettings):
    # env_ignore_empty: `VAR=` (as compose passes an unset optional) means "not set".
    model_config = SettingsConfigDict(env_prefix="SINGAN_SEG_", extra="ignore", env_ignore_empty=True)

    data_dir: Path = Field(Path("singan-data"), description="database, broker and blobs in embedded mode; blobs always")
    database_url: str | None = Field(None, description="default: SQLite file in data_dir")
    broker_url: str | None = Field(None, description="default: SQLite broker file in data_dir")
    queue: str = Field("singan-seg", description="Celery queue the API sends to and workers consume")
    device: Literal["auto", "cpu", "cuda"] = "auto"
    api_token: str | None = Field(None, description="when set, /v1 requires 'Authorization: Bearer <token>'")

    # Limits on user input.
    max_upload_bytes: int = Field(64 * 1024 * 1024, gt=0, description="whole multipart body of one upload")
    max_pixels: int = Field(40_000_000, gt=0)
    max_samples_per_model: int = Field(1000, gt=0)
    max_models_per_generation: int = Field(100, gt=0)

    # Long GPU jobs: the broker redelivers an unacknowledged job after visibility_timeout,
    # so it must exceed the longest job; the database lease keeps one worker per job.
    visibility_timeout: int = Field(48 * 3600, gt=0, description="seconds")
    lease_seconds: float = Field(60.0, gt=0, description="a running job whose worker was silent this long is taken over")
    max_attempts: int = Field(3, gt=0, description="deliveries of one job before it is marked failed")
    progress_interval: float = Field(1.0, gt=0, description="seconds between progress writes (and cancel checks)")
    worker_heartbeat: float = Field(5.0, gt=0, description="seconds between a worker's liveness writes")
    generate_batch_size: int | None = Field(None, gt=0, description="samples per forward pass; unset: 16 on a GPU, 1 on a CPU (faster there)")

    # Style transfer (issue 4): the VGG19 weights file, never downloaded.
    vgg19_weights: Path | None = Field(None, description="default: torchvision's file in the torch hub checkpoints folder")
    style_steps: int = Field(DEFAULT_STEPS, gt=0, description="style transfer optimisation steps per image (SPEC section 7)")

    # Quality reports (issue 4): the worker writes one after each training, drawing this many samples.
    model_report_samples: int = Field(DEFAULT_SAMPLES, ge=2, description="samples a model's report draws (2 or more, for diversity)")

    @property
    def embedded(self) -> bool:
        """True when the database is the SQLite default under data_dir."""
        return self.database_url is None

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'singan-seg.sqlite').resolve()}"

    @property
    def broker(self) -> str:
        return self.broker_url or f"sqla+sqlite:///{(self.data_dir / 'broker.sqlite').resolve()}"

    @property
    def blob_dir(self) -> Path:
        return self.data_dir / "blobs"

    def vgg19_file(self) -> Path:
        """The VGG19 weights style transfer uses: ``vgg19_weights``, else the torch hub copy.

        The one place that decides presence (health, the 409, the workers, as the CLI does);
        raises ``models.vgg19.VGG19WeightsError`` naming the file to provide.
        """
        return find_vgg19_weights(self.vgg19_weights)


@lru_cache
def get_settings() -> Settings:
    return Settings()
