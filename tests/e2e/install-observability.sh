#!/usr/bin/env bash
# Installs the observability packages the end-to-end tests run against, from Debian:
# `prometheus` and `prometheus-alertmanager`. Idempotent: installs only what is missing and
# runs `apt-get update` only when something is missing and the package lists are empty or
# do not know the package. Needs root (CI and developer machines run as root). The packages'
# system services are not started (tests start their own instances on loopback ports).
# Prints the versions installed.
set -euo pipefail

packages=(prometheus prometheus-alertmanager)
binaries=(/usr/bin/prometheus /usr/bin/prometheus-alertmanager)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "install-observability: need root to install ${missing[*]}" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  # Without package lists (a fresh image) apt cannot find anything: update once.
  for p in "${missing[@]}"; do
    if ! apt-cache show "$p" >/dev/null 2>&1; then
      apt-get update -qq
      break
    fi
  done
  # Debian's policy-rc.d keeps the packages' services from starting during installation
  # (tests run their own instances); one already in place is left as it is.
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # Under systemd, do not leave them enabled for the next boot either.
  if [[ -d /run/systemd/system ]]; then
    for p in "${missing[@]}"; do
      systemctl disable --now "$p" >/dev/null 2>&1 || true
    done
  fi
fi

for b in "${binaries[@]}"; do
  if [[ ! -x $b ]]; then
    echo "install-observability: $b is missing after installation" >&2
    exit 1
  fi
  printf '%s: ' "$(basename "$b")"
  "$b" --version 2>&1 | head -n 1
done
