#!/bin/sh
# The one install procedure, shared by the Dockerfile and CI (.ci/run), so CI proves the image's
# install step works: uv from pip, then exactly the locked dependencies.
#   deploy/install.sh          production dependencies only (the image)
#   deploy/install.sh --dev    plus the development group (tests, linters)
set -eu
command -v uv >/dev/null 2>&1 || python3 -m pip install --quiet --no-cache-dir uv
if [ "${1:-}" = "--dev" ]; then
  uv sync --frozen
else
  uv sync --frozen --no-dev
fi
