"""/v1/models: train one SinGAN-Seg model per pair, follow its progress, cancel or delete it."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse
from sqlalchemy import select

from models import InputError, preset
from models.pyramid import plan_pyramid

from ..deps import ServicesDep, SessionDep
from ..errors import Invalid
from ..jobs import delete_models, get_or_404, request_cancel, submit
from ..orm import Pair, TrainedModel
from ..queue import TRAIN_TASK
from ..reports import PNG, check_succeeded, figure_path, read_report
from ..schemas import ErrorOut, FigureName, ModelCreate, ModelOut, ReportOut, Status
from ..storage import model_report_prefix

router = APIRouter(prefix="/v1/models", tags=["models"])
ERRORS = {404: {"model": ErrorOut}, 409: {"model": ErrorOut}, 422: {"model": ErrorOut}, 503: {"model": ErrorOut}}


@router.post("", status_code=202, response_model=ModelOut, responses=ERRORS)
def create_model(body: ModelCreate, services: ServicesDep, session: SessionDep) -> TrainedModel:
    """Queue the training of a model on a pair. Poll `GET /v1/models/{id}` for progress."""
    pair = get_or_404(session, Pair, body.pair_id)
    overrides = body.overrides.given()
    try:
        config = preset(body.preset, **overrides)
        plan_pyramid(pair.height, pair.width, config.min_size, config.max_size, config.scale_factor_init)
    except (ValueError, InputError) as exc:  # InputError: the pair is too small for these settings
        raise Invalid(f"overrides: {exc}") from None
    return submit(session, services, TrainedModel(pair_id=pair.id, preset=body.preset, overrides=overrides), TRAIN_TASK)


@router.get("", response_model=list[ModelOut])
def list_models(
    session: SessionDep,
    status: Status | None = None,
    pair_id: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[TrainedModel]:
    """Models, newest first, optionally filtered by status or pair."""
    query = select(TrainedModel).order_by(TrainedModel.created_at.desc(), TrainedModel.id)
    if status is not None:
        query = query.where(TrainedModel.status == status)
    if pair_id is not None:
        query = query.where(TrainedModel.pair_id == pair_id)
    return list(session.scalars(query.limit(limit).offset(offset)))


@router.get("/{model_id}", response_model=ModelOut, responses=ERRORS)
def get_model(model_id: str, session: SessionDep) -> TrainedModel:
    """Status, progress (scale, iteration, fraction, ETA), error, timestamps and metrics."""
    return get_or_404(session, TrainedModel, model_id)


@router.post("/{model_id}/cancel", response_model=ModelOut, responses=ERRORS)
def cancel_model(model_id: str, session: SessionDep) -> TrainedModel:
    """Stop a queued or running training; a running one stops within seconds (finished scales stay saved)."""
    model = get_or_404(session, TrainedModel, model_id)
    request_cancel(session, model)
    return model


@router.delete("/{model_id}", status_code=204, responses=ERRORS)
def delete_model(model_id: str, services: ServicesDep, session: SessionDep) -> None:
    """Delete a finished model and its checkpoint."""
    prefixes = delete_models(session, [get_or_404(session, TrainedModel, model_id)])
    session.commit()
    for prefix in prefixes:
        services.store.delete(prefix)


def _no_report(model: TrainedModel) -> str:
    return f"model {model.id} succeeded without a quality report" + (f" (computing it failed: {model.report_error})" if model.report_error else "")


@router.get("/{model_id}/report", response_model=ReportOut, responses=ERRORS)
def get_model_report(model_id: str, request: Request, services: ServicesDep, session: SessionDep) -> ReportOut:
    """The model's quality report, computed by the worker right after training on
    `SINGAN_SEG_MODEL_REPORT_SAMPLES` samples (seed 0). It shows the training pair, so,
    like the model, it stays inside; the shareable reports are those of generations."""
    model = get_or_404(session, TrainedModel, model_id)
    check_succeeded(model)
    return read_report(
        services.store,
        model_report_prefix(model_id),
        model_id,
        lambda name: str(request.app.url_path_for("get_model_report_figure", model_id=model_id, name=name)),
        _no_report(model),
    )


@router.get("/{model_id}/report/figures/{name}", response_class=FileResponse, responses={**PNG, **ERRORS})
def get_model_report_figure(model_id: str, name: FigureName, services: ServicesDep, session: SessionDep) -> FileResponse:
    """A figure of the model's quality report: `samples` (the training pair, then samples with mask outlines), `foreground_share`, `memorisation`."""
    model = get_or_404(session, TrainedModel, model_id)
    check_succeeded(model)
    return FileResponse(figure_path(services.store, model_report_prefix(model_id), name, _no_report(model)), media_type="image/png")
