# Sourced first by the benchmark scripts: strict mode, and the
# repository's root as the working directory.
#
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# bench_init [peers] builds capfinder if missing, installs GNU time (and
# with "peers" vegeta and hey into bin/tools, as TOOLS, and wrk from
# Debian), makes a scratch directory WORK that is removed on exit with
# nginx and any capfinder run CF_PID names, and starts nginx on cpu 1
# (nginx_start).
bench_init() {
	TOOLS=$PWD/bin/tools
	if [ "${1:-}" = peers ]; then
		[ -x "$TOOLS/vegeta" ] || GOBIN=$TOOLS go install "github.com/tsenart/vegeta/v12@v12.12.0"
		[ -x "$TOOLS/hey" ] || GOBIN=$TOOLS go install "github.com/rakyll/hey@v0.1.5"
		./scripts/install-debian.sh wrk:wrk
	fi
	[ -x bin/capfinder ] || make build >/dev/null
	./scripts/install-debian.sh time:time
	WORK=$(mktemp -d)
	trap 'kill "${CF_PID:-}" "${NGINX_PID:-}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$WORK"' EXIT
	nginx_start 1
}

# nginx_start CPU starts nginx (installed from Debian if missing) on
# 127.0.0.1, pinned to CPU, serving a fixed 200 with a 3-byte body, and
# sets URL and NGINX_PID.
nginx_start() {
	./scripts/install-debian.sh nginx:nginx-light
	local nginx port
	nginx=$(command -v nginx || echo /usr/sbin/nginx)
	# A loopback port nothing answers on, below the ephemeral range
	# (32768 and up), where the generators' own connections could hold it.
	while :; do
		port=$((20000 + RANDOM % 12000))
		(exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || break
	done
	mkdir -p "$WORK/nginx"
	cat >"$WORK/nginx/nginx.conf" <<CONF
worker_processes 1;
worker_rlimit_nofile 70000;
daemon off;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log warn;
events { worker_connections 65536; }
http {
  access_log off;
  client_body_temp_path $WORK/nginx/body;
  proxy_temp_path $WORK/nginx/proxy;
  fastcgi_temp_path $WORK/nginx/fastcgi;
  uwsgi_temp_path $WORK/nginx/uwsgi;
  scgi_temp_path $WORK/nginx/scgi;
  keepalive_requests 10000000;
  server {
    listen 127.0.0.1:$port;
    location / { return 200 "ok\n"; }
  }
}
CONF
	taskset -c "$1" "$nginx" -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" &
	NGINX_PID=$!
	URL="http://127.0.0.1:$port/"
	for _ in $(seq 50); do
		curl -fs -o /dev/null "$URL" 2>/dev/null && return
		sleep 0.1
	done
	echo "nginx did not start; see $WORK/nginx/error.log" >&2
	return 1
}
