#!/usr/bin/env bash
# The test command of the README: installs what the tests need when it is
# missing (PostgreSQL server binaries), then vets and runs every test with
# the race detector. PostgreSQL tests always run: internal/pgtest starts a
# throw-away server on 127.0.0.1 (or uses TEST_DATABASE_URL).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"

have_pg() { command -v initdb >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; }
if [ -z "${TEST_DATABASE_URL:-}" ] && ! have_pg; then
  echo "test.sh: installing PostgreSQL (server binaries for the throw-away test database)" >&2
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq postgresql >/dev/null
fi

unformatted=$(gofmt -l cmd internal)
if [ -n "$unformatted" ]; then
  echo "test.sh: not gofmt-formatted:" >&2; echo "$unformatted" >&2; exit 1
fi
go vet ./...
go test -race -count=1 -timeout 15m "$@" ./...
