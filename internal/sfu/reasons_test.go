package sfu

import (
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/coder/websocket"

	"github.com/teleconsult/teleconsult/internal/teleconsult"
)

// docEnd is a row of the table of end reasons in docs/signalling.md.
type docEnd struct {
	code     websocket.StatusCode
	refusals []string
}

// docEnds reads the table "End reasons and close codes" of
// docs/signalling.md.
func docEnds(t *testing.T) map[string]docEnd {
	t.Helper()
	b, err := os.ReadFile("../../docs/signalling.md")
	if err != nil {
		t.Fatal(err)
	}
	_, table, ok := strings.Cut(string(b), "| reason | close | refusal | when | page should |")
	if !ok {
		t.Fatal("docs/signalling.md: no table of end reasons (| reason | close | refusal | when | page should |)")
	}
	out := map[string]docEnd{}
	for _, line := range strings.Split(table, "\n")[2:] {
		if !strings.HasPrefix(line, "|") {
			break
		}
		cells := strings.Split(line, "|")
		if len(cells) != 7 {
			t.Fatalf("docs/signalling.md: row %q has %d cells", line, len(cells)-2)
		}
		reason := strings.Trim(strings.TrimSpace(cells[1]), "`")
		code, err := strconv.Atoi(strings.TrimSpace(cells[2]))
		if err != nil {
			t.Fatalf("docs/signalling.md: close code of %s: %v", reason, err)
		}
		var refusals []string
		for _, r := range strings.Split(cells[3], ",") {
			if r = strings.Trim(strings.TrimSpace(r), "`"); r != "" {
				refusals = append(refusals, r)
			}
		}
		if _, dup := out[reason]; dup {
			t.Errorf("docs/signalling.md: %s twice", reason)
		}
		out[reason] = docEnd{code: websocket.StatusCode(code), refusals: refusals}
	}
	return out
}

// Ensure docs/signalling.md's table of end reasons says what the code
// does: every end reason with its close code, and for each the domain's
// refusal reasons that end a call with it.
func TestDocumentedEndReasons(t *testing.T) {
	doc := docEnds(t)
	want := map[string]docEnd{}
	for reason, code := range endCodes {
		want[reason] = docEnd{code: code}
	}
	for _, ref := range teleconsult.Refusals() {
		d := want[ref.End]
		d.refusals = append(d.refusals, string(ref.Reason))
		want[ref.End] = d
	}
	for reason, w := range want {
		d, ok := doc[reason]
		switch {
		case !ok:
			t.Errorf("end reason %s (close %d) is not in docs/signalling.md", reason, w.code)
		case d.code != w.code:
			t.Errorf("docs/signalling.md: %s closes with %d, the code uses %d", reason, d.code, w.code)
		case !slices.Equal(d.refusals, w.refusals):
			t.Errorf("docs/signalling.md: %s comes from refusals %v, the table of teleconsult has %v", reason, d.refusals, w.refusals)
		}
	}
	for reason := range doc {
		if _, ok := want[reason]; !ok {
			t.Errorf("docs/signalling.md has end reason %s, which the code never sends", reason)
		}
	}
}

// Ensure a refusal of Admit or Recheck ends the connection with its row's
// end reason and close code, and that any other error is transient (the
// participant is kept, a new connection told to try again).
func TestRefusalEnds(t *testing.T) {
	for _, ref := range teleconsult.Refusals() {
		reason, code, transient := refusalEnd(teleconsult.Refuse(ref.Reason, "m"))
		if reason != ref.End || int(code) != ref.CloseCode || transient || endCodes[reason] != code {
			t.Errorf("%s: end %q, close %d, transient %v; want %q, %d", ref.Reason, reason, code, transient, ref.End, ref.CloseCode)
		}
	}
	for _, err := range []error{
		teleconsult.Errorf(teleconsult.EUNAVAILABLE, "database unavailable"),
		teleconsult.Errorf(teleconsult.EGONE, "gone, but no reason"),
		os.ErrDeadlineExceeded,
	} {
		if reason, code, transient := refusalEnd(err); reason != endUnavailable || code != websocket.StatusTryAgainLater || !transient {
			t.Errorf("%v: end %q, close %d, transient %v; want unavailable, 1013, transient", err, reason, code, transient)
		}
	}
}
