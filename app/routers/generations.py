"""/v1/generations: synthetic pairs from trained models, delivered as one zip archive."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import FileResponse
from sqlalchemy import select

from ..deps import ServicesDep, SessionDep
from ..errors import Conflict, Invalid
from ..jobs import get_or_404, request_cancel, submit
from ..orm import FINISHED, SUCCEEDED, Generation, TrainedModel
from ..queue import GENERATE_TASK
from ..schemas import ErrorOut, GenerationCreate, GenerationOut, Status
from ..settings import Settings
from ..storage import generation_prefix

router = APIRouter(prefix="/v1/generations", tags=["generations"])
ERRORS = {404: {"model": ErrorOut}, 409: {"model": ErrorOut}, 422: {"model": ErrorOut}, 503: {"model": ErrorOut}}
VGG19_HINT = "a VGG19 weights file in torchvision's format (vgg19-dcbb9e9d.pth, keys features.N.weight/bias)"


def _check_style_transfer(settings: Settings) -> None:
    if settings.vgg19_weights is None:
        raise Conflict(f"style_transfer needs {VGG19_HINT}; set SINGAN_SEG_VGG19_WEIGHTS to its path on the workers and the API")
    if not settings.vgg19_present:
        raise Conflict(f"style_transfer needs {VGG19_HINT}, but SINGAN_SEG_VGG19_WEIGHTS={settings.vgg19_weights} is not a file")


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
        _check_style_transfer(settings)
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
    session.delete(generation)
    session.commit()
    services.store.delete(generation_prefix(generation_id))


@router.get(
    "/{generation_id}/archive",
    response_class=FileResponse,
    responses={200: {"content": {"application/zip": {}}, "description": "images/, masks/ and manifest.csv"}, **ERRORS},
)
def download_archive(generation_id: str, services: ServicesDep, session: SessionDep) -> FileResponse:
    """The zip: `images/NAME.png`, `masks/NAME.png` and `manifest.csv`. Supports HTTP range requests."""
    generation = get_or_404(session, Generation, generation_id)
    if generation.archive is None:
        raise Conflict(f"generation {generation_id} is {generation.status}; the archive exists once it has succeeded")
    return FileResponse(
        services.store.path(generation.archive.blob_key),
        media_type="application/zip",
        filename=f"singan-seg-{generation_id}.zip",
    )
