# Sourced by the scripts beside it: where podman keeps its state for this repo, and its settings.
#
# Everything lives under $IMAGES_DIR (default: .images/ in the repo, gitignored; RETL_IMAGES_DIR
# overrides it): podman's storage, the debootstrap base's stamp, the host-built wheels, scratch
# space. Nothing here is read by the connectors at run time.
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
IMAGES_DIR="${RETL_IMAGES_DIR:-$REPO_ROOT/.images}"
mkdir -p "$IMAGES_DIR"
IMAGES_DIR="$(cd "$IMAGES_DIR" && pwd)"
export IMAGES_DIR REPO_ROOT

# The local base that stands in for Airbyte's python-connector-base where no registry with base
# images is reachable (setup.sh makes it with debootstrap).
export LOCAL_BASE_IMAGE="localhost/retl-base:bookworm"
# The wheel folder (wheels.sh) that replaces the package index in a local build.
export WHEELS_DIR="$IMAGES_DIR/wheels"
export CONNECTORS="source-warehouse-model destination-webhook destination-hubspot destination-customerio destination-clarify"

export CONTAINERS_CONF="$REPO_ROOT/.ci/containers/containers.conf"
export CONTAINERS_STORAGE_CONF="$IMAGES_DIR/storage.conf"
# Podman and buildah stage layers and image imports in TMPDIR: keep those on the same disk.
export TMPDIR="$IMAGES_DIR/tmp"
mkdir -p "$TMPDIR"

# Timestamped log lines on stderr.
log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
