#!/usr/bin/env bash
# Installs the Debian 12 packages that the build, the service, the tests and
# the benchmark need, when they are missing. Uses sudo when not root.
set -euo pipefail

packages=(
  build-essential cmake pkg-config clang clang-format
  librdkafka-dev libpq-dev libevent-dev libcyaml-dev libyaml-dev libyajl-dev libcmocka-dev
  uuid-dev
  postgresql postgresql-client kcat openssl
  python3 python3-prometheus-client python3-yaml python3-jsonschema python3-confluent-kafka
  wrk docker-compose iproute2 prometheus curl systemd
  libjansson-dev libjson-c-dev gnuplot-nox nodejs
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed'; then
    missing+=("$p")
  fi
done
# npm: Debian's package, unless node came with its own (NodeSource's
# nodejs bundles npm and conflicts with Debian's npm package)
command -v npm >/dev/null || missing+=(npm)

# The Kubernetes manifests' offline validator (tests/kubernetes): the npm
# packages package-lock.json pins, installed once with npm ci into
# tests/kubernetes/node_modules; again only when the lock file changes.
npm_deps() {
  local dir lock stamp
  dir=$(cd "$(dirname "$0")/../tests/kubernetes" && pwd)
  lock=$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1)
  stamp=$dir/node_modules/.aac-lock-sha256
  [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$lock" ] && return 0
  echo "install-deps.sh: npm ci in tests/kubernetes" >&2
  (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
  echo "$lock" >"$stamp"
}

if [ ${#missing[@]} -eq 0 ]; then
  npm_deps
  exit 0
fi

SUDO=""
if [ "$(id -u)" != 0 ]; then
  command -v sudo >/dev/null || { echo "install-deps.sh: run as root or install sudo" >&2; exit 1; }
  SUDO=sudo
fi
echo "install-deps.sh: installing ${missing[*]}" >&2
$SUDO apt-get update -qq
# The postgresql package would start a system cluster and the prometheus
# package a server on :9090, neither of which we use (the tests start their
# own on free loopback ports): a policy-rc.d answering 101 tells the
# packages' scripts not to start services. Only when there is none already.
policy=/usr/sbin/policy-rc.d
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null
  $SUDO chmod 755 "$policy"
  trap '$SUDO rm -f "$policy"' EXIT
fi
$SUDO env DEBIAN_FRONTEND=noninteractive NEEDRESTART_SUSPEND=1 apt-get install -y -qq --no-install-recommends \
  "${missing[@]}" >/dev/null
# the unit prometheus enabled would start at the next boot
if [[ " ${missing[*]} " == *" prometheus "* ]] && [ -d /run/systemd/system ]; then
  $SUDO systemctl disable --now prometheus.service >/dev/null 2>&1 || true
fi
npm_deps
