#!/usr/bin/env bash
# Builds the production image from the Dockerfile and runs it, for real, with podman:
#   bash deploy/test-image.sh
#
# LOOKALIKE BASE: no container registry is reachable where this runs, so python:3.11-slim cannot
# be pulled. The image is built on a base made here from Debian bookworm packages (mmdebstrap:
# python3, python3-venv, python3-pip, ca-certificates), made to behave like python:3.11-slim
# (pip may install as root, `python` exists, HTTPS works with the host's CA certificates), and
# passed as `--build-arg BASE=localhost/streamcore-base-lookalike`. It proves the Dockerfile's
# logic (stages, uv as root, a venv that works once copied, non-root user, health check), not
# the real python:3.11-slim (that one has Python 3.11.x in /usr/local/bin and a newer pip; this
# one Debian's 3.11.2 in /usr/bin).
#
# Steps: apt-get install podman, runc, mmdebstrap when missing; build the base (the mirror is read
# from this machine's apt sources); build the image (--format docker keeps the HEALTHCHECK;
# --network=host lets uv reach the package index); run it with no Redis or PostgreSQL (the
# embedded defaults), published on a free 127.0.0.1 port; expect `GET /` to answer 200, a client
# key made with `streamcore keys create` inside the container to open WS /ws/events from the
# host and get `system.pong` for `{"op":"ping"}`, and `podman healthcheck run` to pass. Podman's
# configuration and storage live in a temporary folder, removed at the end with the container
# and the images; what podman's networking adds outside it (netavark's state folders and
# iptables chains) is removed too when this run made it, so nothing is left behind. Needs root
# (CI runs as root). Ends with `test-image: N passed, N failed`; any failure exits 1.
set -euo pipefail
cd "$(dirname "$0")/.."

started=$SECONDS
BASE_IMAGE=localhost/streamcore-base-lookalike
IMAGE=localhost/streamcore-image-test
CONTAINER="streamcore-image-test-$$"

say() { printf 'test-image: %s\n' "$*"; }
passed=0
ok() {
  passed=$((passed + 1))
  say "ok $passed: $*"
}
fail() {
  printf 'test-image: FAILED: %s\n' "$*" >&2
  exit 1
}

say "NOTE: the base is a LOOKALIKE built from Debian bookworm packages (python3 3.11 in"
say "      /usr/bin), not the real python:3.11-slim, which cannot be pulled without a registry."

if [ "$(id -u)" != 0 ]; then
  fail "run as root (podman's rootful mode, apt-get and mmdebstrap need it)"
fi

missing=()
for tool in podman runc mmdebstrap; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if [ "${#missing[@]}" -gt 0 ]; then
  say "installing ${missing[*]} with apt-get"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq podman runc mmdebstrap >/dev/null
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/streamcore-test-image.XXXXXX")
export CONTAINERS_CONF="$WORK/containers.conf"
export CONTAINERS_STORAGE_CONF="$WORK/storage.conf"
# Podman reads the registries configuration too; an empty one keeps every lookup local.
export CONTAINERS_REGISTRIES_CONF="$WORK/registries.conf"

# What rootful podman's networking (netavark) leaves outside the temp folder, so the clean-up
# removes only what this run made: its state folders, iptables chains and ip_forward.
traces=(/var/lib/containers /run/containers)
existed=()
for trace in "${traces[@]}"; do
  [ -e "$trace" ] && existed+=("$trace")
done
had_netavark_chains=false
if iptables-save 2>/dev/null | grep -q NETAVARK; then had_netavark_chains=true; fi
ip_forward=$(sysctl -n net.ipv4.ip_forward 2>/dev/null || echo 1)

remove_traces() {
  local trace table rule chain
  for trace in "${traces[@]}"; do
    [[ " ${existed[*]} " == *" $trace "* ]] || rm -rf "$trace"
  done
  if [ "$had_netavark_chains" = false ] && command -v iptables >/dev/null 2>&1; then
    for table in filter nat; do
      iptables -t "$table" -S 2>/dev/null | grep -E '^-A [^ ]+ .*-j NETAVARK' | grep -v '^-A NETAVARK' |
        sed 's/^-A /-D /' | while read -r rule; do
        eval "iptables -t $table $rule" 2>/dev/null
      done
      for chain in $(iptables -t "$table" -S 2>/dev/null | awk '/^-N NETAVARK/ {print $2}'); do
        iptables -t "$table" -F "$chain" 2>/dev/null
      done
      for chain in $(iptables -t "$table" -S 2>/dev/null | awk '/^-N NETAVARK/ {print $2}'); do
        iptables -t "$table" -X "$chain" 2>/dev/null
      done
    done
  fi
  [ "$ip_forward" = 0 ] && sysctl -qw net.ipv4.ip_forward=0
  return 0
}

cleanup() {
  local status=$?
  set +e
  if [ "$status" != 0 ] && podman container exists "$CONTAINER" 2>/dev/null; then
    say "container logs (last 40 lines):"
    podman logs --tail 40 "$CONTAINER" 2>&1 | sed 's/^/  | /'
  fi
  podman rm -f -t 2 "$CONTAINER" >/dev/null 2>&1
  podman rmi -f "$IMAGE" "$BASE_IMAGE" >/dev/null 2>&1
  podman rmi -af >/dev/null 2>&1
  podman system prune -af >/dev/null 2>&1
  # Whatever podman or the storage driver still has mounted below the temp folder.
  findmnt -rn -o TARGET | grep -F "$WORK/" | sort -r | while read -r target; do
    umount -l "$target" 2>/dev/null
  done
  rm -rf "$WORK"
  remove_traces
  say "cleaned up (container, images, podman storage and temp folder removed)"
  say "total time: $((SECONDS - started)) s (on the lookalike base, not the real python:3.11-slim)"
  if [ "$status" = 0 ]; then
    say "$passed passed, 0 failed"
  else
    say "$passed passed, 1 failed"
  fi
}
trap cleanup EXIT

# -- podman's configuration: runc with cgroupfs (crun refuses hybrid cgroups on these machines),
# file events (no journald), ulimits within the hard limit (podman asks for more otherwise), and
# every path under the temp folder.
hard_nofile=$(ulimit -Hn)
[ "$hard_nofile" = unlimited ] && hard_nofile=1048576
mkdir -p "$WORK/tmp" "$WORK/storage" "$WORK/run" "$WORK/volumes" "$WORK/net"
cat >"$CONTAINERS_CONF" <<EOF
[containers]
default_ulimits = ["nofile=$hard_nofile:$hard_nofile", "nproc=16384:16384"]
log_driver = "k8s-file"

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
tmp_dir = "$WORK/tmp"
volume_path = "$WORK/volumes"

[network]
network_config_dir = "$WORK/net"
EOF
cat >"$CONTAINERS_STORAGE_CONF" <<EOF
[storage]
driver = "overlay"
graphroot = "$WORK/storage"
runroot = "$WORK/run"
EOF
: >"$CONTAINERS_REGISTRIES_CONF"

# -- the lookalike base
mirrors() {
  # `deb URI SUITE main` for each enabled bookworm, bookworm-updates and bookworm-security
  # entry of this machine's apt sources (one-line .list and deb822 .sources files).
  python3 - <<'PY'
import glob
import re

WANTED = re.compile(r"^bookworm(-updates|-security)?$")
lines = []


def add(uri, suite, components):
    if WANTED.match(suite) and "main" in components:
        line = f"deb {uri.rstrip('/')} {suite} main"
        if line not in lines:
            lines.append(line)


for path in ["/etc/apt/sources.list", *sorted(glob.glob("/etc/apt/sources.list.d/*.list"))]:
    try:
        text = open(path).read()
    except OSError:
        continue
    for raw in text.splitlines():
        raw = re.sub(r"\[[^]]*\]", " ", raw.split("#", 1)[0]).split()
        if len(raw) >= 4 and raw[0] == "deb":
            add(raw[1], raw[2], raw[3:])

for path in sorted(glob.glob("/etc/apt/sources.list.d/*.sources")):
    for stanza in re.split(r"\n\s*\n", open(path).read()):
        fields = {}
        key = None
        for raw in stanza.splitlines():
            if raw.startswith("#"):
                continue
            if raw[:1] in (" ", "\t") and key:
                fields[key] += " " + raw.strip()
            elif ":" in raw:
                key, value = raw.split(":", 1)
                key = key.strip().lower()
                fields[key] = value.strip()
        if "deb" not in fields.get("types", "").split():
            continue
        if fields.get("enabled", "yes").lower() == "no":
            continue
        for uri in fields.get("uris", "").split():
            for suite in fields.get("suites", "").split():
                add(uri, suite, fields.get("components", "").split())

# mmdebstrap needs the release suite itself; updates and security follow it.
lines.sort(key=lambda line: line.split()[2] != "bookworm")
print("\n".join(lines))
PY
}
mapfile -t MIRRORS < <(mirrors)
if [ "${#MIRRORS[@]}" = 0 ] || [[ "${MIRRORS[0]}" != *" bookworm main" ]]; then
  fail "no enabled Debian bookworm entry in /etc/apt/sources.list or /etc/apt/sources.list.d/"
fi
say "building the lookalike base with mmdebstrap from this machine's apt sources (${#MIRRORS[@]} entries)"
step=$SECONDS
ROOTFS="$WORK/rootfs"
mmdebstrap --quiet --variant=minbase \
  --include=python3,python3-venv,python3-pip,ca-certificates \
  --dpkgopt='path-exclude=/usr/share/man/*' \
  --dpkgopt='path-exclude=/usr/share/doc/*' \
  --dpkgopt='path-exclude=/usr/share/locale/*' \
  bookworm "$ROOTFS" "${MIRRORS[@]}" >"$WORK/mmdebstrap.log" 2>&1 ||
  {
    tail -20 "$WORK/mmdebstrap.log" >&2
    fail "mmdebstrap"
  }
# Like python:3.11-slim: no EXTERNALLY-MANAGED marker (pip installs as root), `python` exists,
# and HTTPS trusts what this machine trusts (its extra CA certificates, for pip and uv).
rm -f "$ROOTFS"/usr/lib/python3*/EXTERNALLY-MANAGED
ln -sf /usr/bin/python3 "$ROOTFS/usr/local/bin/python"
shopt -s nullglob
extra_cas=(/usr/local/share/ca-certificates/*.crt)
shopt -u nullglob
if [ "${#extra_cas[@]}" -gt 0 ]; then
  cp "${extra_cas[@]}" "$ROOTFS/usr/local/share/ca-certificates/"
fi
chroot "$ROOTFS" update-ca-certificates >/dev/null 2>&1 || fail "update-ca-certificates in the base"
tar -C "$ROOTFS" -c . | podman import \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'ENV LANG=C.UTF-8' \
  --change 'ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt' \
  --change 'CMD ["python3"]' \
  - "$BASE_IMAGE" >"$WORK/import.log" 2>&1 || fail "podman import: $(tail -5 "$WORK/import.log")"
rm -rf "$ROOTFS"
say "base $BASE_IMAGE ready ($((SECONDS - step)) s): $(podman run --rm --pull=never "$BASE_IMAGE" python --version 2>&1)"

# -- the image, from the Dockerfile as it is
say "building the Dockerfile (--build-arg BASE=$BASE_IMAGE --format docker)"
step=$SECONDS
podman build --build-arg "BASE=$BASE_IMAGE" --format docker --network=host --pull=never \
  -t "$IMAGE" -f Dockerfile . >"$WORK/build.log" 2>&1 ||
  {
    tail -40 "$WORK/build.log" >&2
    fail "podman build"
  }
ok "image built from the Dockerfile ($((SECONDS - step)) s, $(podman image inspect --format '{{.Size}}' "$IMAGE" | awk '{printf "%.0f MB", $1 / 1e6}'))"

user=$(podman image inspect --format '{{.Config.User}}' "$IMAGE")
case "$user" in "" | root | 0 | 0:*) fail "the image runs as '${user:-root}'" ;; esac
podman image inspect --format '{{json .Config.Healthcheck}}' "$IMAGE" | grep -q 'urlopen' ||
  fail "the image has no HEALTHCHECK"
ok "the image runs as '$user' and keeps its HEALTHCHECK"
if podman run --rm --pull=never --entrypoint sh "$IMAGE" -c 'command -v uv || test -e /app/pyproject.toml' >/dev/null 2>&1; then
  fail "the runtime stage carries uv or the sources; it should hold only the venv"
fi
ok "the runtime stage holds the venv, without uv or the sources"

# -- run it: no Redis or PostgreSQL, the embedded defaults; 0.0.0.0 inside needs the admin token
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
token=$(python3 -c 'import secrets, string; a = string.ascii_letters + string.digits; print("".join(secrets.choice(a) for _ in range(32)))')
# Podman times health checks with systemd timers; without systemd it says so on stderr (kept in
# run.log) and runs none, so the check runs once, by hand, below.
podman run -d --pull=never --name "$CONTAINER" -p "127.0.0.1:$port:8000" \
  -e "STREAMCORE_ADMIN_TOKEN=$token" "$IMAGE" >/dev/null 2>"$WORK/run.log" ||
  fail "podman run: $(cat "$WORK/run.log")"
say "container $CONTAINER running, published on 127.0.0.1:$port"

step=$SECONDS
status=
for _ in $(seq 1 120); do
  status=$(python3 - "$port" <<'PY' || true
import sys
import urllib.request

try:
    with urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/", timeout=2) as answer:
        print(answer.status)
except Exception as error:  # connection refused while it starts, or an HTTP error
    print(getattr(error, "code", "down"))
PY
  )
  [ "$status" = 200 ] && break
  [ "$(podman inspect --format '{{.State.Running}}' "$CONTAINER")" = true ] || fail "the container exited"
  sleep 0.5
done
[ "$status" = 200 ] || fail "GET / answered $status, not 200"
ok "GET / -> 200 from the host ($((SECONDS - step)) s after start)"

key_output=$(podman exec "$CONTAINER" /app/.venv/bin/streamcore keys create --name ci 2>&1) ||
  fail "streamcore keys create: $key_output"
key=$(grep -oE '[?&]key=[A-Za-z0-9_.~-]+' <<<"$key_output" | head -1 | cut -d= -f2)
[ -n "$key" ] || fail "no key in the output of streamcore keys create: $key_output"
ok "client key created with 'podman exec ... streamcore keys create --name ci'"

# A WebSocket client in the standard library: handshake, then {"op":"ping"} and wait for
# system.pong. Without the key the same socket must be closed with 4001 (it listens on 0.0.0.0).
ws_output=$(python3 - "$port" "$key" 2>&1 <<'PY'

import base64
import json
import os
import socket
import struct
import sys
import time

port, key = int(sys.argv[1]), sys.argv[2]


def connect(query):
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    nonce = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        (
            f"GET /ws/events{query} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {nonce}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(4096)
        if not chunk:
            raise SystemExit(f"connection closed during the handshake: {head!r}")
        head += chunk
    head, rest = head.split(b"\r\n\r\n", 1)
    status = head.split(b"\r\n", 1)[0].decode()
    if " 101 " not in status + " ":
        raise SystemExit(f"handshake answered {status!r}")
    return sock, rest


def send_text(sock, text):
    payload = text.encode()
    mask = os.urandom(4)
    assert len(payload) < 126
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    sock.sendall(bytes([0x81, 0x80 | len(payload)]) + mask + masked)


def frames(sock, buffer):
    while True:
        while len(buffer) < 2 or len(buffer) < header_length(buffer):
            chunk = sock.recv(65536)
            if not chunk:
                return
            buffer += chunk
        opcode, length = buffer[0] & 0x0F, buffer[1] & 0x7F
        offset = 2
        if length == 126:
            length, offset = struct.unpack(">H", buffer[2:4])[0], 4
        elif length == 127:
            length, offset = struct.unpack(">Q", buffer[2:10])[0], 10
        while len(buffer) < offset + length:
            chunk = sock.recv(65536)
            if not chunk:
                return
            buffer += chunk
        yield opcode, buffer[offset : offset + length]
        buffer = buffer[offset + length :]


def header_length(buffer):
    length = buffer[1] & 0x7F
    return 2 + (2 if length == 126 else 8 if length == 127 else 0)


sock, rest = connect(f"?key={key}")
send_text(sock, json.dumps({"op": "ping"}))
deadline = time.monotonic() + 10
for opcode, payload in frames(sock, rest):
    if opcode == 0x8:
        raise SystemExit(f"closed: {payload[:2].hex()} {payload[2:]!r}")
    if opcode == 0x1 and json.loads(payload).get("event") == "system.pong":
        print("WS /ws/events?key=... -> 101, sent {\"op\":\"ping\"}, got system.pong")
        break
    if time.monotonic() > deadline:
        raise SystemExit("no system.pong within 10 s")
else:
    raise SystemExit("the socket closed before system.pong")
sock.close()

sock, rest = connect("")
for opcode, payload in frames(sock, rest):
    if opcode == 0x8:
        code = struct.unpack(">H", payload[:2])[0]
        if code != 4001:
            raise SystemExit(f"without a key: closed with {code}, expected 4001")
        print("WS /ws/events without a key -> closed 4001, as it must beyond loopback")
        break
else:
    raise SystemExit("without a key: no close frame")
sock.close()
PY
) || fail "WS /ws/events: $ws_output"
while read -r line; do ok "$line"; done <<<"$ws_output"

health=$(podman healthcheck run "$CONTAINER" 2>&1) || fail "podman healthcheck run: $health"
ok "podman healthcheck run -> ${health:-healthy}"
