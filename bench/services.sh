#!/usr/bin/env bash
# Start PostgreSQL (127.0.0.1:5432) and Redis (127.0.0.1:6379) when they are down, as
# .ci/run does; with --wrk, also install Debian's wrk when it is missing (the load
# generator of `make bench`; without it the benchmark falls back to a Python one).
set -euo pipefail

wait_for() {  # wait_for NAME COMMAND...: up to 30 s until COMMAND succeeds
	local name=$1; shift
	for _ in $(seq 60); do
		if "$@" >/dev/null 2>&1; then return 0; fi
		sleep 0.5
	done
	echo "$name did not come up" >&2
	return 1
}

if ! pg_isready -q -h 127.0.0.1; then
	pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -1)" main start
fi
wait_for PostgreSQL pg_isready -q -h 127.0.0.1

if ! redis-cli -h 127.0.0.1 ping >/dev/null 2>&1; then
	mkdir -p /var/lib/redis /var/log/redis
	redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" \
		--appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log
fi
wait_for Redis sh -c 'test "$(redis-cli -h 127.0.0.1 ping)" = PONG'

if [ "${1:-}" = "--wrk" ] && ! command -v wrk >/dev/null 2>&1; then
	if [ "$(id -u)" = 0 ]; then
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk) \
			|| echo "wrk could not be installed: figure 2 uses the Python load generator" >&2
	else
		echo "wrk is missing (apt-get install wrk): figure 2 uses the Python load generator" >&2
	fi
fi
