#!/usr/bin/env bash
# The test command of the README: installs what the tests need when it is
# missing, then vets and runs every test with the race detector:
#   - PostgreSQL's server binaries: internal/pgtest starts a throw-away
#     server on 127.0.0.1 (or uses TEST_DATABASE_URL), so the PostgreSQL
#     tests always run;
#   - python3-icalendar: the independent iCalendar parser that checks
#     invitations;
#   - chromium (the full package: the headless shell cannot make WebRTC
#     calls) and iproute2: the call page's tests drive a real browser inside
#     a loopback-only network namespace. They fail, never skip, without it;
#   - curl: a test runs the README's walk-through as written;
#   - nodejs and npm: a test verifies our webhook signatures with the
#     Standard Webhooks library (npm install standardwebhooks, cached), and
#     one validates our FHIR resources against the official R4 JSON schema
#     with ajv (npm install, pinned and checksummed, cached).
# Between vet and the tests, golangci-lint (see .golangci.yml) must report
# nothing.
#
# Arguments go to every go test: ./scripts/test.sh -short skips the browser
# tests (a quick local loop); -run narrows as usual. Without arguments it
# runs everything. It prints a line per phase with the seconds elapsed.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"

have_pg() { command -v initdb >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; }
have_pyical() { /usr/bin/python3 -c 'import icalendar' >/dev/null 2>&1 || python3 -c 'import icalendar' >/dev/null 2>&1; }
missing=""
if [ -z "${TEST_DATABASE_URL:-}" ] && ! have_pg; then missing="$missing postgresql"; fi
if ! have_pyical; then missing="$missing python3-icalendar"; fi
if ! command -v chromium >/dev/null 2>&1 && ! command -v chromium-browser >/dev/null 2>&1; then missing="$missing chromium"; fi
if ! command -v ip >/dev/null 2>&1; then missing="$missing iproute2"; fi
if ! command -v curl >/dev/null 2>&1; then missing="$missing curl"; fi
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then missing="$missing nodejs npm"; fi
SECONDS=0
phase() { printf 'test.sh: [%3ds] %s\n' "$SECONDS" "$*" >&2; }
trap 'phase "FAILED"' ERR
if [ -n "$missing" ]; then
  phase "installing$missing"
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  # shellcheck disable=SC2086
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing >/dev/null
fi

phase "gofmt"
unformatted=$(gofmt -l cmd internal)
if [ -n "$unformatted" ]; then
  echo "test.sh: not gofmt-formatted:" >&2; echo "$unformatted" >&2; exit 1
fi
phase "go vet ./... (compiles every package first: about a minute with an empty build cache)"
go vet ./...
# golangci-lint is pinned in its own module (tools/lint/go.mod) so that its
# dependencies stay out of the service's go.mod; go tool builds it from the
# module proxy the first time (a few minutes) and reuses the build after.
phase "golangci-lint run ./... (.golangci.yml; the first run downloads and builds the linter: a few minutes)"
go tool -modfile=tools/lint/go.mod golangci-lint run ./...
# The browser tests (cmd/teleconsult) run after the rest, not beside it: on
# two cores, a WebRTC call in Chromium under the race detector competing
# with every other package's tests is slow enough to miss a deadline.
# go vet has run in full, so go test does not vet again (-vet=off).
pkgs=$(go list ./... | grep -v '/cmd/teleconsult$')
phase "go test -race: $(echo "$pkgs" | wc -l) packages (compiled with the race detector first: the first result takes a minute or two)"
# shellcheck disable=SC2086
go test -race -vet=off -count=1 -timeout 15m "$@" $pkgs
phase "go test -race ./cmd/teleconsult: the whole service, the README walk-through, Chromium calls"
go test -race -vet=off -count=1 -timeout 15m "$@" ./cmd/teleconsult
phase "all passed"
