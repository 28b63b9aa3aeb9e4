#!/usr/bin/env bash
# Makes the local base image localhost/otedama-base:bookworm from Debian's packages
# (debootstrap, then `podman import`), for building Dockerfile.production where no image
# registry is reachable. The root filesystem is cached as a tarball under
# ${OTEDAMA_CACHE:-$HOME/.cache/otedama}, so only the first run downloads packages.
#
# usage: scripts/container-base.sh        prints the image name on stdout
set -euo pipefail

IMAGE=localhost/otedama-base:bookworm
SUITE=bookworm
# libusb-1.0-0: the node links it (USB ASIC bridges); ca-certificates: https daemons.
INCLUDE=libusb-1.0-0,ca-certificates
CACHE=${OTEDAMA_CACHE:-$HOME/.cache/otedama}
TARBALL="$CACHE/debian-base-$SUITE.tar"

log() { echo "container-base: $*" >&2; }

if podman image exists "$IMAGE"; then
  echo "$IMAGE"
  exit 0
fi

if [ ! -s "$TARBALL" ]; then
  command -v debootstrap >/dev/null 2>&1 || { log "needs debootstrap: apt-get install debootstrap"; exit 1; }
  [ "$(id -u)" = 0 ] || { log "debootstrap needs root"; exit 1; }
  # The mirror apt already uses on this machine, else Debian's.
  mirror=$(sed -n 's/^URIs: *\(http[^ ]*\/debian\)$/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -n1)
  [ -n "$mirror" ] || mirror=$(awk '$1 == "deb" && $2 ~ /\/debian\/?$/ { print $2; exit }' /etc/apt/sources.list 2>/dev/null || true)
  mirror=${mirror:-http://deb.debian.org/debian}
  mkdir -p "$CACHE"
  rootfs=$(mktemp -d "$CACHE/rootfs.XXXXXX")
  trap 'rm -rf "$rootfs"' EXIT
  log "debootstrap --variant=minbase $SUITE from $mirror (about a minute, once)"
  t0=$(date +%s)
  debootstrap --variant=minbase --include="$INCLUDE" "$SUITE" "$rootfs" "$mirror" >"$CACHE/debootstrap.log" 2>&1 ||
    { tail -n 20 "$CACHE/debootstrap.log" >&2; exit 1; }
  # No package lists or caches in the image.
  rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/cache/apt/archives/*.deb
  tar -C "$rootfs" -cf "$TARBALL.tmp" .
  mv "$TARBALL.tmp" "$TARBALL"
  log "root filesystem cached in $TARBALL after $(($(date +%s) - t0)) s"
fi

podman import --quiet "$TARBALL" "$IMAGE" >/dev/null
log "imported $IMAGE"
echo "$IMAGE"
