#!/usr/bin/env bash
# Make podman usable for this repo on a machine with no Docker engine and no registry of base images:
#   1. install podman, buildah, runc and debootstrap from Debian if any is missing (root, apt-get);
#   2. write podman's storage.conf for $IMAGES_DIR (overlay driver);
#   3. make the local base image, localhost/retl-base:bookworm, with debootstrap (cached in podman's
#      storage under $IMAGES_DIR; rebuilt only when BASE_RECIPE below changes).
# Idempotent: a second run takes well under a second.
#
# The base stands in for docker.io/airbyte/python-connector-base:4.0.2 (python:3.11 on Debian
# bookworm) with the layout the connector Dockerfiles rely on: python3 3.11 with venv/ensurepip,
# the user airbyte (uid 1000), /airbyte owned by it, UTC, CA certificates.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"

BASE_RECIPE=1  # bump when the recipe below changes, to rebuild cached bases
DEBIAN_PACKAGES=(podman buildah runc debootstrap)

missing=()
for package in "${DEBIAN_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
# The CDK's image tests call a `docker` CLI, which talks to podman's Docker-compatible socket here.
# Machines of this kind ship Docker's client; where it is absent, Debian's docker.io brings one (its
# daemon is not used).
command -v docker >/dev/null || missing+=(docker.io)
if ((${#missing[@]})); then
  log "apt-get install ${missing[*]}"
  if [[ $(id -u) != 0 ]]; then
    echo "setup.sh: installing ${missing[*]} needs root (apt-get)" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}" >/dev/null
fi

sed "s|@IMAGES_DIR@|$IMAGES_DIR|g" "$REPO_ROOT/.ci/containers/storage.conf.in" >"$IMAGES_DIR/storage.conf.new"
mv "$IMAGES_DIR/storage.conf.new" "$IMAGES_DIR/storage.conf"

recipe="$(podman image inspect --format '{{ index .Labels "retl.base-recipe" }}' "$LOCAL_BASE_IMAGE" 2>/dev/null || true)"
if [[ "$recipe" == "$BASE_RECIPE" ]]; then
  log "base $LOCAL_BASE_IMAGE: cached"
  exit 0
fi

log "base $LOCAL_BASE_IMAGE: debootstrap bookworm (about a minute)"
rootfs="$IMAGES_DIR/base-rootfs"
rm -rf "$rootfs"
debootstrap --variant=minbase --include=python3-minimal,python3-venv,ca-certificates,tzdata \
  bookworm "$rootfs" http://deb.debian.org/debian >"$IMAGES_DIR/debootstrap.log" 2>&1 || {
  tail -20 "$IMAGES_DIR/debootstrap.log" >&2
  exit 1
}
# The Airbyte base's layout: UTC, user airbyte (uid 1000) owning /airbyte.
ln -snf /usr/share/zoneinfo/Etc/UTC "$rootfs/etc/localtime"
echo Etc/UTC >"$rootfs/etc/timezone"
chroot "$rootfs" useradd --uid 1000 --user-group --create-home --shell /bin/bash airbyte
mkdir -p "$rootfs/airbyte"
chroot "$rootfs" chown airbyte:airbyte /airbyte
# Smaller: no apt caches, docs or man pages.
rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* \
  "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/*
tar --numeric-owner -C "$rootfs" -c . | podman import --quiet \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'ENV LANG=C.UTF-8' \
  --change "LABEL retl.base-recipe=$BASE_RECIPE" \
  --change 'CMD ["/bin/bash"]' \
  - "$LOCAL_BASE_IMAGE" >/dev/null
rm -rf "$rootfs"
log "base $LOCAL_BASE_IMAGE: $(podman image inspect --format '{{.Size}}' "$LOCAL_BASE_IMAGE" | numfmt --to=iec) made"
