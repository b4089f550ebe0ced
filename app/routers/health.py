"""GET /healthz: liveness plus the state of each component."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter
from kombu.utils.url import maybe_sanitize_url
from fastapi.responses import JSONResponse
from sqlalchemy import select

from ..db import check_migrated
from ..deps import ServicesDep
from ..orm import Worker, utcnow
from ..schemas import ComponentOut, HealthOut, WorkerOut

router = APIRouter(tags=["health"])


def _probe(check) -> ComponentOut:
    try:
        return ComponentOut(ok=True, detail=check() or "ok")
    except Exception as exc:  # any failure is the component's state, not the endpoint's
        return ComponentOut(ok=False, detail=f"{type(exc).__name__}: {exc}")


@router.get("/healthz", response_model=HealthOut, responses={503: {"model": HealthOut, "description": "database, broker or storage is down"}})
def healthz(services: ServicesDep) -> JSONResponse:
    """200 when the database, broker and storage work (503 otherwise); workers, GPU and style-transfer weights are reported."""
    settings = services.settings
    database = _probe(lambda: check_migrated(services.engine))

    def broker() -> str:
        with services.celery.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
        return maybe_sanitize_url(settings.broker)

    def live_workers() -> list[WorkerOut]:
        recent = utcnow() - timedelta(seconds=3 * settings.worker_heartbeat)
        with services.sessions() as session:
            return [WorkerOut.model_validate(w) for w in session.scalars(select(Worker).where(Worker.seen_at >= recent).order_by(Worker.id))]

    workers = live_workers() if database.ok else []
    cuda = [w.id for w in workers if w.device.startswith("cuda")]
    body = HealthOut(
        status="ok",
        mode="embedded" if settings.embedded else "cluster",
        database=database,
        broker=_probe(broker),
        storage=_probe(lambda: services.store.check() or str(services.store.root)),
        workers=workers,
        gpu=ComponentOut(ok=bool(cuda), detail=f"CUDA workers: {', '.join(cuda)}" if cuda else "no live worker has a CUDA device"),
        style_transfer=_probe(lambda: f"VGG19 weights at {settings.vgg19_file()}"),
    )
    if not (body.database.ok and body.broker.ok and body.storage.ok):
        body.status = "degraded"
    return JSONResponse(body.model_dump(mode="json"), status_code=200 if body.status == "ok" else 503)
