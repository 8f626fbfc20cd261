#!/usr/bin/env bash
# Build the connector images (`make images`, and the first half of `make image-test`).
#
#   build-images.sh [--engine auto|docker|podman] [--base auto|airbyte|local] [CONNECTOR...]
#
# --engine  auto (default): docker when a Docker engine answers, else podman (installed by setup.sh
#           when missing). Machines of this repo's kind have Docker's client but no engine.
# --base    airbyte: what the Dockerfiles say by default: Airbyte's python-connector-base from Docker
#             Hub and the packages from PyPI (hash-checked against uv.lock);
#           local: offline: the debootstrap base (setup.sh) as BASE_IMAGE, the host-built wheels
#             (wheels.sh) as the `wheels` build context, and no network inside the build at all;
#           auto (default): airbyte with docker, local with podman.
# Images are tagged retl/NAME:dev and retl/NAME:VERSION (VERSION from NAME/metadata.yaml); podman
# stores them as localhost/retl/NAME:… (use that name with podman).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"

engine=auto base=auto connectors=()
while (($#)); do
  case "$1" in
    --engine) engine="$2"; shift 2 ;;
    --base) base="$2"; shift 2 ;;
    -h | --help) sed -n '2,16p' "${BASH_SOURCE[0]}"; exit 0 ;;
    -*) echo "build-images.sh: unknown option $1" >&2; exit 2 ;;
    *) connectors+=("$1"); shift ;;
  esac
done
((${#connectors[@]})) || read -r -a connectors <<<"$CONNECTORS"

if [[ $engine == auto ]]; then
  if command -v docker >/dev/null && docker info >/dev/null 2>&1; then engine=docker; else engine=podman; fi
fi
[[ $base == auto ]] && { [[ $engine == docker ]] && base=airbyte || base=local; }
log "images: ${connectors[*]} with $engine, $base base"

build_args=()
if [[ $engine == podman ]]; then
  bash "$REPO_ROOT/.ci/containers/setup.sh"
  # Pulling is never needed: a local build has its base; an airbyte build pulls explicitly, first.
  build_args+=(--pull=never)
fi
if [[ $base == local ]]; then
  [[ $engine == podman ]] || { echo "build-images.sh: --base local needs podman" >&2; exit 2; }
  bash "$REPO_ROOT/.ci/containers/wheels.sh"
  build_args+=(--network none --build-arg "BASE_IMAGE=$LOCAL_BASE_IMAGE" --build-context "wheels=$WHEELS_DIR")
elif [[ $engine == podman ]]; then
  podman pull "$(sed -n 's/^ARG BASE_IMAGE=//p' "$REPO_ROOT/${connectors[0]}/Dockerfile")"
fi
prefix=""
[[ $engine == podman ]] && prefix="localhost/"
# Reproducible images: one timestamp for every file and the image itself (default: the last commit's
# time), so the same tree builds the same image, digest included.
epoch="${SOURCE_DATE_EPOCH:-$(git -C "$REPO_ROOT" log -1 --format=%ct 2>/dev/null || echo 0)}"
if [[ $engine == podman ]]; then build_args+=(--timestamp "$epoch"); else build_args+=(--build-arg "SOURCE_DATE_EPOCH=$epoch"); fi

cd "$REPO_ROOT"
for name in "${connectors[@]}"; do
  version="$(sed -n 's/^ *dockerImageTag: *//p' "$name/metadata.yaml")"
  repository="$(sed -n 's/^ *dockerRepository: *//p' "$name/metadata.yaml")"
  start=$SECONDS
  if ! "$engine" build "${build_args[@]}" -f "$name/Dockerfile" \
    -t "$prefix$repository:dev" -t "$prefix$repository:$version" . >"$TMPDIR/build-$name.log" 2>&1; then
    tail -40 "$TMPDIR/build-$name.log" >&2
    echo "build-images.sh: building $name failed (log: $TMPDIR/build-$name.log)" >&2
    exit 1
  fi
  size="$("$engine" image inspect --format '{{.Size}}' "$prefix$repository:dev" | numfmt --to=si --suffix=B)"
  log "images: $prefix$repository:dev ($version) built in $((SECONDS - start)) s, $size"
done
