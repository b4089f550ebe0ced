"""Quality reports (issue 4) as the routes serve them.

Workers write ``report.json`` and its figures into storage (a model's after training,
a generation's before its archive); the routes only read them back.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

from models.quality import FIGURES, REPORT_FILE

from .errors import Conflict
from .orm import SUCCEEDED, Generation, TrainedModel
from .schemas import ReportOut
from .storage import LocalStore

PNG = {200: {"content": {"image/png": {}}, "description": "the figure as a PNG"}}


def check_succeeded(job: TrainedModel | Generation) -> None:
    if job.status != SUCCEEDED:
        raise Conflict(f"{job.__tablename__[:-1]} {job.id} is {job.status}; its quality report exists once it has succeeded")


def read_report(store: LocalStore, prefix: str, model_id: str, figure_url: Callable[[str], str], missing: str) -> ReportOut:
    """The report stored under ``prefix``, its figures as links; 409 with ``missing`` when absent."""
    path = store.path(f"{prefix}/{REPORT_FILE}")
    if not path.is_file():
        raise Conflict(missing)
    report = json.loads(path.read_text())
    return ReportOut(model_id=model_id, report=report, figures={name: figure_url(name) for name in report["figures"]})


def figure_path(store: LocalStore, prefix: str, name: str, missing: str) -> Path:
    path = store.path(f"{prefix}/{FIGURES[name]}")
    if not path.is_file():
        raise Conflict(missing)
    return path
