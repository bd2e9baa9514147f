package main

import (
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/teleconsult/teleconsult/internal/teleconsult"
)

// Ensure the README's table of refusal reasons lists the domain's table:
// every reason, in order, with its HTTP status.
func TestREADMEReasonsTable(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, table, ok := strings.Cut(string(b), "| `reason` | status | when |\n|---|---|---|\n")
	if !ok {
		t.Fatal("README.md: no table of refusal reasons")
	}
	var got, want []string
	for _, line := range strings.Split(table, "\n") {
		cells := strings.Split(line, "|")
		if !strings.HasPrefix(line, "|") || len(cells) != 5 {
			break
		}
		got = append(got, strings.Trim(strings.TrimSpace(cells[1]), "`")+" "+strings.TrimSpace(cells[2]))
	}
	for _, ref := range teleconsult.Refusals() {
		want = append(want, string(ref.Reason)+" "+strconv.Itoa(ref.HTTPStatus))
	}
	if !slices.Equal(got, want) {
		t.Errorf("README.md reasons:\n%q\nthe table of internal/teleconsult/reason.go:\n%q", got, want)
	}
}
