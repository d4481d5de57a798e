"""Deployment files, checked without a Docker engine: the compose files validate against the
Compose specification's JSON schema (vendored from PyPI's docker-compose 1.29.2 as data), and
the production setup keeps its promises (health checks, secrets required, durable Redis)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft201909Validator

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((Path(__file__).parent / "compose_spec.json").read_text())
COMPOSE_FILES = [ROOT / "docker-compose.prod.yaml", ROOT / "db_infrastructure/docker-compose.yml"]


def load(path: Path) -> dict[str, Any]:
    document = yaml.safe_load(path.read_text())
    assert isinstance(document, dict)
    return document


@pytest.mark.parametrize("path", COMPOSE_FILES, ids=lambda p: p.name)
def test_compose_file_validates_against_the_compose_spec(path: Path) -> None:
    errors = sorted(Draft201909Validator(SCHEMA).iter_errors(load(path)), key=str)
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors)


def test_the_schema_rejects_a_broken_compose_file() -> None:
    broken = {"services": {"app": {"image": "x", "depends_on": {"db": {"condition": "soon"}}}}}
    assert list(Draft201909Validator(SCHEMA).iter_errors(broken))


@pytest.mark.parametrize("path", COMPOSE_FILES, ids=lambda p: p.name)
def test_every_service_has_a_healthcheck_and_volumes_are_named(path: Path) -> None:
    document = load(path)
    for name, service in document["services"].items():
        assert "healthcheck" in service, f"{name} has no healthcheck"
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            assert source in document["volumes"], f"{name} mounts {source}, not a named volume"


def test_production_app_waits_for_healthy_backends() -> None:
    app = load(ROOT / "docker-compose.prod.yaml")["services"]["app"]
    assert app["depends_on"] == {
        "postgres": {"condition": "service_healthy"},
        "redis": {"condition": "service_healthy"},
    }


def test_production_secrets_are_required_not_defaulted() -> None:
    text = (ROOT / "docker-compose.prod.yaml").read_text()
    for secret in (
        "STREAMCORE_ADMIN_TOKEN",
        "TOKEN_ENCRYPTION_KEY",
        "TWITCH_CLIENT_SECRET",
        "POSTGRES_PASSWORD",
    ):
        assert re.search(r"\$\{" + secret + r":\?", text), f"{secret} is not ${{{secret}:?...}}"
        assert not re.search(r"\$\{" + secret + r":-", text), f"{secret} has a default"


def test_production_redis_keeps_an_append_only_file() -> None:
    redis = load(ROOT / "docker-compose.prod.yaml")["services"]["redis"]
    assert "--appendonly" in redis["command"]
    assert redis["command"][redis["command"].index("--appendonly") + 1] == "yes"


def test_dockerfile_runs_as_non_root_with_a_healthcheck_and_the_ci_install_step() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    users = re.findall(r"^USER\s+(\S+)", dockerfile, re.MULTILINE)
    assert users and users[-1] not in ("root", "0")
    assert re.search(r"^HEALTHCHECK ", dockerfile, re.MULTILINE)
    assert "sh deploy/install.sh" in dockerfile
    assert "sh deploy/install.sh" in (ROOT / ".ci/run").read_text()
