"""Request and response bodies (Pydantic v2), separate from the ORM models."""

from __future__ import annotations

import unicodedata
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from models.quality import FIGURES

Status = Literal["queued", "running", "succeeded", "failed", "cancelled"]
FigureName = Literal[tuple(FIGURES)]  # the figures of a quality report: samples, foreground_share, memorisation
ID_EXAMPLE = "3f2b8c1d9e0a4b6c8d7e6f5a4b3c2d1e"
# Seeds are stored in signed 64-bit integer columns (SQLite INTEGER, PostgreSQL BIGINT).
MAX_SEED = 2**63 - 1
PAIR_NAME_MAX = 200  # the width of pairs.name
# Unicode categories refused in pair names: controls (C0/C1, incl. tab, CR, LF), invisible
# formatting (bidi overrides, zero-width) and line/paragraph separators. Names travel into
# manifest.csv and logs, where these break rows or disguise what a name says.
_NAME_FORBIDDEN = {"Cc", "Cf", "Zl", "Zp"}


def check_pair_name(name: str) -> str:
    if not name.strip():
        raise ValueError("must not be empty or only whitespace")
    bad = sorted({f"U+{ord(c):04X}" for c in name if unicodedata.category(c) in _NAME_FORBIDDEN})
    if bad:
        raise ValueError(f"must not contain control, line-break or invisible formatting characters (found {', '.join(bad)})")
    return name


PairName = Annotated[str, StringConstraints(max_length=PAIR_NAME_MAX), AfterValidator(check_pair_name)]
Seed = Annotated[int, Field(ge=0, le=MAX_SEED)]


class ErrorOut(BaseModel):
    detail: str = Field(examples=["unknown model id 3f2b8c1d9e0a4b6c8d7e6f5a4b3c2d1e"])


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class PairOut(_Out):
    id: str = Field(examples=[ID_EXAMPLE])
    name: str = Field(examples=["cju0qkwl35piu0993l0dewei2"])
    width: int = Field(examples=[622])
    height: int = Field(examples=[529])
    foreground_share: float = Field(description="share of mask pixels that are foreground", examples=[0.2828])
    content_sha256: str = Field(description="sha256 of the image bytes followed by the mask bytes")
    image_bytes: int
    mask_bytes: int
    created_at: datetime


class TrainOverrides(BaseModel):
    """Settings that may differ from the preset; anything else is rejected."""

    model_config = ConfigDict(extra="forbid")

    niter: int | None = Field(None, ge=1, le=10_000, description="iterations per scale")
    max_size: int | None = Field(None, ge=16, le=1024, description="long side of the finest scale, px")
    min_size: int | None = Field(None, ge=10, le=512, description="short side of the coarsest scale, px")
    scale_factor_init: float | None = Field(None, ge=0.3, lt=1.0)
    seed: Seed | None = None

    def given(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True)


class ModelCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"pair_id": ID_EXAMPLE, "preset": "fast"}, {"pair_id": ID_EXAMPLE, "preset": "smoke", "overrides": {"niter": 20, "seed": 1}}]},
    )

    pair_id: str
    preset: Literal["paper", "fast", "smoke"] = Field("fast", description="paper: hours on a GPU; fast: minutes; smoke: seconds")
    overrides: TrainOverrides = Field(default_factory=TrainOverrides)


class TrainProgressOut(BaseModel):
    scale: int = Field(description="0-based scale being trained")
    scales: int
    iteration: int = Field(description="iterations finished at this scale")
    iterations: int
    fraction: float = Field(description="share of the whole run's work done")
    eta_seconds: float | None = Field(None, description="null until a rate is known")


class TrainingRun(BaseModel):
    worker: str
    started_at: datetime
    start_scale: int = Field(description="first scale this run trained; > 0 means it resumed a checkpoint")


class ModelOut(_Out):
    id: str = Field(examples=[ID_EXAMPLE])
    pair_id: str
    preset: str
    overrides: dict[str, Any]
    status: Status
    progress: TrainProgressOut | None
    error: str | None
    num_scales: int | None
    metrics: dict[str, Any] | None = Field(description="per-scale seconds and final losses, once succeeded")
    runs: list[TrainingRun]
    report_error: str | None = Field(description="why a succeeded model has no quality report (the model is usable)")
    cancel_requested: bool
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class GenerationCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"model_ids": [ID_EXAMPLE], "samples_per_model": 50, "gen_start_scale": 0, "seed": 0, "style_transfer": False}]},
    )

    model_ids: list[str] = Field(min_length=1)
    samples_per_model: int = Field(10, ge=1)
    gen_start_scale: int = Field(0, ge=0, description="0: most varied; higher keeps the training image's layout")
    seed: Seed = 0
    style_transfer: bool = Field(False, description="needs the VGG19 weights (see /healthz)")


class GenerationProgressOut(BaseModel):
    stage: Literal["generating", "style_transfer", "report", "archive"] | None = Field(None, description="what the worker is doing; null once finished")
    samples: int = Field(description="pairs finished so far (generated, and restyled when asked)")
    total: int
    fraction: float = Field(description="share of the work done; with style transfer, restyling is counted and generating is not")


class ArchiveOut(_Out):
    size_bytes: int
    sha256: str
    pairs: int
    created_at: datetime


class GenerationOut(_Out):
    id: str = Field(examples=[ID_EXAMPLE])
    model_ids: list[str]
    samples_per_model: int
    gen_start_scale: int
    seed: int
    style_transfer: bool
    status: Status
    progress: GenerationProgressOut | None
    error: str | None
    archive: ArchiveOut | None = Field(description="set once the zip can be downloaded")
    cancel_requested: bool
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


REPORT_EXAMPLE = {
    "model_id": ID_EXAMPLE,
    "report": {
        "format": "singan-seg-quality-report",
        "format_version": 1,
        "samples": {"count": 16, "size": [41, 49]},
        "fidelity": {"swd_mean": 0.41, "real_vs_real_mean": 0.12, "levels": ["..."]},
        "diversity": {"pixel_std_ratio": 0.38, "mean_pairwise_distance": 0.52, "pairwise_samples": 16},
        "masks": {"real_foreground_share": 0.28, "foreground_share": {"mean": 0.3, "std": 0.06, "min": 0.19, "max": 0.41}, "empty": [], "full": []},
        "memorisation": {"threshold": 0.35, "min_distance": 0.48, "near_copies": []},
        "per_sample": ["..."],
        "flags": [],
        "figures": {"samples": "samples.png", "foreground_share": "foreground_share.png", "memorisation": "memorisation.png"},
    },
    "figures": {name: f"/v1/models/{ID_EXAMPLE}/report/figures/{name}" for name in FIGURES},
}


class ReportOut(BaseModel):
    """One model's quality report (docs/quality.md) with links to its figures."""

    model_config = ConfigDict(json_schema_extra={"examples": [REPORT_EXAMPLE]})

    model_id: str
    report: dict[str, Any] = Field(description="report.json: fidelity, diversity, masks, memorisation, per_sample, flags")
    figures: dict[str, str] = Field(description="figure name -> path of its PNG on this API")


class GenerationReportOut(BaseModel):
    generation_id: str = Field(examples=[ID_EXAMPLE])
    reports: list[ReportOut] = Field(
        description="one shareable report per model, in request order, on exactly the pairs of the archive (also in it, under reports/MODEL_ID/)"
    )


class ComponentOut(BaseModel):
    ok: bool
    detail: str


class WorkerOut(_Out):
    id: str
    device: str
    seen_at: datetime


class HealthOut(BaseModel):
    status: Literal["ok", "degraded"]
    mode: Literal["embedded", "cluster"]
    database: ComponentOut
    broker: ComponentOut
    storage: ComponentOut
    workers: list[WorkerOut] = Field(description="workers seen recently, with their device (cpu or cuda)")
    gpu: ComponentOut = Field(description="ok when a live worker trains on CUDA")
    style_transfer: ComponentOut = Field(description="ok when the VGG19 weights file is present (SINGAN_SEG_VGG19_WEIGHTS, else the torch hub folder)")
