#!/usr/bin/env bash
# Measures the built-in SFU per call, the same way each time: the SFU in a
# separate server process pinned to one core (taskset), driven by the load
# generator of internal/sfu/load_test.go (pion participants, two-party
# calls, VP8 at 1.5 Mbit/s plus Opus each way), at 10, 50 and 100
# concurrent calls. It prints one row per step: loss, CPU in % of one core
# (the server's, and per call), RSS, live heap and goroutines per call (the
# growth since idle divided by the calls), p95 join (dial to first RTP
# packet from the other participant), and other% (the CPU every other
# process took in the window, in % of one core: the machine's other load,
# to report with the figures). It saves the server's CPU, heap and
# goroutine profiles at 50 calls.
#
#   scripts/sfu-load.sh                       # profiles in ./sfu-load-profiles
#   SFU_LOAD_CALLS=10,50,100,150 SFU_LOAD_CPU=1 scripts/sfu-load.sh -load.hold 20s
#   go tool pprof -top sfu-load-profiles/cpu.pprof
#
# Environment: SFU_LOAD_CALLS the steps (default 10,50,100); SFU_LOAD_CPU
# the server's CPU list for taskset -c (default 0; the load generator runs
# on every CPU); SFU_LOAD_PROFILES the profiles' directory; SFU_LOAD_AT the
# step of the profiles (default 50). Further arguments go to the test
# (its -load.* flags, see load_test.go), e.g. -load.pace 100ms to start a
# step's calls 100 ms apart instead of all at once. The server's GOMAXPROCS
# follows its affinity: 1 for one core. GOGC is 50 unless set, as in the
# teleconsult binary (cmd/teleconsult: gcPercent).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"

calls="${SFU_LOAD_CALLS:-10,50,100}"
cpu="${SFU_LOAD_CPU:-0}"
profiles="${SFU_LOAD_PROFILES:-$PWD/sfu-load-profiles}"
at="${SFU_LOAD_AT:-50}"
export GOGC="${GOGC:-50}" # the binary's default (cmd/teleconsult), for the server process

command -v taskset >/dev/null || { echo "sfu-load.sh: taskset (util-linux) is needed to pin the server" >&2; exit 2; }
bin="$(mktemp -d)"
trap 'rm -rf "$bin"' EXIT
go test -c -o "$bin/sfu.test" ./internal/sfu
cd internal/sfu # the test's working directory, as under go test
"$bin/sfu.test" -test.run '^TestLoad$' -test.count 1 -test.timeout 0 -test.v \
  -load -load.calls "$calls" -load.servercpus "$cpu" \
  -load.profiledir "$profiles" -load.profileat "$at" "$@"
