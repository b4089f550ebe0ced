"""/v1/pairs: upload, list, read and delete image/mask pairs."""

from __future__ import annotations

import hashlib
from typing import Annotated

from fastapi import APIRouter, File, Form, Query, UploadFile
from sqlalchemy import select

from models import InputError, InputTooLarge, load_pair
from models.config import TrainConfig
from models.pyramid import plan_pyramid

from ..deps import ServicesDep, SessionDep
from ..errors import Conflict, Invalid, TooLarge
from ..jobs import delete_models, get_or_404
from ..orm import Pair
from ..schemas import ErrorOut, PairOut
from ..storage import pair_prefix

router = APIRouter(prefix="/v1/pairs", tags=["pairs"])
ERRORS = {404: {"model": ErrorOut}, 409: {"model": ErrorOut}, 413: {"model": ErrorOut}, 422: {"model": ErrorOut}}


@router.post("", status_code=201, response_model=PairOut, responses=ERRORS)
def create_pair(
    services: ServicesDep,
    session: SessionDep,
    image: Annotated[UploadFile, File(description="the image (JPEG, PNG, TIFF, GIF, BMP)")],
    mask: Annotated[UploadFile, File(description="its segmentation mask, same size")],
    name: Annotated[str | None, Form(max_length=200, description="default: the image's file name without extension")] = None,
) -> Pair:
    """Upload an image and its mask. They are validated with the engine's input rules before anything is stored."""
    settings = services.settings
    try:
        pair = load_pair(image.file, mask.file, image_name="image", mask_name="mask", max_pixels=settings.max_pixels, require_foreground=True)
        defaults = TrainConfig()
        plan_pyramid(pair.height, pair.width, defaults.min_size, defaults.max_size, defaults.scale_factor_init)
    except InputTooLarge as exc:
        raise TooLarge(str(exc)) from None
    except InputError as exc:
        raise Invalid(str(exc)) from None
    row = Pair(
        name=name or (image.filename or "pair").rsplit("/", 1)[-1].rsplit(".", 1)[0][:200],
        width=pair.width,
        height=pair.height,
        foreground_share=pair.foreground_share,
        content_sha256="",
        image_bytes=0,
        mask_bytes=0,
    )
    session.add(row)
    session.flush()  # assigns the id the blob keys are made from
    digest = hashlib.sha256()
    try:
        for part, upload in (("image", image), ("mask", mask)):
            upload.file.seek(0)
            size = services.store.put_file(f"{pair_prefix(row.id)}/{part}", upload.file, digest)
            setattr(row, f"{part}_bytes", size)
        row.content_sha256 = digest.hexdigest()
        session.commit()
    except BaseException:
        session.rollback()
        services.store.delete(pair_prefix(row.id))
        raise
    return row


@router.get("", response_model=list[PairOut])
def list_pairs(session: SessionDep, limit: Annotated[int, Query(ge=1, le=1000)] = 100, offset: Annotated[int, Query(ge=0)] = 0) -> list[Pair]:
    """Pairs, newest first."""
    return list(session.scalars(select(Pair).order_by(Pair.created_at.desc(), Pair.id).limit(limit).offset(offset)))


@router.get("/{pair_id}", response_model=PairOut, responses=ERRORS)
def get_pair(pair_id: str, session: SessionDep) -> Pair:
    return get_or_404(session, Pair, pair_id)


@router.delete("/{pair_id}", status_code=204, responses=ERRORS)
def delete_pair(
    pair_id: str,
    services: ServicesDep,
    session: SessionDep,
    cascade: Annotated[bool, Query(description="also delete the pair's models (none may be queued or running)")] = False,
) -> None:
    """Delete a pair and its uploaded files. Refused while models of it exist, unless `cascade=true`."""
    pair = get_or_404(session, Pair, pair_id)
    if pair.models and not cascade:
        ids = ", ".join(m.id for m in pair.models)
        raise Conflict(f"pair {pair_id} has {len(pair.models)} model(s) ({ids}); delete them first or pass cascade=true")
    prefixes = delete_models(session, list(pair.models))
    session.delete(pair)
    session.commit()
    for prefix in [*prefixes, pair_prefix(pair_id)]:
        services.store.delete(prefix)
