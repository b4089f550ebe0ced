"""/v1/pairs: upload, list, read and delete image/mask pairs."""

from __future__ import annotations

import hashlib
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from sqlalchemy import select

from models import InputError, InputTooLarge, load_pair
from models.config import TrainConfig
from models.pyramid import plan_pyramid

from ..deps import ServicesDep, SessionDep
from ..errors import Conflict, Invalid, TooLarge
from ..jobs import delete_models, delete_row, get_or_404
from ..orm import Pair
from ..schemas import PAIR_NAME_MAX, ErrorOut, PairName, PairOut, check_pair_name
from ..storage import pair_prefix

router = APIRouter(prefix="/v1/pairs", tags=["pairs"])
ERRORS = {404: {"model": ErrorOut}, 409: {"model": ErrorOut}, 413: {"model": ErrorOut}, 422: {"model": ErrorOut}}


async def given_name(
    request: Request,
    name: Annotated[
        PairName | None,
        Form(description="default: the image's file name without extension; written to the archive's manifest.csv, so no patient identifiers"),
    ] = None,
) -> str | None:
    # FastAPI reads an empty form field as an absent one; a name sent empty is a mistake, not a
    # request for the default. The form is parsed already, so this reads it from the cache.
    if name is None and "name" in await request.form():
        raise Invalid("name: must not be empty or only whitespace (leave the field out to use the image's file name)")
    return name


def default_name(image: UploadFile) -> str:
    """The image's file name without folders and extension, under the same rules as a given name."""
    name = (image.filename or "pair").rsplit("/", 1)[-1].rsplit(".", 1)[0][:PAIR_NAME_MAX]
    try:
        return check_pair_name(name)
    except ValueError as exc:
        raise Invalid(f"name: taken from the image's file name, which {exc}; send a name") from None


@router.post("", status_code=201, response_model=PairOut, responses=ERRORS)
def create_pair(
    services: ServicesDep,
    session: SessionDep,
    image: Annotated[UploadFile, File(description="the image (JPEG, PNG, TIFF, GIF, BMP)")],
    mask: Annotated[UploadFile, File(description="its segmentation mask, same size")],
    name: Annotated[str | None, Depends(given_name)],
) -> Pair:
    """Upload an image and its mask. They are validated with the engine's input rules before anything is stored."""
    settings = services.settings
    name = name or default_name(image)
    try:
        pair = load_pair(image.file, mask.file, image_name="image", mask_name="mask", max_pixels=settings.max_pixels, require_foreground=True)
        defaults = TrainConfig()
        plan_pyramid(pair.height, pair.width, defaults.min_size, defaults.max_size, defaults.scale_factor_init)
    except InputTooLarge as exc:
        raise TooLarge(str(exc)) from None
    except InputError as exc:
        raise Invalid(str(exc)) from None
    row = Pair(
        name=name,
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
    delete_row(session, Pair, pair_id)
    session.commit()
    for prefix in [*prefixes, pair_prefix(pair_id)]:
        services.store.delete(prefix)
