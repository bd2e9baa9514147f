package main

import (
	"strings"
	"testing"
)

// Ensure WAITING_ROOM reaches the rules: off by default, on with true,
// and a bad value stops start-up naming it.
func TestConfigWaitingRoom(t *testing.T) {
	for _, tt := range []struct {
		value string
		want  bool
		err   string
	}{
		{"", false, ""},
		{"true", true, ""},
		{"1", true, ""},
		{"false", false, ""},
		{"lobby", false, "WAITING_ROOM"},
	} {
		vars := map[string]string{}
		if tt.value != "" {
			vars["WAITING_ROOM"] = tt.value
		}
		c, err := LoadConfig(env(vars))
		switch {
		case tt.err != "":
			if err == nil || !strings.Contains(err.Error(), tt.err) || !strings.Contains(err.Error(), "true or false") {
				t.Errorf("WAITING_ROOM=%q: err %v, want one naming %s", tt.value, err, tt.err)
			}
		case err != nil:
			t.Errorf("WAITING_ROOM=%q: %v", tt.value, err)
		case c.Settings().WaitingRoom != tt.want:
			t.Errorf("WAITING_ROOM=%q: Settings().WaitingRoom = %v", tt.value, c.Settings().WaitingRoom)
		}
	}
}
