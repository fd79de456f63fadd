#!/usr/bin/env bash
# Installs what flexseat needs on a Debian machine: the system packages (etcd, sipp, iproute2 for
# the multi-host mode) and the npm dependencies. Run as root or through sudo; Node.js >= 20 and
# npm must already be there.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
packages=(etcd-server etcd-client sip-tester iproute2)
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null

# npm 11 runs install scripts only for the packages approved in package.json's allowScripts.
npm ci --no-audit --no-fund
