"""FastAPI dependencies: services, a database session per request, optional token auth."""

from __future__ import annotations

import secrets
from typing import Annotated, AsyncIterator

from fastapi import Depends, HTTPException, Request
from sqlalchemy.orm import Session

from .services import Services


# These are ``async def`` because they do no I/O: FastAPI would otherwise hop to a worker
# thread for each of them, which costs more than the status poll they serve.


async def get_services(request: Request) -> Services:
    return request.app.state.services


ServicesDep = Annotated[Services, Depends(get_services)]


async def get_session(services: ServicesDep) -> AsyncIterator[Session]:
    with services.sessions() as session:  # connects lazily, in the route's thread
        yield session


SessionDep = Annotated[Session, Depends(get_session)]


async def require_token(request: Request, services: ServicesDep) -> None:
    """With ``api_token`` set, every /v1 call needs ``Authorization: Bearer <token>``."""
    token = services.settings.api_token
    if token is None:
        return
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not secrets.compare_digest(given.encode(), token.encode()):
        raise HTTPException(401, "missing or wrong API token (send 'Authorization: Bearer <token>')", headers={"WWW-Authenticate": "Bearer"})
