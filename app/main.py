"""The FastAPI application factory."""

from __future__ import annotations

from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .db import check_migrated
from .deps import require_token
from .errors import ServiceError
from .routers import generations, health, models, pairs
from .services import build_services
from .settings import Settings, get_settings

DESCRIPTION = """Upload real image/mask pairs, train one SinGAN-Seg model per pair on the workers,
and download synthetic image/mask datasets as zip files. Jobs have `status` in
`queued | running | succeeded | failed | cancelled`; errors are `{"detail": "..."}`."""


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app; refuses (``NotMigrated``) when the database schema is not current."""
    settings = settings or get_settings()
    services = build_services(settings)
    check_migrated(services.engine)

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        yield
        services.close()

    app = FastAPI(
        title="SinGAN-Seg service",
        version="1",
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    app.add_middleware(BodySizeLimit, max_body_size=settings.max_upload_bytes)
    app.state.services = services
    app.include_router(health.router)
    for router in (pairs.router, models.router, generations.router):
        app.include_router(router, dependencies=[Depends(require_token)])

    @app.exception_handler(ServiceError)
    async def service_error(_request: Request, exc: ServiceError) -> JSONResponse:
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
        # One readable sentence per problem, naming the field, plus FastAPI's structured list.
        problems = ["{}: {}".format(".".join(str(p) for p in e["loc"] if p != "body") or "body", e["msg"]) for e in exc.errors()]
        return JSONResponse({"detail": "; ".join(problems), "errors": [{k: e[k] for k in ("loc", "msg", "type")} for e in exc.errors()]}, status_code=422)

    @app.exception_handler(HTTPException)
    async def http_error(_request: Request, exc: HTTPException) -> JSONResponse:
        detail = too_large(settings.max_upload_bytes) if exc.status_code == 413 else exc.detail
        return JSONResponse({"detail": detail}, status_code=exc.status_code, headers=exc.headers)

    return app


def too_large(limit: int) -> str:
    return f"request body is larger than the upload limit of {limit} bytes"


class BodySizeLimit:
    """413 for a request body over the limit, counted while it streams in (never buffered whole).

    A declared Content-Length over the limit is refused before reading anything.
    """

    def __init__(self, app: ASGIApp, max_body_size: int):
        self.app = app
        self.max_body_size = max_body_size

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_body_size:
            response = JSONResponse({"detail": too_large(self.max_body_size)}, status_code=413, headers={"Connection": "close"})
            return await response(scope, receive, send)
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_body_size:
                raise HTTPException(413)  # FastAPI passes it on to the 413 handler above
            return message

        await self.app(scope, counting_receive, send)
