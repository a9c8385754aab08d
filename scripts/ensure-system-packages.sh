#!/usr/bin/env bash
# Debian packages the tests use beside Docker: Caddy (ingress), Chromium (browser tests), git and
# openssh (git builds over SSH), busybox-static (the offline test image), debootstrap (the Debian
# image the install test boots), docker-registry (the CNCF distribution registry swarm builds are
# pushed to). Installs only what is missing.
set -euo pipefail
want=()
command -v caddy >/dev/null 2>&1 || want+=(caddy)
command -v chromium >/dev/null 2>&1 || want+=(chromium)
command -v git >/dev/null 2>&1 || want+=(git)
command -v ip >/dev/null 2>&1 || [ -x /usr/sbin/ip ] || [ -x /sbin/ip ] || want+=(iproute2)
[ -x /usr/sbin/sshd ] || want+=(openssh-server)
command -v ssh-keygen >/dev/null 2>&1 || want+=(openssh-client)
# A static busybox: ldd exits non-zero on it (a dynamic one would need libraries inside the image).
{ [ -x /bin/busybox ] && ! ldd /bin/busybox >/dev/null 2>&1; } || want+=(busybox-static)
command -v debootstrap >/dev/null 2>&1 || [ -x /usr/sbin/debootstrap ] || want+=(debootstrap)
[ -x /usr/bin/docker-registry ] || want+=(docker-registry)
[ ${#want[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "ensure-system-packages: missing ${want[*]}; install them with your package manager." >&2
  exit 1
fi
echo "ensure-system-packages: installing ${want[*]} ..." >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq "${want[@]}" >/dev/null
