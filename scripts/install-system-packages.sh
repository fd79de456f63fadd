#!/usr/bin/env bash
# Installs the Debian packages flexseat needs: etcd (the cluster of the simulation and the
# tests), sipp (simulated phones), iproute2 (network namespaces for the multi-host mode), and for
# the tests of the directory sync a real OpenLDAP server (slapd, with ldap-utils), and for the
# web portal's tests a real browser (chromium, driven by playwright-core), and for the chaos runs'
# clock step libfaketime.
# Node.js >= 20 and npm must already be there. Run it as it is, as root (a fresh container has no
# sudo) or as a user: it then calls sudo itself for apt-get.
set -euo pipefail

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if ! command -v sudo >/dev/null; then
    echo "install-system-packages: run this as root (there is no sudo here to become root)" >&2
    exit 1
  fi
  SUDO="sudo"
fi
packages=(etcd-server etcd-client sip-tester iproute2 slapd ldap-utils chromium libfaketime)
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
