#!/usr/bin/env bash
# Vendors MediaPipe's selfie segmentation (the npm package
# @mediapipe/selfie_segmentation, pinned below) into the call page's
# embedded assets: the virtual background (internal/web/static/assets/
# background.js) finds the person in each camera frame with it, in the
# browser, with nothing fetched at run time. The page has no build step, so
# the package's files are copied as they are, under the page's asset names:
#
#   selfie_segmentation.js                          -> selfie-segmentation.js
#   selfie_segmentation_solution_simd_wasm_bin.js   -> selfie-segmentation-wasm.js
#   selfie_segmentation_solution_simd_wasm_bin.wasm -> selfie-segmentation.wasm
#   selfie_segmentation.binarypb                    -> selfie-segmentation.binarypb
#   selfie_segmentation_landscape.tflite            -> selfie-segmentation-landscape.tflite
#
# Only the SIMD build of the runtime (every current browser runs WebAssembly
# SIMD) and the landscape model (256×144, the faster of the two) are
# copied: 6.2 MB in all. The package is Apache-2.0 (its package.json).
#
# The tarball comes from the npm registry through npm itself (npm pack) and
# must match the registry's integrity (sha512) pinned here; each copied file
# must match its pinned sha256. To move to another version, change VERSION,
# run with -print to see the new sums, check them against the registry
# (npm view @mediapipe/selfie_segmentation@VERSION dist.integrity), and pin
# them.
#
#   scripts/vendor-selfie-segmentation.sh          # fetch, check, copy
#   scripts/vendor-selfie-segmentation.sh -check   # only check the copied files' sums
#   scripts/vendor-selfie-segmentation.sh -print   # fetch and print the sums, copy nothing
set -euo pipefail
cd "$(dirname "$0")/.."

VERSION=0.1.1675465747
INTEGRITY=sha512-IxYxNhwE5VwOm52L1yoFWYLP7q9Pd+NJjzOC5tlepfvEGaY3o9hslhUrx9BgseqdfZtKSDtd/4NfCSMjNzQalA==
SOLUTION_SHA256=a4720d2d2374ec9df3510461ff186a4af427fb5bd402375e135875a991467da3
RUNTIME_SHA256=9406e7e30843bdca189689d4bea413f3e468f71e381560e583ef12792d26d46a
WASM_SHA256=d93e73677ef1fe791ff5407083c0f9ced6d6050a705bd6c20823fc05919d8dc4
GRAPH_SHA256=0007be42c754f111063c0121bba7104880b7c56277d3a9681cdcb17709236aee
MODEL_SHA256=4aafe6223bb8dac6fac8ca8ed56852870a33051ef3f6238822d282a109962894

ASSETS=internal/web/static/assets
NOTICE_DIR=internal/web/third_party/mediapipe-selfie-segmentation

# files: package file, asset name, pinned sum's variable.
FILES=(
	"selfie_segmentation.js selfie-segmentation.js SOLUTION_SHA256"
	"selfie_segmentation_solution_simd_wasm_bin.js selfie-segmentation-wasm.js RUNTIME_SHA256"
	"selfie_segmentation_solution_simd_wasm_bin.wasm selfie-segmentation.wasm WASM_SHA256"
	"selfie_segmentation.binarypb selfie-segmentation.binarypb GRAPH_SHA256"
	"selfie_segmentation_landscape.tflite selfie-segmentation-landscape.tflite MODEL_SHA256"
)

check_sum() { # file sha256
	local got
	got=$(sha256sum "$1" | cut -d' ' -f1)
	if [ "$got" != "$2" ]; then
		echo "vendor-selfie-segmentation: $1: sha256 $got, want $2" >&2
		return 1
	fi
}

if [ "${1:-}" = "-check" ]; then
	for f in "${FILES[@]}"; do
		read -r _ asset var <<<"$f"
		check_sum "$ASSETS/$asset" "${!var}"
	done
	echo "vendor-selfie-segmentation: @mediapipe/selfie_segmentation $VERSION in place"
	exit 0
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "@mediapipe/selfie_segmentation@$VERSION" >/dev/null)
tgz="$tmp/mediapipe-selfie_segmentation-$VERSION.tgz"
got="sha512-$(openssl dgst -sha512 -binary "$tgz" | base64 -w0)"
tar -xzf "$tgz" -C "$tmp"
if [ "${1:-}" = "-print" ]; then
	echo "INTEGRITY=$got"
	for f in "${FILES[@]}"; do
		read -r src _ var <<<"$f"
		echo "$var=$(sha256sum "$tmp/package/$src" | cut -d' ' -f1)"
	done
	exit 0
fi
if [ "$got" != "$INTEGRITY" ]; then
	echo "vendor-selfie-segmentation: integrity $got, want $INTEGRITY" >&2
	exit 1
fi
for f in "${FILES[@]}"; do
	read -r src _ var <<<"$f"
	check_sum "$tmp/package/$src" "${!var}"
done
for f in "${FILES[@]}"; do
	read -r src asset _ <<<"$f"
	install -m 0644 "$tmp/package/$src" "$ASSETS/$asset"
done
mkdir -p "$NOTICE_DIR"
install -m 0644 "$tmp/package/package.json" "$NOTICE_DIR/package.json"
echo "@mediapipe/selfie_segmentation $VERSION (npm, Apache-2.0 per its package.json; the package ships no LICENSE file)" >"$NOTICE_DIR/VERSION"
echo "vendor-selfie-segmentation: @mediapipe/selfie_segmentation $VERSION copied to $ASSETS"
