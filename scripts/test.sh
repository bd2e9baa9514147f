#!/usr/bin/env bash
# The test command of the README: installs what the tests need when it is
# missing (PostgreSQL server binaries, python3-icalendar), then vets and runs
# every test with the race detector. PostgreSQL tests always run: internal/pgtest starts a
# throw-away server on 127.0.0.1 (or uses TEST_DATABASE_URL).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"

have_pg() { command -v initdb >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; }
# python3-icalendar: the independent iCalendar parser that checks invitations.
have_pyical() { /usr/bin/python3 -c 'import icalendar' >/dev/null 2>&1 || python3 -c 'import icalendar' >/dev/null 2>&1; }
missing=""
if [ -z "${TEST_DATABASE_URL:-}" ] && ! have_pg; then missing="$missing postgresql"; fi
if ! have_pyical; then missing="$missing python3-icalendar"; fi
if [ -n "$missing" ]; then
  echo "test.sh: installing$missing (PostgreSQL server binaries for the throw-away test database; python3-icalendar to check invitations)" >&2
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  # shellcheck disable=SC2086
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing >/dev/null
fi

unformatted=$(gofmt -l cmd internal)
if [ -n "$unformatted" ]; then
  echo "test.sh: not gofmt-formatted:" >&2; echo "$unformatted" >&2; exit 1
fi
go vet ./...
go test -race -count=1 -timeout 15m "$@" ./...
