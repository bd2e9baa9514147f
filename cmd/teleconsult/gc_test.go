package main

import (
	"runtime/debug"
	"testing"
)

func TestSetGCPercent(t *testing.T) {
	prev := debug.SetGCPercent(100)
	defer debug.SetGCPercent(prev)

	env := func(v string) func(string) string {
		return func(k string) string {
			if k == "GOGC" {
				return v
			}
			return ""
		}
	}
	if got := setGCPercent(env("")); got != gcPercent {
		t.Errorf("GOGC unset: %d, want %d", got, gcPercent)
	}
	if got := debug.SetGCPercent(77); got != gcPercent {
		t.Errorf("GOGC unset: the runtime has %d, want %d", got, gcPercent)
	}
	// GOGC set: the runtime applied it at start (77 here); it stays.
	if got := setGCPercent(env("77")); got != 77 {
		t.Errorf("GOGC=77: %d, want 77 kept", got)
	}
	if got := debug.SetGCPercent(100); got != 77 {
		t.Errorf("GOGC=77: the runtime has %d, want 77", got)
	}
}
