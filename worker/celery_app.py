"""The Celery application workers run: ``celery -A worker.celery_app worker -P solo`` or ``singan-seg worker``.

One worker process per GPU with the solo pool: nothing forks after CUDA is initialised.
"""

from __future__ import annotations

from app.queue import make_celery
from app.settings import get_settings

celery = make_celery(get_settings())
celery.conf.include = ["worker.tasks"]
