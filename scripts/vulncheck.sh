#!/usr/bin/env bash
# Reports the known vulnerabilities (the Go vulnerability database) that the
# code of this module can reach, in its dependencies and in the Go standard
# library of the toolchain that builds it, with govulncheck (pinned below,
# fetched through the module proxy).
#
#   scripts/vulncheck.sh                    # against https://vuln.go.dev
#   GOVULNDB=file:///srv/vulndb scripts/vulncheck.sh
#   scripts/vulncheck.sh -show verbose      # more govulncheck flags
#
# GOVULNDB names the database: an https URL of a server following the
# database's API, or a file:// URL of a local copy (a directory holding
# index/modules.json). A copy is made where vuln.go.dev is reachable:
#   curl -fLO https://vuln.go.dev/vulndb.zip && unzip -q vulndb.zip -d /srv/vulndb
# and copied to the machine that runs the check.
#
# Exit status: 0 no vulnerability reached; 3 some reached (govulncheck's own
# status); 2 the database cannot be read (nothing was checked).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"

GOVULNCHECK=golang.org/x/vuln/cmd/govulncheck@v1.9.0
db="${GOVULNDB:-https://vuln.go.dev}"

unreachable() {
  echo "vulncheck.sh: cannot read the Go vulnerability database at $db: $1." >&2
  echo "  Nothing was checked. Run it where vuln.go.dev is reachable, or give it a local copy:" >&2
  echo "    curl -fLO https://vuln.go.dev/vulndb.zip && unzip -q vulndb.zip -d /srv/vulndb   (where reachable)" >&2
  echo "    GOVULNDB=file:///srv/vulndb scripts/vulncheck.sh" >&2
  exit 2
}

case "$db" in
  file://*)
    dir="${db#file://}"
    [ -f "$dir/index/modules.json" ] || unreachable "$dir/index/modules.json does not exist (not an unzipped vulndb.zip)"
    ;;
  https://* | http://*)
    if command -v curl >/dev/null 2>&1; then
      why=$(curl -fsS -o /dev/null --head --max-time 20 "$db/index/modules.json.gz" 2>&1) || unreachable "${why#curl: }"
    fi
    ;;
  *)
    unreachable "GOVULNDB must be an https:// or a file:// URL"
    ;;
esac

# go install, not go run: go run turns govulncheck's exit status into 1.
bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT
GOBIN="$bin" go install "$GOVULNCHECK"
echo "vulncheck.sh: $GOVULNCHECK against $db" >&2
status=0
"$bin/govulncheck" -db "$db" "$@" ./... || status=$?
exit "$status"
