"""Deployment files, checked without a Docker engine: the compose files validate against the
Compose specification's JSON schema (vendored from PyPI's docker-compose 1.29.2 as data), the
production setup keeps its promises (health checks, secrets required, durable Redis, scalable
replicas behind the nginx proxy of deploy/nginx.conf), the Dockerfile keeps its multi-stage
shape, and the development compose runs the whole stack.

The image itself is built and run for real by deploy/test-image.sh (podman, a lookalike base),
which .ci/run calls before the test suite; the proxy config runs for real, in front of two
replicas, in tests/deploy/test_proxy.py."""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from jsonschema import Draft201909Validator

from simulator.config import SimulatorConfig
from tests.deploy.nginx_config import NGINX_CONF, Directive, parse

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((Path(__file__).parent / "compose_spec.json").read_text())
PROD = ROOT / "docker-compose.prod.yaml"
DEV = ROOT / "compose.yaml"
COMPOSE_FILES = [PROD, ROOT / "db_infrastructure/docker-compose.yml", DEV]
#: The development compose mounts the repository itself, read-only, and the production proxy
#: its config; nothing else is a bind mount.
SOURCE_MOUNT = ".:/src:ro"
PROXY_CONFIG_MOUNT = "./deploy/nginx.conf:/etc/nginx/nginx.conf:ro"


def load(path: Path) -> dict[str, Any]:
    document = yaml.safe_load(path.read_text())
    assert isinstance(document, dict)
    return document


def for_schema(document: dict[str, Any]) -> dict[str, Any]:
    """The document without the top-level `name` (the project name), which the Compose
    Specification has but the vendored 1.29.2 schema predates; checked on its own below."""
    return {key: value for key, value in document.items() if key != "name"}


@pytest.mark.parametrize("path", COMPOSE_FILES, ids=lambda p: p.name)
def test_compose_file_validates_against_the_compose_spec(path: Path) -> None:
    errors = sorted(Draft201909Validator(SCHEMA).iter_errors(for_schema(load(path))), key=str)
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
            if (path, volume) in ((DEV, SOURCE_MOUNT), (PROD, PROXY_CONFIG_MOUNT)):
                continue
            source = volume.split(":", 1)[0]
            assert source in document["volumes"], f"{name} mounts {source}, not a named volume"


def test_production_app_waits_for_healthy_backends() -> None:
    app = load(PROD)["services"]["app"]
    assert app["depends_on"] == {
        "postgres": {"condition": "service_healthy"},
        "redis": {"condition": "service_healthy"},
    }


def test_production_secrets_are_required_not_defaulted() -> None:
    text = PROD.read_text()
    for secret in (
        "STREAMCORE_ADMIN_TOKEN",
        "TOKEN_ENCRYPTION_KEY",
        "TWITCH_CLIENT_SECRET",
        "POSTGRES_PASSWORD",
    ):
        assert re.search(r"\$\{" + secret + r":\?", text), f"{secret} is not ${{{secret}:?...}}"
        assert not re.search(r"\$\{" + secret + r":-", text), f"{secret} has a default"


def test_production_redis_keeps_an_append_only_file() -> None:
    redis = load(PROD)["services"]["redis"]
    assert "--appendonly" in redis["command"]
    assert redis["command"][redis["command"].index("--appendonly") + 1] == "yes"


# -- production replicas behind the proxy (deploy/nginx.conf; run for real in test_proxy.py)


def nginx_server() -> Directive:
    return parse(NGINX_CONF.read_text()).one("http").one("server")


def test_production_proxy_is_the_only_published_port_and_the_app_can_scale() -> None:
    services = load(PROD)["services"]
    assert [name for name, service in services.items() if "ports" in service] == ["proxy"]
    # `--scale app=3` needs an app with no fixed name and no host port.
    assert "container_name" not in services["app"]
    listen = nginx_server().one("listen").args
    assert services["proxy"]["ports"] == [f"${{STREAMCORE_PUBLISH:-127.0.0.1:8000}}:{listen[0]}"]
    assert services["proxy"]["depends_on"] == {"app": {"condition": "service_healthy"}}


def test_production_proxy_is_the_official_nginx_image_with_the_deploy_config() -> None:
    proxy = load(PROD)["services"]["proxy"]
    # An official image (no registry or namespace in the name), and 1.27.3 or later at least
    # within the tag: `server ... resolve` is open-source nginx from 1.27.3 (1.27 is 1.27.5).
    match = re.fullmatch(r"nginx:(\d+)\.(\d+)(?:\.(\d+))?-alpine", proxy["image"])
    assert match, proxy["image"]
    major, minor, patch = (int(part) if part else 99 for part in match.groups())
    assert (major, minor, patch) >= (1, 27, 3)
    assert proxy["volumes"] == [PROXY_CONFIG_MOUNT]
    assert NGINX_CONF.is_file()


def test_proxy_resolves_every_replica_through_dockers_dns() -> None:
    http = parse(NGINX_CONF.read_text()).one("http")
    assert http.one("resolver").args[0] == "127.0.0.11"
    upstream = http.one("upstream", "streamcore")
    (server,) = upstream.all("server")
    app_port = load(PROD)["services"]["app"]["environment"]["STREAMCORE_PORT"]
    assert server.args[0] == f"app:{app_port}"
    # Re-resolved while running (needs a shared zone), with passive health per replica.
    assert "resolve" in server.args and upstream.all("zone")
    parameters = dict(arg.split("=", 1) for arg in server.args[1:] if "=" in arg)
    assert {"max_fails", "fail_timeout"} <= set(parameters)


def test_proxy_passes_idempotent_requests_on_when_a_replica_fails() -> None:
    server = nginx_server()
    retry = server.one("proxy_next_upstream").args
    assert {"error", "timeout", "http_502", "http_503"} <= set(retry)
    assert "non_idempotent" not in retry, "a POST must never be played twice"
    assert server.one("proxy_http_version").args == ("1.1",)


def test_proxy_upgrades_websockets_on_the_event_stream() -> None:
    http = parse(NGINX_CONF.read_text()).one("http")
    stream = nginx_server().one("location", "=", "/ws/events")
    headers = stream.values("proxy_set_header")
    assert headers["Upgrade"] == "$http_upgrade"
    upgrade_map = http.one("map", "$http_upgrade", headers["Connection"])
    # `Connection: upgrade` for a handshake, and none otherwise (keep-alive to the replicas).
    assert {d.name: d.args for d in upgrade_map.block or ()} == {
        "default": ("upgrade",),
        "": ("",),
    }
    assert stream.one("proxy_buffering").args == ("off",)
    for timeout in ("proxy_read_timeout", "proxy_send_timeout"):
        assert stream.one(timeout).args == ("1h",)


def test_proxy_forwards_the_clients_host_and_the_forwarding_headers_everywhere() -> None:
    """StreamCore judges the Host (allowlist, own origin: port included) and counts a request
    with forwarding headers as remote; nginx drops outer headers in a block with its own."""
    locations = nginx_server().all("location")
    assert len(locations) == 2
    for location in locations:
        assert location.one("proxy_pass").args == ("http://streamcore",)
        headers = location.values("proxy_set_header")
        assert headers["Host"] == "$http_host", location.args
        assert headers["X-Forwarded-For"] == "$proxy_add_x_forwarded_for"
        assert headers["X-Forwarded-Proto"] == "$scheme"


def test_proxy_logs_no_query_string() -> None:
    """Clients send their key as ?key=: the access log has the path only."""
    (log_format,) = parse(NGINX_CONF.read_text()).one("http").all("log_format")
    text = " ".join(log_format.args)
    assert "$uri" in text
    assert not re.search(r"\$(request|request_uri|args|query_string|arg_\w+)\b", text)


def test_ci_installs_nginx_for_the_proxy_test() -> None:
    ci = (ROOT / ".ci/run").read_text()
    assert "command -v nginx" in ci and "apt-get install -y -qq nginx" in ci
    assert ci.index("apt-get install -y -qq nginx") < ci.index("uv run pytest")


# -- the Dockerfile: a builder stage (root, uv, the venv) and a runtime stage (venv, non-root)


def dockerfile_stages() -> tuple[list[str], dict[str, list[str]]]:
    """(instructions before the first FROM, {stage name: its instructions}), continuation
    lines joined and comments dropped."""
    text = re.sub(r"\\\n\s*", " ", (ROOT / "Dockerfile").read_text())
    lines = [line.strip() for line in text.splitlines()]
    instructions = [line for line in lines if line and not line.startswith("#")]
    preamble: list[str] = []
    stages: dict[str, list[str]] = {}
    current = preamble
    for line in instructions:
        match = re.match(r"FROM\s+(\S+)(?:\s+AS\s+(\S+))?$", line, re.IGNORECASE)
        if match:
            assert match.group(2), f"unnamed stage: {line}"
            current = stages.setdefault(match.group(2), [])
        current.append(line)
    return preamble, stages


def wheel_config() -> dict[str, Any]:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    config: dict[str, Any] = pyproject["tool"]["hatch"]["build"]["targets"]["wheel"]
    return config


def test_dockerfile_base_is_a_build_argument_defaulting_to_python_slim() -> None:
    preamble, stages = dockerfile_stages()
    assert preamble == ["ARG BASE=python:3.11-slim"]
    assert list(stages) == ["builder", "runtime"], "the last stage is the image"
    # Both stages from the same base: the venv's interpreter path is the same in both.
    for name, instructions in stages.items():
        assert instructions[0] == f"FROM ${{BASE}} AS {name}"


def test_builder_installs_uv_as_root_and_syncs_the_venv_non_editable() -> None:
    builder = dockerfile_stages()[1]["builder"]
    assert not [line for line in builder if line.startswith("USER")], "the builder runs as root"
    text = "\n".join(builder)
    for setting in (
        "UV_PROJECT_ENVIRONMENT=/app/.venv",
        "UV_LINK_MODE=copy",
        "UV_COMPILE_BYTECODE=1",
    ):
        assert setting in text
    runs = [line for line in builder if line.startswith("RUN ")]
    installs_uv = next(i for i, line in enumerate(runs) if "pip install" in line and "uv" in line)
    syncs = [i for i, line in enumerate(runs) if "uv sync" in line or "deploy/install.sh" in line]
    assert syncs and min(syncs) > installs_uv, "uv is installed before it is used"
    assert any("sh deploy/install.sh" in line for line in runs), "the step CI runs too"
    assert all("--no-editable" in runs[i] for i in syncs if "uv sync" in runs[i])


def test_runtime_stage_copies_only_the_venv_and_runs_as_non_root() -> None:
    runtime = dockerfile_stages()[1]["runtime"]
    copies = [line for line in runtime if line.startswith(("COPY", "ADD"))]
    assert copies == ["COPY --from=builder /app/.venv /app/.venv"]
    text = "\n".join(runtime)
    assert "pip" not in text and "uv " not in text, "no installer in the runtime stage"
    users = [i for i, line in enumerate(runtime) if line.startswith("USER")]
    assert users and runtime[users[-1]].split()[1] not in ("root", "0")
    assert users[-1] > runtime.index(copies[0])
    assert any(line.startswith("HEALTHCHECK ") for line in runtime)
    assert 'VOLUME ["/data"]' in runtime
    for setting in ("STREAMCORE_DATA_DIR=/data", "STREAMCORE_HOST=0.0.0.0"):
        assert setting in text
    assert runtime[-1] == 'CMD ["/app/.venv/bin/streamcore", "run"]'


def test_the_venv_holds_everything_the_server_reads() -> None:
    """The runtime stage has no sources: the non-editable install must carry the entry point,
    the dashboard, the overlays and the static files along with the packages."""
    config = wheel_config()
    assert {"main.py", "dashboard", "overlays", "static"} <= set(config["only-include"])
    assert set(config["packages"]) <= set(config["only-include"])


def test_dockerignore_keeps_host_state_out_of_the_build() -> None:
    ignored = set((ROOT / ".dockerignore").read_text().split())
    assert {".git", ".venv", ".env", "data"} <= ignored


def test_ci_runs_install_sh_without_path_help_and_then_the_image_test() -> None:
    ci = (ROOT / ".ci/run").read_text()
    install = ci.index("sh deploy/install.sh\n")
    assert "PATH=" not in ci[:install], "install.sh must work without a PATH tweak"
    # The image test runs before the suite, so pytest's summary closes the run.
    assert ci.index("bash deploy/test-image.sh") < ci.index("uv run pytest")


@pytest.mark.slow
def test_install_sh_runs_uv_through_python_when_pip_leaves_it_off_path(tmp_path: Path) -> None:
    """The bug the image had: pip put uv where PATH does not look (~/.local/bin) and install.sh
    died with `uv: not found`. A stand-in python3 records what install.sh asks of it."""
    log = tmp_path / "calls.log"
    fake = tmp_path / "bin" / "python3"
    fake.parent.mkdir()
    fake.write_text(f'#!/bin/sh\necho "$*" >> {log}\n')
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    # install.sh needs nothing but sh's builtins and python3: PATH holds the stand-in only.
    env = {"PATH": str(fake.parent), "HOME": str(tmp_path)}
    for args, sync in (([], "sync --frozen --no-dev --no-editable"), (["--dev"], "sync --frozen")):
        log.unlink(missing_ok=True)
        subprocess.run(
            ["/bin/sh", str(ROOT / "deploy/install.sh"), *args],
            cwd=tmp_path,
            env=env,
            check=True,
            timeout=30,
        )
        calls = log.read_text().splitlines()
        assert calls[0].startswith("-m pip install") and calls[0].endswith(" uv")
        assert calls[1:] == [f"-m uv {sync}"]


def test_image_test_says_it_uses_a_lookalike_base_and_names_no_mirror() -> None:
    script = (ROOT / "deploy/test-image.sh").read_text()
    header = script.split("\nset -euo pipefail", 1)[0]
    assert "LOOKALIKE" in header and "not" in header and "python:3.11-slim" in header
    assert re.search(r'say "NOTE: .*LOOKALIKE', script)
    for flag in ("--build-arg", "--format docker", "--pull=never", "--network=host"):
        assert flag in script
    # The mirror comes from the machine's apt sources at run time, never from the repository.
    assert not re.search(r"(?:https?|ftp)://(?!127\.0\.0\.1)", script)
    assert os.access(ROOT / "deploy/test-image.sh", os.R_OK)


# -- the development compose: StreamCore (reloading), the simulator, PostgreSQL and Redis


def test_dev_compose_is_a_project_of_its_own() -> None:
    """Both compose files live in the root; without a name of its own the development stack
    would share the production one's project (the folder's name), and so its containers."""
    name = load(DEV).get("name")
    assert isinstance(name, str) and re.fullmatch(r"[a-z0-9][a-z0-9_-]*", name)
    assert "name" not in load(PROD)


def test_dev_compose_runs_the_whole_stack_from_the_dockerfile() -> None:
    services = load(DEV)["services"]
    assert set(services) == {"app", "simulator", "postgres", "redis"}
    stages = dockerfile_stages()[1]
    for name in ("app", "simulator"):
        service = services[name]
        assert service["build"]["context"] == "."
        assert service["build"]["target"] in stages
        assert SOURCE_MOUNT in service["volumes"] and service["working_dir"] == "/src"
    assert services["app"]["depends_on"] == {
        name: {"condition": "service_healthy"} for name in ("simulator", "postgres", "redis")
    }


def test_dev_app_reloads_on_a_change_in_any_package_the_server_runs() -> None:
    command = load(DEV)["services"]["app"]["command"]
    assert command[:2] == ["/app/.venv/bin/uvicorn", "main:app"]
    assert "--reload" in command and "--host=0.0.0.0" in command
    watched = {arg.split("=", 1)[1] for arg in command if arg.startswith("--reload-dir=")}
    # Every package in the wheel but the simulator (a service of its own), workers included.
    assert watched == set(wheel_config()["packages"]) - {"simulator"}


def test_dev_twitch_settings_point_at_the_simulator() -> None:
    services = load(DEV)["services"]
    app, simulator = services["app"], services["simulator"]
    env = app["environment"]
    command = simulator["command"]
    assert command[1:4] == ["-m", "cli.main", "simulate"]
    port = next(int(arg.split("=", 1)[1]) for arg in command if arg.startswith("--port="))
    # The app shares the simulator's network: one address serves StreamCore inside and the
    # browser outside (OAuth pages), so both ports are published there, on loopback only.
    assert app["network_mode"] == "service:simulator" and "ports" not in app
    assert set(simulator["ports"]) == {f"127.0.0.1:{p}:{p}" for p in (8000, port)}
    for key, path in (
        ("TWITCH_AUTH_URL", "/oauth2"),
        ("TWITCH_API_URL", "/helix"),
        ("TWITCH_EVENTSUB_WS_URL", "/ws"),
    ):
        url = urlsplit(env[key])
        assert (url.hostname, url.port, url.path) == ("127.0.0.1", port, path), key
    defaults = SimulatorConfig()
    assert env["TWITCH_CLIENT_ID"] == defaults.client_id
    assert env["TWITCH_CLIENT_SECRET"] == defaults.client_secret
    assert env["TWITCH_REDIRECT_URI"] == simulator["environment"]["TWITCH_REDIRECT_URI"]
    assert urlsplit(env["TWITCH_REDIRECT_URI"]).port == 8000
    assert env["REDIS_URL"].startswith("redis://redis:")
    assert "@postgres:" in env["DATABASE_URL"]
