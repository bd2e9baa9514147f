package web

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"regexp"
	"testing"
)

// vendoredBackground are the assets that scripts/vendor-selfie-segmentation.sh
// copies from the npm package @mediapipe/selfie_segmentation (not written
// here: the checks of our own scripts skip them), with the variable that
// pins each one's sha256.
var vendoredBackground = map[string]string{
	"selfie-segmentation.js":               "SOLUTION_SHA256",
	"selfie-segmentation-wasm.js":          "RUNTIME_SHA256",
	"selfie-segmentation.wasm":             "WASM_SHA256",
	"selfie-segmentation.binarypb":         "GRAPH_SHA256",
	"selfie-segmentation-landscape.tflite": "MODEL_SHA256",
}

// Ensure the vendored segmentation files are the ones the script pins, so
// that none is edited by hand or left half updated.
func TestVendoredBackgroundAssets(t *testing.T) {
	script, err := os.ReadFile("../../scripts/vendor-selfie-segmentation.sh")
	if err != nil {
		t.Fatal(err)
	}
	if n := len(regexp.MustCompile(`(?m)^\t"\S+ \S+ [A-Z_]+_SHA256"$`).FindAll(script, -1)); n != len(vendoredBackground) {
		t.Fatalf("the script copies %d files, vendoredBackground lists %d", n, len(vendoredBackground))
	}
	for name, v := range vendoredBackground {
		m := regexp.MustCompile(`(?m)^` + v + `=([0-9a-f]{64})$`).FindSubmatch(script)
		if m == nil {
			t.Fatalf("the script pins no %s", v)
		}
		if !regexp.MustCompile(`(?m)^\t"\S+ ` + regexp.QuoteMeta(name) + ` ` + v + `"$`).Match(script) {
			t.Errorf("the script does not copy %s under %s", name, v)
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
