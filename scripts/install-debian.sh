#!/usr/bin/env bash
# Installs test and benchmark tools from Debian's packages when missing:
#
#   scripts/install-debian.sh COMMAND:PACKAGE ...
#   scripts/install-debian.sh nginx:nginx-light chromium:chromium
#
# The tests start their own nginx on loopback with a private
# configuration; the package's own service is stopped.
set -euo pipefail
missing=()
for spec in "$@"; do
	cmd=${spec%%:*}
	pkg=${spec#*:}
	if ! command -v "$cmd" >/dev/null 2>&1 && [ ! -x "/usr/sbin/$cmd" ]; then
		missing+=("$pkg")
	fi
done
[ ${#missing[@]} -eq 0 ] && exit 0
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# Debian starts the packaged nginx; nothing here wants it.
$SUDO service nginx stop >/dev/null 2>&1 || true
