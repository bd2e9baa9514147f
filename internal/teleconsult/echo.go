package teleconsult

import "strings"

// MaxEcho is how many characters of a value a caller sent an error message
// may repeat.
const MaxEcho = 32

// Quote returns s as an error message may show it: at most [MaxEcho]
// characters, each printable ASCII (any other character, and the quote
// and backslash, become ?), in double quotes, followed by ... when cut.
// Messages carry what the caller needs to find its mistake, never a long
// or unprintable copy of its input (a name typed into an id stays short,
// and no control or bidirectional character reaches a log or a page).
func Quote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	n := 0
	for _, r := range s {
		if n == MaxEcho {
			b.WriteString(`"...`)
			return b.String()
		}
		if r < 0x20 || r > 0x7e || r == '"' || r == '\\' {
			r = '?'
		}
		b.WriteRune(r)
		n++
	}
	b.WriteByte('"')
	return b.String()
}
