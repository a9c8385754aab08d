#!/usr/bin/env bash
# Make sure a Docker engine answers on this machine. Idempotent and quick when one already does.
# - no docker CLI/engine and we are root with apt: install Debian's docker.io
# - no engine answering: start dockerd in the background (log in $DEPLOYKIT_DOCKERD_LOG) and wait
set -euo pipefail
log=${DEPLOYKIT_DOCKERD_LOG:-/var/log/deploykit-dockerd.log}
deadline=${DEPLOYKIT_DOCKER_WAIT:-60}

answers() { docker info >/dev/null 2>&1; }

if command -v docker >/dev/null 2>&1 && answers; then exit 0; fi

if ! command -v dockerd >/dev/null 2>&1; then
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "ensure-docker: no Docker engine answers and I cannot install one (need root and apt-get)." >&2
    echo "ensure-docker: install Docker yourself (e.g. 'sudo apt-get install docker.io') and start it." >&2
    exit 1
  fi
  echo "ensure-docker: installing Debian's docker.io ..." >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq docker.io >/dev/null
fi

if answers; then exit 0; fi
if [ "$(id -u)" != 0 ]; then
  echo "ensure-docker: the Docker engine is installed but not answering; start it (sudo systemctl start docker)." >&2
  exit 1
fi
if ! pgrep -x dockerd >/dev/null 2>&1; then
  echo "ensure-docker: starting dockerd in the background (log: $log) ..." >&2
  mkdir -p "$(dirname "$log")"
  nohup setsid dockerd >>"$log" 2>&1 < /dev/null &
fi
for _ in $(seq 1 "$deadline"); do
  if answers; then exit 0; fi
  sleep 1
done
echo "ensure-docker: dockerd did not answer within ${deadline}s; see $log" >&2
tail -20 "$log" >&2 || true
exit 1
