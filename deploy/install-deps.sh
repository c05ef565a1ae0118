#!/usr/bin/env bash
# Installs every package pgsieve needs to build, test and run its demo
# (DESIGN.md §7). Idempotent: installs only what is missing, so it is cheap
# to call from quickstart.sh and tests/run.sh on every run.
#
#   deploy/install-deps.sh           everything: build, tests, demo
#   deploy/install-deps.sh --build   only what building the pgsieve binary needs (the image's build stage)
set -euo pipefail

build_packages=(
  build-essential cmake pkg-config
  libpg-query-dev libboost1.81-dev libssl-dev libfmt-dev libsqlite3-dev
  libsimdjson-dev libyaml-cpp-dev catch2 libcli11-dev
)
packages=(
  "${build_packages[@]}" git clang libclang-rt-14-dev
  postgresql postgresql-client postgresql-server-dev-15 pgbouncer haproxy sqlite3 openssl
  python3 python3-pytest python3-psycopg python3-asyncpg python3-yaml python3-jsonschema libpostgresql-jdbc-java sqlsmith
)
# Toolchains that images often ship outside Debian's packages (a newer
# Node.js, a JDK): install Debian's only when the command is absent, so as
# not to fight the one already there.
declare -A by_command=([node]=nodejs [npm]=npm [javac]=default-jdk-headless)
if [ "${1:-}" = "--build" ]; then
  packages=("${build_packages[@]}")
  by_command=()
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

for cmd in "${!by_command[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || missing+=("${by_command[$cmd]}")
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: missing packages: ${missing[*]}" >&2
  echo "install-deps: run as root (or install them) and try again" >&2
  exit 1
fi

echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
# A fresh machine has no package lists; an old list may lack newer versions.
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
