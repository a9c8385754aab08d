#!/usr/bin/env bash
# Install or upgrade DeployKit on Debian 12 or Ubuntu 24.04, as root:
#
#   ./install.sh [deploykit-X.Y.Z-py3-none-any.whl]
#
# Installs Docker and Caddy from the distribution's packages when missing, DeployKit from the wheel
# into a virtualenv in /opt/deploykit, its data directory /var/lib/deploykit, its flags in
# /etc/deploykit/deploykitd.env, and starts deploykitd.service beside caddy.service (Caddy is its own
# service: the sites keep serving while DeployKit restarts or upgrades). Re-running it upgrades in
# place: the daemon stops, `deploykitd migrate` backs the database up and migrates it, and it starts
# again. Without an argument it takes the newest deploykit-*.whl beside this script or in ./dist.
#
# First install only (kept in /etc/deploykit/deploykitd.env afterwards), from the environment:
#   DEPLOYKIT_ADDR=:8080  DEPLOYKIT_HTTP_PORT=80  DEPLOYKIT_HTTPS_PORT=443  DEPLOYKIT_BASE_DOMAIN=...
#   DEPLOYKIT_CADDY_ADMIN=127.0.0.1:2019 (Caddy's admin API)  DEPLOYKIT_FLAGS="..." (more flags)
# Python packages come from PyPI; pip's own PIP_INDEX_URL / PIP_FIND_LINKS / PIP_NO_INDEX apply.
set -euo pipefail

PREFIX=/opt/deploykit
DATA_DIR=/var/lib/deploykit
CONF_DIR=/etc/deploykit
ENV_FILE=$CONF_DIR/deploykitd.env
UNIT=/etc/systemd/system/deploykitd.service
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

say() { printf 'deploykit: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

[ "$(id -u)" = 0 ] || die "run me as root (sudo $0)"
command -v apt-get >/dev/null && command -v systemctl >/dev/null || die "this installer needs apt and systemd (Debian 12, Ubuntu 24.04)"
# shellcheck disable=SC1091
. /etc/os-release
case "${ID:-}-${VERSION_ID:-}" in
  debian-12 | ubuntu-24.04) ;;
  *) say "tested on Debian 12 and Ubuntu 24.04, not ${PRETTY_NAME:-this system}; carrying on" ;;
esac

wheel=${1:-${DEPLOYKIT_WHEEL:-}}
if [ -z "$wheel" ]; then
  wheel=$(ls -1t "$here"/deploykit-*.whl "$here"/dist/deploykit-*.whl 2>/dev/null | head -n1 || true)
fi
[ -n "$wheel" ] && [ -f "$wheel" ] || die "no DeployKit wheel: pass its path (make dist builds one into dist/)"

# -- packages ------------------------------------------------------------------------------------
docker_answers() {
  [ -S /var/run/docker.sock ] || return 1
  python3 - <<'PY' 2>/dev/null
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(5)
s.connect("/var/run/docker.sock")
s.sendall(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
sys.exit(0 if s.recv(64).split()[1:2] == [b"200"] else 1)
PY
}

want=()
command -v python3 >/dev/null || want+=(python3)
python3 -c 'import ensurepip, venv' 2>/dev/null || want+=(python3-venv)
command -v caddy >/dev/null || want+=(caddy)
# The keeper port on each project network's bridge (deploykit_docker/keeper.py).
[ -x /usr/sbin/ip ] || [ -x /sbin/ip ] || [ -x /usr/bin/ip ] || [ -x /bin/ip ] || want+=(iproute2)
command -v python3 >/dev/null && docker_answers || want+=(docker.io)
if [ ${#want[@]} -gt 0 ]; then
  say "installing ${want[*]} from the distribution's packages ..."
  export DEBIAN_FRONTEND=noninteractive
  # Packages do not start their services while installed (Caddy would serve its welcome page on
  # port 80 and save that as the config to resume): they start below, configured.
  own_policy=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d && own_policy=1
  fi
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${want[@]}" >/dev/null || { [ "$own_policy" = 0 ] || rm -f /usr/sbin/policy-rc.d; die "apt-get install ${want[*]} failed"; }
  [ "$own_policy" = 0 ] || rm -f /usr/sbin/policy-rc.d
fi
if ! docker_answers; then
  systemctl enable --now docker.service >/dev/null 2>&1 || true
  for _ in $(seq 1 60); do docker_answers && break; sleep 1; done
  docker_answers || die "the Docker engine does not answer on /var/run/docker.sock"
fi

# Caddy reloads with a fresh SO_REUSEPORT listener: this lets queued connections move to it
# instead of being reset (Linux 5.14+). Not settable in some containers; harmless then.
echo 'net.ipv4.tcp_migrate_req = 1' >/etc/sysctl.d/60-deploykit.conf
sysctl -q -w net.ipv4.tcp_migrate_req=1 >/dev/null 2>&1 || true

# -- the daemon's flags: written once, kept on upgrades --------------------------------------------
install -d -m 0700 "$DATA_DIR"
install -d -m 0755 "$CONF_DIR"
if [ ! -f "$ENV_FILE" ]; then
  flags="--addr ${DEPLOYKIT_ADDR:-:8080} --data-dir $DATA_DIR --caddy-admin http://${DEPLOYKIT_CADDY_ADMIN:-127.0.0.1:2019}"
  flags+=" --http-port ${DEPLOYKIT_HTTP_PORT:-80} --https-port ${DEPLOYKIT_HTTPS_PORT:-443}"
  [ -n "${DEPLOYKIT_BASE_DOMAIN:-}" ] && flags+=" --base-domain $DEPLOYKIT_BASE_DOMAIN"
  [ -n "${DEPLOYKIT_FLAGS:-}" ] && flags+=" $DEPLOYKIT_FLAGS"
  umask 077
  cat >"$ENV_FILE" <<ENV
# deploykitd's flags (see: $PREFIX/bin/deploykitd serve --help), read by deploykitd.service.
# Written once by install.sh; upgrades keep it. Apply a change with: systemctl restart deploykitd
DEPLOYKITD_FLAGS="$flags"
ENV
  umask 022
fi
# shellcheck disable=SC1090
flags_now=$(. "$ENV_FILE" && printf '%s' "$DEPLOYKITD_FLAGS")
flag() { # NAME: the value of deploykitd's flag NAME in the env file's flags (last one wins)
  local value="" word take=0
  for word in $flags_now; do
    if [ "$take" = 1 ]; then value=$word; take=0; fi
    case "$word" in "--$1" | "-$1") take=1 ;; "--$1="* | "-$1="*) value=${word#*=} ;; esac
  done
  printf '%s' "$value"
}
caddy_admin=$(flag caddy-admin)
caddy_admin=${caddy_admin#http://}
data_dir=$(flag data-dir)
data_dir=${data_dir:-$DATA_DIR}
addr=$(flag addr)
port=${addr##*:}
port=${port:-8080}

# -- Caddy: its own service, driven by DeployKit through the admin API ----------------------------
caddy_changed=0
install_if_changed() { # SRC DEST MODE: copy when different; returns 0 when it changed something
  if [ -f "$2" ] && cmp -s "$1" "$2"; then return 1; fi
  install -D -m "$3" "$1" "$2"
}
packaging=$(mktemp -d)
trap 'rm -rf "$packaging"' EXIT
# The unit files travel inside the wheel (deploykitd/packaging): one artifact to ship.
python3 - "$wheel" "$packaging" <<'PY'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as whl:
    for name in whl.namelist():
        if name.startswith("deploykitd/packaging/") and not name.endswith("/"):
            with open(f"{sys.argv[2]}/{name.rsplit('/', 1)[1]}", "wb") as out:
                out.write(whl.read(name))
PY
[ -f "$packaging/deploykitd.service" ] || die "$wheel has no deploykitd/packaging: not a DeployKit wheel?"
if [ -f /etc/caddy/Caddyfile ] && ! grep -q DeployKit /etc/caddy/Caddyfile && [ ! -f /etc/caddy/Caddyfile.before-deploykit ]; then
  cp -p /etc/caddy/Caddyfile /etc/caddy/Caddyfile.before-deploykit
fi
if [ -n "$caddy_admin" ]; then
  sed -i "s|admin 127.0.0.1:2019|admin $caddy_admin|" "$packaging/Caddyfile"
  install_if_changed "$packaging/Caddyfile" /etc/caddy/Caddyfile 0644 && caddy_changed=1
  install_if_changed "$packaging/caddy-deploykit.conf" /etc/systemd/system/caddy.service.d/deploykit.conf 0644 && caddy_changed=1
else
  say "deploykitd runs without --caddy-admin: leaving caddy.service as it is"
fi
systemctl daemon-reload
systemctl enable caddy.service >/dev/null 2>&1
if [ "$caddy_changed" = 1 ]; then
  # A config Caddy saved before it was ours (the package's welcome page) must not be resumed.
  caddy_home=$(getent passwd caddy | cut -d: -f6)
  rm -f "${caddy_home:-/var/lib/caddy}/.config/caddy/autosave.json"
fi
if [ "$caddy_changed" = 1 ] || ! systemctl is-active --quiet caddy.service; then
  systemctl restart caddy.service # first install only: later runs leave the sites serving
fi

# -- DeployKit -----------------------------------------------------------------------------------
upgrade=0
[ -x "$PREFIX/bin/deploykitd" ] && upgrade=1
[ -x "$PREFIX/bin/python" ] || python3 -m venv "$PREFIX"
say "installing $(basename "$wheel") into $PREFIX ..."
"$PREFIX/bin/pip" install -q --disable-pip-version-check --upgrade "$wheel"
# The same version number rebuilt (a development wheel) is not reinstalled by the line above.
"$PREFIX/bin/pip" install -q --disable-pip-version-check --force-reinstall --no-deps "$wheel"

unit_changed=0
install_if_changed "$packaging/deploykitd.service" "$UNIT" 0644 && unit_changed=1
[ "$unit_changed" = 1 ] && systemctl daemon-reload
systemctl enable deploykitd.service >/dev/null 2>&1

if [ "$upgrade" = 1 ]; then
  say "upgrading: stopping deploykitd (the sites keep serving through Caddy), migrating ..."
  systemctl stop deploykitd.service
  "$PREFIX/bin/deploykitd" migrate --data-dir "$data_dir" # takes a backup before migrating
fi
systemctl restart deploykitd.service

# -- ready? --------------------------------------------------------------------------------------
for _ in $(seq 1 60); do
  if "$PREFIX/bin/python" -c "import urllib.request as u; u.urlopen('http://127.0.0.1:$port/api/health', timeout=2)" 2>/dev/null; then
    host=$(hostname -I 2>/dev/null | awk '{print $1}')
    version=$("$PREFIX/bin/deploykitd" version)
    say "$version is running ($([ "$upgrade" = 1 ] && echo upgraded || echo installed))."
    echo "Open http://${host:-localhost}:$port/ (the first visit creates the admin account)."
    exit 0
  fi
  sleep 1
done
systemctl --no-pager status deploykitd.service >&2 || true
die "deploykitd does not answer on port $port; see: journalctl -u deploykitd"
