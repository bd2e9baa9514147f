package web

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"regexp"
	"testing"
)

// vendored are the assets copied from npm packages by scripts in scripts/
// (not written here: the checks of our own scripts skip them).
var vendored = map[string]bool{"pdfjs.js": true, "pdfjs-worker.js": true}

// Ensure the vendored assets are the files that scripts/vendor-pdfjs.sh
// pins (by sha256), so that none is edited by hand or left half updated.
func TestVendoredAssets(t *testing.T) {
	script, err := os.ReadFile("../../scripts/vendor-pdfjs.sh")
	if err != nil {
		t.Fatal(err)
	}
	pins := map[string]string{"pdfjs.js": "PDF_SHA256", "pdfjs-worker.js": "WORKER_SHA256"}
	if len(pins) != len(vendored) {
		t.Fatalf("vendored %v, pinned %v", vendored, pins)
	}
	for name, v := range pins {
		m := regexp.MustCompile(`(?m)^` + v + `=([0-9a-f]{64})$`).FindSubmatch(script)
		if m == nil {
			t.Fatalf("scripts/vendor-pdfjs.sh pins no %s", v)
		}
		b, err := static.ReadFile("static/assets/" + name)
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(b)
		if got := hex.EncodeToString(sum[:]); got != string(m[1]) {
			t.Errorf("%s: sha256 %s, pinned %s", name, got, m[1])
		}
	}
}
