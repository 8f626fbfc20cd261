#!/usr/bin/env bash
# Build, on the host, the wheel folder that a local image build installs from instead of an index
# ($WHEELS_DIR; the Dockerfiles' `wheels` build context). Inside a build here TLS to the package index
# fails (the host's proxy CA is not in the image), so the host downloads instead:
#   - every third-party package of uv.lock that a connector needs (`uv export --no-dev` for the whole
#     workspace: the union of the five connectors), hash-checked against the lock, as wheels;
#   - uv itself (the Dockerfiles' builder stage uses it to export the lock and install).
# The connectors' own packages are built from source inside the image in both modes.
# Cached: skipped while uv.lock and this script are unchanged.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"

UV_VERSION=0.13.8  # the Dockerfiles' UV_VERSION
UV="${UV:-$(command -v uv || echo "$REPO_ROOT/.tools/bin/uv")}"

key="$(cat "$REPO_ROOT/uv.lock" "${BASH_SOURCE[0]}" | sha256sum | cut -c1-16)"
if [[ -f "$WHEELS_DIR/.key" && "$(cat "$WHEELS_DIR/.key")" == "$key" ]]; then
  log "wheels: cached ($(find "$WHEELS_DIR" -name '*.whl' | wc -l) in $WHEELS_DIR)"
  exit 0
fi

log "wheels: downloading the locked packages into $WHEELS_DIR"
rm -rf "$WHEELS_DIR"
mkdir -p "$WHEELS_DIR"
# pip from a venv of our own: Python's bundled pip, so this works wherever `python3 -m venv` does.
if [[ ! -x "$IMAGES_DIR/pip/bin/pip" ]]; then
  python3 -m venv "$IMAGES_DIR/pip"
fi
(cd "$REPO_ROOT" && "$UV" export --frozen --no-dev --all-packages --no-emit-workspace --quiet \
  -o "$WHEELS_DIR/requirements.txt")
"$IMAGES_DIR/pip/bin/pip" wheel -qq --no-deps --require-hashes --only-binary=:all: \
  --wheel-dir "$WHEELS_DIR" -r "$WHEELS_DIR/requirements.txt"
"$IMAGES_DIR/pip/bin/pip" wheel -qq --no-deps --only-binary=:all: \
  --wheel-dir "$WHEELS_DIR" "uv==$UV_VERSION"
echo "$key" >"$WHEELS_DIR/.key"
log "wheels: $(find "$WHEELS_DIR" -name '*.whl' | wc -l) wheels, $(du -sh "$WHEELS_DIR" | cut -f1)"
