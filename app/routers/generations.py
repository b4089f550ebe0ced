"""/v1/generations: synthetic pairs from trained models, delivered as one zip archive."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse
from sqlalchemy import select
from starlette.responses import MalformedRangeHeader
from starlette.responses import RangeNotSatisfiable as StarletteRangeNotSatisfiable

from models.vgg19 import VGG19WeightsError

from ..deps import ServicesDep, SessionDep
from ..errors import Conflict, Invalid, NotFound, RangeNotSatisfiable
from ..jobs import delete_row, get_or_404, request_cancel, submit
from ..orm import FINISHED, SUCCEEDED, Generation, TrainedModel
from ..queue import GENERATE_TASK
from ..reports import PNG, check_succeeded, figure_path, read_report
from ..schemas import ErrorOut, FigureName, GenerationCreate, GenerationOut, GenerationReportOut, Status
from ..storage import generation_prefix, generation_report_prefix

router = APIRouter(prefix="/v1/generations", tags=["generations"])
ERRORS = {404: {"model": ErrorOut}, 409: {"model": ErrorOut}, 422: {"model": ErrorOut}, 503: {"model": ErrorOut}}


@router.post("", status_code=202, response_model=GenerationOut, responses=ERRORS)
def create_generation(body: GenerationCreate, services: ServicesDep, session: SessionDep) -> Generation:
    """Queue a generation: `samples_per_model` synthetic pairs from each model, zipped when done."""
    settings = services.settings
    if body.samples_per_model > settings.max_samples_per_model:
        raise Invalid(f"samples_per_model: at most {settings.max_samples_per_model}, got {body.samples_per_model}")
    if len(body.model_ids) > settings.max_models_per_generation:
        raise Invalid(f"model_ids: at most {settings.max_models_per_generation} models per generation, got {len(body.model_ids)}")
    if len(set(body.model_ids)) != len(body.model_ids):
        raise Invalid("model_ids: each model may appear once")
    for model_id in body.model_ids:
        model = get_or_404(session, TrainedModel, model_id)
        if model.status != SUCCEEDED:
            raise Conflict(f"model {model_id} is {model.status}; only succeeded models can generate")
        if body.gen_start_scale >= model.num_scales:
            raise Invalid(f"gen_start_scale: model {model_id} has {model.num_scales} scales, so it must be below {model.num_scales}")
    if body.style_transfer:
        try:
            settings.vgg19_file()
        except VGG19WeightsError as exc:
            raise Conflict(f"style_transfer: {exc}") from None
    return submit(session, services, Generation(**body.model_dump()), GENERATE_TASK)


@router.get("", response_model=list[GenerationOut])
def list_generations(
    session: SessionDep,
    status: Status | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[Generation]:
    """Generations, newest first."""
    query = select(Generation).order_by(Generation.created_at.desc(), Generation.id)
    if status is not None:
        query = query.where(Generation.status == status)
    return list(session.scalars(query.limit(limit).offset(offset)))


@router.get("/{generation_id}", response_model=GenerationOut, responses=ERRORS)
def get_generation(generation_id: str, session: SessionDep) -> Generation:
    """Status and progress; `succeeded` only once the archive can be downloaded."""
    return get_or_404(session, Generation, generation_id)


@router.post("/{generation_id}/cancel", response_model=GenerationOut, responses=ERRORS)
def cancel_generation(generation_id: str, session: SessionDep) -> Generation:
    generation = get_or_404(session, Generation, generation_id)
    request_cancel(session, generation)
    return generation


@router.delete("/{generation_id}", status_code=204, responses=ERRORS)
def delete_generation(generation_id: str, services: ServicesDep, session: SessionDep) -> None:
    """Delete a finished generation and its archive."""
    generation = get_or_404(session, Generation, generation_id)
    if generation.status not in FINISHED:
        raise Conflict(f"generation {generation_id} is {generation.status}; cancel it first")
    delete_row(session, Generation, generation_id)  # its archive row goes with it (ON DELETE CASCADE)
    session.commit()
    services.store.delete(generation_prefix(generation_id))


class ArchiveResponse(FileResponse):
    """Starlette's file response with RFC 9110 range errors instead of its plain-text ones:
    an invalid Range is ignored (200, the whole file; 14.2: a server MAY ignore Range), and
    an unsatisfiable one is the API's JSON 416 with ``Content-Range: bytes */SIZE``."""

    @classmethod
    def _parse_range_header(cls, http_range: str, file_size: int) -> list[tuple[int, int]]:
        try:
            return super()._parse_range_header(http_range, file_size)
        except MalformedRangeHeader:
            return []  # no ranges: Starlette sends the whole file
        except StarletteRangeNotSatisfiable:
            # Raised before the response starts, so the app's ServiceError handler answers it.
            raise RangeNotSatisfiable(file_size) from None


ARCHIVE_ROUTE = dict(
    path="/{generation_id}/archive",
    response_class=ArchiveResponse,
    responses={200: {"content": {"application/zip": {}}, "description": "images/, masks/, manifest.csv and reports/"}, **ERRORS, 416: {"model": ErrorOut}},
)


@router.get(**ARCHIVE_ROUTE)
@router.head(**ARCHIVE_ROUTE, summary="Archive headers (size, ETag) without the body")
def download_archive(generation_id: str, services: ServicesDep, session: SessionDep) -> ArchiveResponse:
    """The zip: `images/NAME.png`, `masks/NAME.png`, `manifest.csv` and each model's shareable
    quality report in `reports/MODEL_ID/` (`report.json` and its PNG figures). Supports HEAD and
    HTTP range requests (an invalid Range header is ignored; one past the end is 416)."""
    generation = get_or_404(session, Generation, generation_id)
    if generation.archive is None:
        raise Conflict(f"generation {generation_id} is {generation.status}; the archive exists once it has succeeded")
    return ArchiveResponse(
        services.store.path(generation.archive.blob_key),
        media_type="application/zip",
        filename=f"singan-seg-{generation_id}.zip",
    )


def _no_report(generation_id: str, model_id: str) -> str:
    return f"generation {generation_id} has no quality report for model {model_id}"


@router.get("/{generation_id}/report", response_model=GenerationReportOut, responses=ERRORS)
def get_generation_report(generation_id: str, request: Request, services: ServicesDep, session: SessionDep) -> GenerationReportOut:
    """The quality report of each model's pairs in the archive (restyled ones when style
    transfer was asked), the same files as the archive's `reports/`. Shareable: no training
    pair in the figures, no file names or paths."""
    generation = get_or_404(session, Generation, generation_id)
    check_succeeded(generation)
    reports = [
        read_report(
            services.store,
            generation_report_prefix(generation_id, model_id),
            model_id,
            lambda name, model_id=model_id: str(
                request.app.url_path_for("get_generation_report_figure", generation_id=generation_id, model_id=model_id, name=name)
            ),
            _no_report(generation_id, model_id),
        )
        for model_id in generation.model_ids
    ]
    return GenerationReportOut(generation_id=generation_id, reports=reports)


@router.get("/{generation_id}/report/{model_id}/figures/{name}", response_class=FileResponse, responses={**PNG, **ERRORS})
def get_generation_report_figure(generation_id: str, model_id: str, name: FigureName, services: ServicesDep, session: SessionDep) -> FileResponse:
    """A figure of one model's report in this generation: `samples` (synthetic pairs only), `foreground_share`, `memorisation`."""
    generation = get_or_404(session, Generation, generation_id)
    if model_id not in generation.model_ids:
        raise NotFound(f"generation {generation_id} has no model {model_id}")
    check_succeeded(generation)
    prefix = generation_report_prefix(generation_id, model_id)
    return FileResponse(figure_path(services.store, prefix, name, _no_report(generation_id, model_id)), media_type="image/png")
