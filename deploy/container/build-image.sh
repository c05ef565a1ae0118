#!/usr/bin/env bash
# Builds pgsieve's image without a container registry: the base is made with
# debootstrap from Debian's archive, imported, and the Dockerfile built on it
# with buildah (chroot isolation: works inside containers and CI machines).
#
#   deploy/container/build-image.sh [TAG]      (default localhost/pgsieve:latest; run as root)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
tag=${1:-localhost/pgsieve:latest}
base=localhost/debian:bookworm-debootstrap

if ! buildah inspect --type image "$base" >/dev/null 2>&1; then
  rootfs=$(mktemp -d)
  trap 'rm -rf "$rootfs"' EXIT
  echo "build-image: debootstrap bookworm into $rootfs" >&2
  debootstrap --variant=minbase bookworm "$rootfs" http://deb.debian.org/debian >/dev/null
  # Slim, as Debian's -slim images are: no documentation, manuals or
  # translations, now or from packages installed later.
  cat > "$rootfs/etc/dpkg/dpkg.cfg.d/slim" <<'CFG'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/lintian/*
CFG
  find "$rootfs/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
  rm -rf "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/* "$rootfs"/usr/share/locale/* \
    "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/debconf/*-old
  tar -C "$rootfs" -c . | podman import - "$base" >/dev/null
fi
buildah bud --isolation chroot --format docker --layers -f "$root/deploy/container/Dockerfile" --build-arg BASE="$base" -t "$tag" "$root"
buildah images --format '{{.Name}}:{{.Tag}} {{.Size}}' "$tag"
