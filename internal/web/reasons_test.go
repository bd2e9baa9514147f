package web

import (
	"slices"
	"testing"

	"github.com/teleconsult/teleconsult/internal/teleconsult"
)

// Ensure every page of the domain's table of refusal reasons exists in
// every language of the call page: the title (and text) of the screen for
// a refused link and for a call ended with that reason.
func TestRefusalPages(t *testing.T) {
	b, _ := static.ReadFile("static/assets/i18n.js")
	dicts := map[string][]string{}
	for _, m := range dictRE.FindAllStringSubmatch(string(b), -1) {
		for _, k := range keyRE.FindAllStringSubmatch(m[2], -1) {
			dicts[m[1]] = append(dicts[m[1]], k[1])
		}
	}
	if len(dicts) < 2 {
		t.Fatalf("found the texts of %d languages", len(dicts))
	}
	for _, ref := range teleconsult.Refusals() {
		for _, key := range []string{ref.LinkPage, ref.CallPage} {
			for lang, keys := range dicts {
				if !slices.Contains(keys, key+".title") {
					t.Errorf("%s: page %s has no %s title", ref.Reason, key, lang)
				}
			}
		}
	}
}
