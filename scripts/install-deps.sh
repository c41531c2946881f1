#!/usr/bin/env bash
# Installs the Debian 12 packages sluice needs to build, test and bench, when missing.
# Idempotent: a machine that has everything is left alone (no apt-get update, no network).
set -euo pipefail

pkgs=(
  # build
  build-essential cmake pkg-config
  librdkafka-dev libcurl4-openssl-dev libsqlite3-dev libmicrohttpd-dev libyaml-dev
  libcjson-dev libssl-dev
  # tests, fuzzing, style
  clang libclang-rt-14-dev clang-format
  kcat python3-kafka python3-confluent-kafka python3-pytest
  python3-venv  # venvs for tests that need a PyPI package (Airflow's clients)
  python3-cassandra
  # tools used by tests and benches
  procps curl
  # promtool (checks /metrics), chromium (browser tests of the web UI)
  prometheus chromium
)

missing=()
for p in "${pkgs[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "install-deps: installing ${missing[*]}" >&2
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
