# StreamCore image: uv-installed, locked dependencies, non-root, with a health check.
#   docker build -t streamcore .
#   docker compose -f docker-compose.prod.yaml up -d
#
# Two stages from the same base, so the virtual environment's interpreter path is the same in
# both and the venv works once copied:
#   builder  as root (no USER here): uv from pip, then `deploy/install.sh` (the install step CI
#            runs too) installs the locked production dependencies and StreamCore itself,
#            non-editable, into /app/.venv. Nothing of uv, pip's cache or the sources goes further.
#   runtime  the base, a non-root user and /app/.venv (StreamCore's packages, main.py, the
#            dashboard, overlays and static files are inside it, in site-packages).
# BASE exists so a lookalike base can stand in where python:3.11-slim cannot be pulled
# (deploy/test-image.sh builds this file on one made from Debian packages).
ARG BASE=python:3.11-slim

FROM ${BASE} AS builder

ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PROJECT_ENVIRONMENT=/app/.venv \
    UV_PYTHON_DOWNLOADS=never \
    UV_NO_CACHE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore
WORKDIR /app

# uv as root, before any USER: pip puts it in /usr/local/bin, on PATH.
RUN python3 -m pip install --quiet uv && uv --version

# The locked dependencies first, in a layer of their own that only a lock change rebuilds.
COPY pyproject.toml uv.lock ./
RUN uv sync --frozen --no-dev --no-install-project --no-editable

# Then StreamCore itself: the same install step CI runs (.ci/run calls deploy/install.sh too).
COPY . /app
RUN sh deploy/install.sh && cd / && /app/.venv/bin/streamcore --help >/dev/null


FROM ${BASE} AS runtime

ENV PYTHONUNBUFFERED=1 \
    PATH=/app/.venv/bin:$PATH \
    STREAMCORE_DATA_DIR=/data \
    STREAMCORE_HOST=0.0.0.0 \
    STREAMCORE_PORT=8000

RUN groupadd --system streamcore \
    && useradd --system --gid streamcore --home-dir /app --no-create-home streamcore \
    && mkdir -p /app /data && chown streamcore:streamcore /data
WORKDIR /app

# Owned by root and read-only to the service: only /data is writable.
COPY --from=builder /app/.venv /app/.venv

USER streamcore

VOLUME ["/data"]
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
    CMD ["/app/.venv/bin/python", "-c", "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/', timeout=2).status == 200 else 1)"]

CMD ["/app/.venv/bin/streamcore", "run"]
