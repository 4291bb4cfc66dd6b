#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Installs every Debian package that building, testing and benchmarking tidewatch needs.
# Idempotent: installs only what is missing, and says what. Uses sudo when not root.
set -euo pipefail

packages=(
  # build
  build-essential cmake pkg-config git
  # libraries (DESIGN.md's chosen dependencies; zlib for gzip responses, already a libcurl dependency)
  libmicrohttpd-dev libcurl4-openssl-dev libjansson-dev libyaml-dev zlib1g-dev
  # regexes: RE2 syntax on PCRE2 (common/regex.h)
  libpcre2-dev
  # remote_write 1.0 receiver: protobuf-c (library + protoc-c code generator), snappy
  libprotobuf-c-dev protobuf-c-compiler libsnappy-dev
  # tests: unit tests, fuzzing (clang + libFuzzer runtime), real peers, tools the scripts use
  libcmocka-dev clang libclang-rt-14-dev prometheus curl python3 procps util-linux
  # the fake Kubernetes API server's test certificates (tests/fakes)
  openssl
  # alerting: a real Alertmanager 0.25 as the notifier's peer
  prometheus-alertmanager
  # formatting and static checks
  clang-format
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  SUDO="sudo"
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
# The prometheus package starts a system service on install where an init system runs; our
# tests start their own on loopback ports, so a packaged one left running is only noise.
echo "install-deps: done"
