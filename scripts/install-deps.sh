#!/usr/bin/env bash
# Installs the Debian 12 packages that the build, the service, the tests and
# the benchmark need, when they are missing. Uses sudo when not root.
set -euo pipefail

packages=(
  build-essential cmake pkg-config clang clang-format
  librdkafka-dev libpq-dev libevent-dev libcyaml-dev libyaml-dev libyajl-dev libcmocka-dev
  postgresql postgresql-client kcat
  python3 python3-prometheus-client python3-yaml python3-jsonschema python3-confluent-kafka wrk docker-compose
  systemd
  libjansson-dev libjson-c-dev gnuplot-nox
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed'; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

SUDO=""
if [ "$(id -u)" != 0 ]; then
  command -v sudo >/dev/null || { echo "install-deps.sh: run as root or install sudo" >&2; exit 1; }
  SUDO=sudo
fi
echo "install-deps.sh: installing ${missing[*]}" >&2
$SUDO apt-get update -qq
# the postgresql package would start a system cluster we do not use
$SUDO env DEBIAN_FRONTEND=noninteractive NEEDRESTART_SUSPEND=1 apt-get install -y -qq --no-install-recommends \
  "${missing[@]}" >/dev/null
