# StreamCore image: uv-installed, locked dependencies, non-root, with a health check.
#   docker build -t streamcore .
#   docker compose -f docker-compose.prod.yaml up -d
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PROJECT_ENVIRONMENT=/app/.venv \
    STREAMCORE_DATA_DIR=/data \
    STREAMCORE_HOST=0.0.0.0 \
    STREAMCORE_PORT=8000

RUN groupadd --system streamcore && useradd --system --gid streamcore --home /app streamcore \
    && mkdir -p /app /data && chown streamcore:streamcore /app /data
WORKDIR /app

COPY --chown=streamcore:streamcore . /app
USER streamcore
# The same install step CI runs (.ci/run calls deploy/install.sh too).
RUN sh deploy/install.sh

VOLUME ["/data"]
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
    CMD ["/app/.venv/bin/python", "-c", "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/', timeout=2).status == 200 else 1)"]

CMD ["/app/.venv/bin/streamcore", "run"]
