#!/usr/bin/env bash
# Installs nginx from Debian's packages for the end-to-end tests. The tests
# start their own nginx on loopback with a private configuration; the
# package's own service is not used.
set -euo pipefail
if command -v nginx >/dev/null 2>&1; then exit 0; fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends nginx-light >/dev/null
# Debian starts the packaged service; the tests do not want it.
$SUDO service nginx stop >/dev/null 2>&1 || true
