#!/usr/bin/env bash
# Vendors PDF.js (the npm package pdfjs-dist, pinned below) into the call
# page's embedded assets: the whiteboard renders a page of a PDF shared in
# the visit with it (internal/web/static/assets/board.js). The page has no
# build step, so the package's own ES module builds are copied as they are:
#
#   build/pdf.min.mjs         -> internal/web/static/assets/pdfjs.js
#   build/pdf.worker.min.mjs  -> internal/web/static/assets/pdfjs-worker.js
#   LICENSE                   -> internal/web/third_party/pdfjs-dist/LICENSE
#
# The tarball comes from the npm registry through npm itself (npm pack) and
# must match the registry's integrity (sha512) pinned here; each copied file
# must match its pinned sha256. To move to another version, change VERSION,
# run with -print to see the new sums, check them against the registry
# (npm view pdfjs-dist@VERSION dist.integrity), and pin them.
#
#   scripts/vendor-pdfjs.sh          # fetch, check, copy
#   scripts/vendor-pdfjs.sh -check   # only check the copied files' sums
#   scripts/vendor-pdfjs.sh -print   # fetch and print the sums, copy nothing
set -euo pipefail
cd "$(dirname "$0")/.."

VERSION=6.5.438
INTEGRITY=sha512-vg8Pw1x+AFKy4AMDvhuWl5cOYV8d698UoEANoFFhc79hqXDnZQqnOXoxw3HG907WHOg1JYOvLhP756boddFxpA==
PDF_SHA256=3a88402882cfa3e7e72c2c9b5149f52f0f88baf1c5b62aa11a41abdbc2072440
WORKER_SHA256=1e64c8240e54735ec5913b37acd5134747799cb8c6bb3777c70adbc01232d2aa

ASSETS=internal/web/static/assets
LICENSE_DIR=internal/web/third_party/pdfjs-dist

check_sum() { # file sha256
	local got
	got=$(sha256sum "$1" | cut -d' ' -f1)
	if [ "$got" != "$2" ]; then
		echo "vendor-pdfjs: $1: sha256 $got, want $2" >&2
		return 1
	fi
}

if [ "${1:-}" = "-check" ]; then
	check_sum "$ASSETS/pdfjs.js" "$PDF_SHA256"
	check_sum "$ASSETS/pdfjs-worker.js" "$WORKER_SHA256"
	echo "vendor-pdfjs: pdfjs-dist $VERSION in place"
	exit 0
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "pdfjs-dist@$VERSION" >/dev/null)
tgz="$tmp/pdfjs-dist-$VERSION.tgz"
got="sha512-$(openssl dgst -sha512 -binary "$tgz" | base64 -w0)"
if [ "${1:-}" = "-print" ]; then
	tar -xzf "$tgz" -C "$tmp" package/build/pdf.min.mjs package/build/pdf.worker.min.mjs
	echo "INTEGRITY=$got"
	echo "PDF_SHA256=$(sha256sum "$tmp/package/build/pdf.min.mjs" | cut -d' ' -f1)"
	echo "WORKER_SHA256=$(sha256sum "$tmp/package/build/pdf.worker.min.mjs" | cut -d' ' -f1)"
	exit 0
fi
if [ "$got" != "$INTEGRITY" ]; then
	echo "vendor-pdfjs: pdfjs-dist-$VERSION.tgz: integrity $got, want $INTEGRITY" >&2
	exit 1
fi
tar -xzf "$tgz" -C "$tmp" package/build/pdf.min.mjs package/build/pdf.worker.min.mjs package/LICENSE
check_sum "$tmp/package/build/pdf.min.mjs" "$PDF_SHA256"
check_sum "$tmp/package/build/pdf.worker.min.mjs" "$WORKER_SHA256"
mkdir -p "$LICENSE_DIR"
cp "$tmp/package/build/pdf.min.mjs" "$ASSETS/pdfjs.js"
cp "$tmp/package/build/pdf.worker.min.mjs" "$ASSETS/pdfjs-worker.js"
cp "$tmp/package/LICENSE" "$LICENSE_DIR/LICENSE"
echo "pdfjs-dist $VERSION (npm, Apache-2.0)" >"$LICENSE_DIR/VERSION"
echo "vendor-pdfjs: pdfjs-dist $VERSION copied to $ASSETS"
