package teleconsult

import (
	"strings"
	"testing"
)

func TestQuote(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"", `""`},
		{"nurse", `"nurse"`},
		{"pat-1@clinic", `"pat-1@clinic"`},
		{`a"b\c`, `"a?b?c"`},
		{"line\nbreak\x00", `"line?break?"`},
		{"Jos\u00e9 \u202eevil", `"Jos? ?evil"`},
		{strings.Repeat("x", 32), `"` + strings.Repeat("x", 32) + `"`},
		{strings.Repeat("x", 33), `"` + strings.Repeat("x", 32) + `"...`},
		{strings.Repeat("\u00e9", 100), `"` + strings.Repeat("?", 32) + `"...`},
		{"\xff\xfe", `"??"`},
	} {
		if got := Quote(tt.in); got != tt.want {
			t.Errorf("Quote(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
}
