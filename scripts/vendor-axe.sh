#!/bin/sh
# Vendors axe-core, the accessibility checker the browser tests run on the
# call page (cmd/teleconsult/browser_axe_test.go), into
# cmd/teleconsult/testdata/axe: the pinned version from the npm registry,
# its tarball checked against a pinned SHA-256 before anything is taken
# out of it. Test-only: nothing of it is served or embedded in the binary.
# Run from the repository's root: sh scripts/vendor-axe.sh
set -eu
VERSION=4.14.1
TARBALL_SHA256=e6b0ce02b84d892e2e33e403485e7f3d6c29e2be6df65daf44d89ba564139745
dest=cmd/teleconsult/testdata/axe

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "axe-core@$VERSION" >/dev/null)
echo "$TARBALL_SHA256  $tmp/axe-core-$VERSION.tgz" | sha256sum -c --quiet -
tar -xzf "$tmp/axe-core-$VERSION.tgz" -C "$tmp" package/axe.min.js package/LICENSE
mkdir -p "$dest"
cp "$tmp/package/axe.min.js" "$dest/axe.min.js"
cp "$tmp/package/LICENSE" "$dest/LICENSE"
echo "$VERSION" >"$dest/VERSION"
sha256sum "$dest/axe.min.js"
