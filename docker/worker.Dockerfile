# The GPU worker image: one container (one Celery process, solo pool) per GPU.
# Build: docker build -f docker/worker.Dockerfile -t singan-seg-worker .
FROM pytorch/pytorch:2.5.1-cuda12.4-cudnn9-runtime

ENV PIP_NO_CACHE_DIR=1 PYTHONUNBUFFERED=1 SINGAN_SEG_DATA_DIR=/data SINGAN_SEG_DEVICE=cuda
WORKDIR /srv/singan-seg

# torch with CUDA comes from the base image; pip keeps it because it satisfies the range.
COPY pyproject.toml README.md alembic.ini ./
COPY alembic alembic
COPY app app
COPY models models
COPY worker worker
RUN pip install -e .

# Solo pool: the job runs in this process, so CUDA is never initialised before a fork.
CMD ["singan-seg", "worker"]
