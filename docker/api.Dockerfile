# The API image: FastAPI + the engine on CPU (it only validates uploads).
# Build: docker build -f docker/api.Dockerfile -t singan-seg-api .
FROM python:3.11-slim

ENV PIP_NO_CACHE_DIR=1 PYTHONUNBUFFERED=1 SINGAN_SEG_DATA_DIR=/data
WORKDIR /srv/singan-seg

# CPU wheel of torch first (the API never trains), then the project in editable mode:
# migrations live beside the package (alembic/, alembic.ini).
RUN pip install --index-url https://download.pytorch.org/whl/cpu "torch>=2.2,<2.15"
COPY pyproject.toml README.md alembic.ini ./
COPY alembic alembic
COPY app app
COPY models models
COPY worker worker
RUN pip install -e .

EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s \
  CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"
# The same commands the tests run: migrate, then serve (workers run in their own containers).
CMD ["sh", "-c", "alembic upgrade head && exec singan-seg serve --no-worker --host 0.0.0.0 --port 8000"]
