#!/usr/bin/env bash
# Makes sure PostgreSQL (127.0.0.1:5432) and Redis (127.0.0.1:6379) answer, and
# that Debian's chromium is at /usr/bin/chromium for the browser tests.
# Uses running servers; otherwise starts them, installing Debian's packages when
# this is a Debian machine and we are root. Prints what it did. Exit status:
# 0 both answer, 1 at least one could not be had (the reason is printed).
set -u

up() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_up() {
  for _ in $(seq 1 60); do up "$1" && return 0; sleep 0.5; done
  return 1
}

can_install() { [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; }

ensure_postgres() {
  if up 5432; then echo "services: PostgreSQL answers on 127.0.0.1:5432"; return 0; fi
  if ! command -v pg_ctlcluster >/dev/null && can_install; then
    echo "services: installing postgresql (apt-get)"
    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  fi
  if command -v pg_ctlcluster >/dev/null; then
    version=$(ls /etc/postgresql 2>/dev/null | sort -n | tail -1)
    if [ -n "$version" ]; then
      echo "services: starting PostgreSQL $version"
      pg_ctlcluster --skip-systemctl-redirect "$version" main start 2>&1 | sed 's/^/services: /'
      # trust auth for local TCP connections of the test user
      if wait_up 5432; then return 0; fi
    fi
  fi
  echo "services: PostgreSQL is not available (not running, could not be started)"
  return 1
}

ensure_redis() {
  if up 6379; then echo "services: Redis answers on 127.0.0.1:6379"; return 0; fi
  if ! command -v redis-server >/dev/null && can_install; then
    echo "services: installing redis-server (apt-get)"
    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
  fi
  if command -v redis-server >/dev/null; then
    echo "services: starting redis-server on 127.0.0.1:6379"
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
      --dir /tmp --logfile /tmp/togo-redis.log >/dev/null
    wait_up 6379 && return 0
  fi
  echo "services: Redis is not available (not running, could not be started)"
  return 1
}

# The browser tests (tests/processes/test_browser.py) drive Debian's chromium through
# Playwright, which must never download a browser of its own.
ensure_chromium() {
  if [ -x /usr/bin/chromium ]; then echo "services: chromium is at /usr/bin/chromium"; return 0; fi
  if can_install; then
    echo "services: installing chromium (apt-get)"
    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
    if [ -x /usr/bin/chromium ]; then echo "services: chromium installed at /usr/bin/chromium"; return 0; fi
  fi
  echo "services: chromium is not available (/usr/bin/chromium missing, could not be installed)"
  return 1
}

status=0
# Without chromium the browser tests skip, saying why (a failure where
# TOGO_REQUIRE_SERVICES=1); the exit status stays about the databases.
ensure_chromium || true
ensure_postgres || status=1
ensure_redis || status=1
exit $status
