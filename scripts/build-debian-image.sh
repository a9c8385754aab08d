#!/usr/bin/env bash
# Build the Debian 12 base image the install test boots with systemd as PID 1: a minimal bookworm
# (`debootstrap --variant=minbase`) plus systemd, imported with `docker import`. Nothing is pulled
# from a container registry; the packages come from Debian's mirror. Only builds when the image is
# missing (the tag is the cache).
set -euo pipefail
image=${DEPLOYKIT_DEBIAN_IMAGE:-deploykit-test/debian:12}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
if docker image inspect "$image" >/dev/null 2>&1; then exit 0; fi
if ! command -v debootstrap >/dev/null 2>&1; then
  echo "build-debian-image: need debootstrap (scripts/ensure-system-packages.sh installs it)" >&2
  exit 1
fi
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
# systemd-sysv makes systemd /sbin/init; the rest is what a fresh cloud VM has: no Docker, no Caddy,
# no Python venv module. install.sh must bring those.
debootstrap --variant=minbase --include=systemd,systemd-sysv,ca-certificates,python3 \
  bookworm "$root" "$mirror" >"$root.log" 2>&1 || { tail -20 "$root.log" >&2; rm -f "$root.log"; exit 1; }
rm -f "$root.log"
# Units that make no sense in a container (no consoles, no udev, no kernel modules).
for unit in getty.target console-getty.service systemd-udevd.service systemd-udev-trigger.service \
  systemd-modules-load.service systemd-remount-fs.service sys-kernel-debug.mount sys-kernel-tracing.mount; do
  ln -sf /dev/null "$root/etc/systemd/system/$unit"
done
echo deploykit-vm >"$root/etc/hostname"
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
# (docker import takes no STOPSIGNAL: run it with --stop-signal SIGRTMIN+3 for a clean shutdown.)
tar -C "$root" -c . | docker import -c 'CMD ["/sbin/init"]' -c 'ENV container=docker' - "$image" >/dev/null
echo "build-debian-image: built $image" >&2
