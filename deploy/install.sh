#!/bin/sh
# The one install procedure, shared by the Dockerfile's builder stage and CI (.ci/run): uv (from
# pip when it is missing), then exactly the locked dependencies.
#   deploy/install.sh          production: the locked dependencies and StreamCore itself,
#                              non-editable (the image copies the venv without the sources)
#   deploy/install.sh --dev    plus the development group, the project editable (tests, linters)
# It relies on no PATH set-up: a uv that pip installed where PATH does not look (a user install
# puts it in ~/.local/bin) is run as `python3 -m uv`. The venv is UV_PROJECT_ENVIRONMENT when
# set (/app/.venv in the image), else .venv.
set -eu
if command -v uv >/dev/null 2>&1; then
  uv=uv
else
  python3 -m pip install --quiet --no-cache-dir uv
  if command -v uv >/dev/null 2>&1; then uv=uv; else uv="python3 -m uv"; fi
fi
if [ "${1:-}" = "--dev" ]; then
  $uv sync --frozen
else
  $uv sync --frozen --no-dev --no-editable
fi
