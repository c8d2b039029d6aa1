#!/bin/sh
# Build the image, or run the demo in it as the pod runs it: `make image`, `make image-test`.
#
#   deployments/image/image.sh build   # Dockerfile -> $IMAGE
#   deployments/image/image.sh test    # market-maker demo in $IMAGE: read-only root, uid 10001,
#                                      # tmpfs on /tmp and /var/lib/market-maker; exit status
#                                      # is the demo's
#   deployments/image/image.sh run CMD...  # any command, run the same way
#
# Environment (all optional):
#   IMAGE                      the tag to build and test (market-maker:dev)
#   PYTHON_IMAGE               the base image (the Dockerfile's default, python:3.11.14-slim-bookworm)
#   ENGINE                     docker, buildah or podman; by default docker when a Docker engine
#                              answers, else buildah, else podman
#   MARKET_MAKER_CODE_VERSION  recorded in every file the flows write (0.1.0+g<commit>[.dirty])
#   PIP_INDEX_URL, PIP_EXTRA_INDEX_URL, PIP_TRUSTED_HOST   passed as build arguments
#   PIP_CONF                   a pip.conf handed to the build as the secret pip_conf
#   PIP_CA                     a CA bundle handed to the build as the secret pip_ca (default:
#                              $PIP_CERT when it names a file, the CA your own pip uses)
#   IMAGE_BUILD_FLAGS          more flags for the build command
#
# `test` runs the container with docker, or else podman; where podman cannot start containers
# either (as in a sandbox without CAP_SYS_RESOURCE, where every `podman run` fails setting
# RLIMIT_NOFILE), it runs the image with buildah and runc as root: the image's root filesystem
# mounted read-only, the image's environment, uid/gid 10001 with no capabilities, a network
# namespace of its own with only loopback.
set -eu

cd "$(dirname "$0")/../.."
IMAGE=${IMAGE:-market-maker:dev}
STATE_DIR=/var/lib/market-maker

say() { printf '%s\n' "image.sh: $*" >&2; }

docker_answers() { command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; }

engine() {
    if [ -n "${ENGINE:-}" ]; then
        echo "$ENGINE"
    elif docker_answers; then
        echo docker
    elif command -v buildah >/dev/null 2>&1; then
        echo buildah
    elif command -v podman >/dev/null 2>&1; then
        echo podman
    else
        say "no Docker engine answers, and neither buildah nor podman is installed"
        exit 2
    fi
}

code_version() {
    if [ -n "${MARKET_MAKER_CODE_VERSION:-}" ]; then
        echo "$MARKET_MAKER_CODE_VERSION"
        return
    fi
    version=$(sed -n 's/^version = "\(.*\)"$/\1/p' pyproject.toml)
    commit=$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
    dirty=
    git diff --quiet HEAD -- 2>/dev/null || dirty=.dirty
    echo "${version}+g${commit}${dirty}"
}

build() {
    tool=$(engine)
    set -- --build-arg "MARKET_MAKER_CODE_VERSION=$(code_version)" --tag "$IMAGE"
    [ -z "${PYTHON_IMAGE:-}" ] || set -- "$@" --build-arg "PYTHON_IMAGE=$PYTHON_IMAGE"
    for name in PIP_INDEX_URL PIP_EXTRA_INDEX_URL PIP_TRUSTED_HOST; do
        value=$(printenv "$name" || true)
        [ -z "$value" ] || set -- "$@" --build-arg "$name=$value"
    done
    ca=${PIP_CA:-${PIP_CERT:-}}
    if [ -n "$ca" ] && [ -f "$ca" ]; then set -- "$@" --secret "id=pip_ca,src=$ca"; fi
    if [ -n "${PIP_CONF:-}" ]; then set -- "$@" --secret "id=pip_conf,src=$PIP_CONF"; fi
    case $tool in
        docker) set -- docker build "$@" ;;
        buildah) set -- buildah build --layers "$@" ;;
        podman) set -- podman build --layers "$@" ;;
        *) say "ENGINE=$tool: docker, buildah or podman"; exit 2 ;;
    esac
    # shellcheck disable=SC2086  # IMAGE_BUILD_FLAGS is a list of flags
    set -- "$@" ${IMAGE_BUILD_FLAGS:-} .
    say "$*"
    if [ "$tool" = docker ]; then DOCKER_BUILDKIT=1 "$@"; else "$@"; fi
}

# The demo as a pod with a read-only root runs it: only /tmp and the state directory writable.
DEMO_FLAGS="--read-only --user 10001:10001 --tmpfs /tmp:rw,mode=1777 --tmpfs $STATE_DIR:rw,mode=1777"

run_read_only() {
    if docker_answers && [ "${ENGINE:-docker}" = docker ]; then
        say "docker run --rm $DEMO_FLAGS $IMAGE $*"
        # shellcheck disable=SC2086
        exec docker run --rm $DEMO_FLAGS "$IMAGE" "$@"
    fi
    if command -v podman >/dev/null 2>&1 && podman run --rm "$IMAGE" true >/dev/null 2>&1; then
        say "podman run --rm $DEMO_FLAGS $IMAGE $*"
        # shellcheck disable=SC2086
        exec podman run --rm $DEMO_FLAGS "$IMAGE" "$@"
    fi
    if command -v buildah >/dev/null 2>&1 && command -v runc >/dev/null 2>&1 \
        && [ "$(id -u)" = 0 ]; then
        say "podman cannot run containers here: buildah mount + runc, read-only root, uid 10001: $*"
        run_with_runc "$@"
        return
    fi
    say "cannot run $IMAGE: no Docker engine answers, podman cannot start a container, and" \
        "buildah with runc needs root"
    exit 2
}

run_with_runc() {
    ctr=$(buildah from --pull=never "$IMAGE")
    bundle=$(mktemp -d)
    name="market-maker-image-test-$$"
    trap 'runc delete --force "$name" >/dev/null 2>&1 || true; buildah rm "$ctr" >/dev/null 2>&1 || true; rm -rf "$bundle"' EXIT INT TERM
    rootfs=$(buildah mount "$ctr")
    buildah inspect --type image "$IMAGE" > "$bundle/image.json"
    runc spec --bundle "$bundle"
    python3 - "$bundle" "$rootfs" "$STATE_DIR" "$@" <<'PY'
import json, sys
from pathlib import Path

bundle, rootfs, state_dir, *command = sys.argv[1:]
image = json.loads(Path(bundle, "image.json").read_text())["OCIv1"]["config"]
spec = json.loads(Path(bundle, "config.json").read_text())
process = spec["process"]
process["terminal"] = False
process["args"] = (image.get("Entrypoint") or []) + command
process["env"] = image.get("Env") or []
process["cwd"] = image.get("WorkingDir") or "/"
process["user"] = {"uid": 10001, "gid": 10001}
process["capabilities"] = {key: [] for key in process.get("capabilities", {})}
process["noNewPrivileges"] = True
# runc's default RLIMIT_NOFILE: a sandbox without CAP_SYS_RESOURCE refuses to set it.
process.pop("rlimits", None)
spec["root"] = {"path": rootfs, "readonly": True}
spec["hostname"] = "market-maker"
# runc gives a tmpfs the mode of the directory it covers (1777 for /tmp, 0775 for the state
# directory) whatever mode= says, not its owner: the state directory's is the user's, as a
# volume's with fsGroup would be.
for target, owner in (("/tmp", []), (state_dir, ["uid=10001", "gid=10001"])):
    spec["mounts"].append({
        "destination": target, "type": "tmpfs", "source": "tmpfs",
        "options": ["nosuid", "nodev", "noexec", *owner],
    })
Path(bundle, "config.json").write_text(json.dumps(spec, indent=1))
PY
    status=0
    runc run --bundle "$bundle" "$name" < /dev/null || status=$?
    say "$* in $IMAGE exited with $status"
    return "$status"
}

case ${1:-} in
    build) build ;;
    test) run_read_only market-maker demo ;;
    run) shift; run_read_only "$@" ;;
    *) say "usage: $0 build | test | run COMMAND..."; exit 2 ;;
esac
