package main

import (
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// axeSource is axe-core (testdata/axe: VERSION, LICENSE), vendored by
// scripts/vendor-axe.sh from its pinned, checksummed npm tarball: an
// independent accessibility checker for the call page's screens.
//
//go:embed testdata/axe/axe.min.js
var axeSource string

// axeSHA256 is the vendored file's checksum, as scripts/vendor-axe.sh
// prints it: an edit of the file fails the tests.
const axeSHA256 = "29348999450cdf2849a8e70b7912fc2da85a849da39c0d0d5394f51d4a9ed95c"

// Ensure the vendored axe-core is the pinned one.
func TestAxeVendored(t *testing.T) {
	sum := sha256.Sum256([]byte(axeSource))
	if got := hex.EncodeToString(sum[:]); got != axeSHA256 {
		t.Errorf("testdata/axe/axe.min.js has SHA-256 %s, want %s: run sh scripts/vendor-axe.sh", got, axeSHA256)
	}
}

// axeViolation is one rule axe-core found broken, with where.
type axeViolation struct {
	ID     string   `json:"id"`
	Impact string   `json:"impact"`
	Help   string   `json:"help"`
	Nodes  []string `json:"nodes"`
}

// axe runs axe-core (WCAG 2.x A and AA rules, and its best practices) on
// the tab's page as it is now, and fails the test for every critical or
// serious violation; what names the screen.
func (tt *tab) axe(what string) {
	tt.tb.Helper()
	for _, v := range tt.axeViolations() {
		tt.tb.Errorf("%s: %s: axe %s (%s): %s at %s", tt.name, what, v.ID, v.Impact, v.Help, strings.Join(v.Nodes, ", "))
	}
}

// axeViolations returns the critical and serious violations axe-core finds
// on the tab's page.
func (tt *tab) axeViolations() []axeViolation {
	tt.tb.Helper()
	if eval[bool](tt, `typeof window.axe === 'undefined'`) {
		tt.do(chromedp.Evaluate[chromedp.Void](axeSource))
	}
	out := eval[string](tt, `(async () => {
		const r = await axe.run(document, { resultTypes: ['violations'] });
		return JSON.stringify(r.violations.filter((v) => v.impact === 'critical' || v.impact === 'serious').map((v) => ({
			id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.slice(0, 5).map((n) => n.target.join(' ')),
		})));
	})()`)
	var found []axeViolation
	if err := json.Unmarshal([]byte(out), &found); err != nil {
		tt.tb.Fatalf("%s: axe: %v: %s", tt.name, err, out)
	}
	return found
}

// Ensure axe-core runs on the call page (under its Content-Security-Policy)
// and sees what it must: a button without a name added to the page is a
// critical violation.
func TestAxeFindsViolations(t *testing.T) {
	s := startServer(t, nil)
	v := openVisit(t, s, 30*time.Minute)
	tt := openTab(t, "patient")
	tt.navigate(v.Patient)
	tt.waitScreen("prejoin", 10*time.Second)
	if found := tt.axeViolations(); len(found) != 0 {
		t.Errorf("the pre-join screen: %+v", found)
	}
	tt.do(chromedp.Evaluate[chromedp.Void](`document.querySelector('main').append(document.createElement('button'))`))
	found := tt.axeViolations()
	if !slices.ContainsFunc(found, func(v axeViolation) bool { return v.ID == "button-name" && v.Impact == "critical" }) {
		t.Errorf("a button without a name: axe found %+v", found)
	}
}
