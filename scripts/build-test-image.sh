#!/usr/bin/env bash
# Build the offline test base image deploykit-test/busybox:latest from Debian's busybox-static:
# a rootfs with busybox and its applets (sh, httpd, nc, wget, sleep, cat, env, ...) as links,
# imported with `docker import`. Nothing is pulled. Only builds when the image is missing.
set -euo pipefail
image=${DEPLOYKIT_TEST_IMAGE:-deploykit-test/busybox:latest}
if docker image inspect "$image" >/dev/null 2>&1; then exit 0; fi

busybox=""
for candidate in /bin/busybox /usr/bin/busybox; do
  # Static (ldd exits non-zero on it): a dynamic busybox would need libraries inside the image.
  if [ -x "$candidate" ] && ! ldd "$candidate" >/dev/null 2>&1; then busybox=$candidate; break; fi
done
if [ -z "$busybox" ]; then
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "build-test-image: need Debian's busybox-static (apt-get install busybox-static)" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq busybox-static >/dev/null
  busybox=/bin/busybox
fi

root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root"/{bin,sbin,etc,tmp,www,data,root,proc,sys,dev,var/www}
chmod 1777 "$root/tmp"
cp "$busybox" "$root/bin/busybox"
for applet in $("$root/bin/busybox" --list); do
  [ "$applet" = busybox ] || ln -sf busybox "$root/bin/$applet"
done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$root/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"
echo "deploykit test image" >"$root/www/index.html"
tar -C "$root" -c . | docker import \
  -c 'ENV PATH=/bin:/sbin' -c 'WORKDIR /' -c 'CMD ["sh"]' - "$image" >/dev/null
echo "build-test-image: built $image" >&2
