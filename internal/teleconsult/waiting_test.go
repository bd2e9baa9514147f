package teleconsult

import (
	"strings"
	"testing"
	"time"
)

func bp(b bool) *bool { return &b }

// Ensure who waits and who admits follows WAITING_ROOM and the
// privileges, with their defaults (basic waits, plus admits).
func TestWaitsAdmits(t *testing.T) {
	tests := []struct {
		name                  string
		on                    bool
		basic, plus           Privilege
		basicWaits, plusWaits bool
		basicAdm, plusAdm     bool
	}{
		{"off", false, Privilege{}, Privilege{}, false, false, false, false},
		{"defaults", true, Privilege{}, Privilege{}, true, false, false, true},
		{"basic does not wait", true, Privilege{Waits: bp(false)}, Privilege{}, false, false, false, true},
		{"basic admits too", true, Privilege{Admits: bp(true)}, Privilege{}, true, false, true, true},
		{"plus waits for plus", true, Privilege{}, Privilege{Waits: bp(true), Admits: bp(true)}, true, true, false, true},
		{"off ignores the privileges", false, Privilege{Waits: bp(true)}, Privilege{Admits: bp(true)}, false, false, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := Settings{WaitingRoom: tt.on, Config: ServiceConfig{Privileges: Privileges{Basic: tt.basic, Plus: tt.plus}}}
			got := [4]bool{s.Waits(RoleBasic), s.Waits(RolePlus), s.Admits(RoleBasic), s.Admits(RolePlus)}
			want := [4]bool{tt.basicWaits, tt.plusWaits, tt.basicAdm, tt.plusAdm}
			if got != want {
				t.Errorf("waits basic, plus; admits basic, plus = %v, want %v", got, want)
			}
			if s.Admits(RoleUnknown) || s.Waits(RoleUnknown) != tt.on {
				t.Error("an unknown role admits, or does not wait with the room on")
			}
		})
	}
}

// Ensure the configuration file carries waits and admits, and refuses
// privileges under which nobody could ever let anyone in.
func TestParseWaitingPrivileges(t *testing.T) {
	tests := []struct {
		json   string
		err    string
		waits  [2]bool // basic, plus
		admits [2]bool
	}{
		{json: `{"privileges":{"basic":{"groups":["p"]},"plus":{"groups":["d"]}}}`, waits: [2]bool{true, false}, admits: [2]bool{false, true}},
		{json: `{"privileges":{"basic":{"groups":["p"],"waits":false},"plus":{"groups":["d"],"admits":false}}}`, waits: [2]bool{false, false}, admits: [2]bool{false, false}},
		{json: `{"privileges":{"basic":{"groups":["p"],"admits":true},"plus":{"groups":["d"],"waits":true}}}`, err: "nobody could let anyone in"},
		{json: `{"privileges":{"basic":{"groups":["p"]},"plus":{"groups":["d"],"admits":false}}}`, err: "nobody could let anyone in"},
		{json: `{"privileges":{"basic":{"groups":["p"],"waits":"yes"},"plus":{"groups":["d"]}}}`, err: "cannot unmarshal"},
		{json: `{"privileges":{"basic":{"groups":["p"],"wait":true},"plus":{"groups":["d"]}}}`, err: "unknown field"},
	}
	for _, tt := range tests {
		cfg, err := ParseServiceConfig(strings.NewReader(tt.json), "miauserid")
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%s: err %v, want %q", tt.json, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tt.json, err)
			continue
		}
		p := cfg.Privileges
		if w, a := [2]bool{p.Waits(RoleBasic), p.Waits(RolePlus)}, [2]bool{p.Admits(RoleBasic), p.Admits(RolePlus)}; w != tt.waits || a != tt.admits {
			t.Errorf("%s: waits %v admits %v, want %v %v", tt.json, w, a, tt.waits, tt.admits)
		}
	}
}

// Ensure the option "admit automatically from the appointment start" lets
// in from the start on, and only when chosen.
func TestAutoAdmits(t *testing.T) {
	start := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	w := Window{Opens: start.Add(-10 * time.Minute), Start: start, End: start.Add(time.Hour)}
	tests := []struct {
		at   time.Duration
		on   bool
		want bool
	}{
		{-time.Minute, true, false},
		{-time.Nanosecond, true, false},
		{0, true, true},
		{30 * time.Minute, true, true},
		{30 * time.Minute, false, false},
		{0, false, false},
	}
	for _, tt := range tests {
		if got := AutoAdmits(w, start.Add(tt.at), tt.on); got != tt.want {
			t.Errorf("AutoAdmits(start%+v, %v) = %v, want %v", tt.at, tt.on, got, tt.want)
		}
	}
}

// Ensure the waiting page's status: the host's state, whether they were
// told, minutes late counted from the appointment's start while nobody
// who admits is in the call, and the estimated start.
func TestWaitingStatus(t *testing.T) {
	start := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	w := Window{Opens: start.Add(-10 * time.Minute), Start: start, End: start.Add(time.Hour)}
	tests := []struct {
		name              string
		at                time.Duration
		connected, inCall bool
		host              HostState
		told              bool
		late              int
		estimated         time.Time
	}{
		{"early, nobody", -5 * time.Minute, false, false, HostAbsent, false, 0, start},
		{"early, doctor on the pre-join screen", -5 * time.Minute, true, false, HostConnected, true, 0, start},
		{"early, doctor in the call", -5 * time.Minute, true, true, HostInCall, true, 0, start},
		{"59 s after start", 59 * time.Second, false, false, HostAbsent, false, 0, start.Add(59 * time.Second)},
		{"7 min late, nobody", 7*time.Minute + 30*time.Second, false, false, HostAbsent, false, 7, start.Add(7*time.Minute + 30*time.Second)},
		{"7 min late, connected", 7 * time.Minute, true, false, HostConnected, true, 7, start.Add(7 * time.Minute)},
		{"after start, in the call: not late", 7 * time.Minute, true, true, HostInCall, true, 0, start.Add(7 * time.Minute)},
	}
	for _, tt := range tests {
		got := WaitingStatus(w, start.Add(tt.at), tt.connected, tt.inCall)
		want := WaitStatus{Host: tt.host, Told: tt.told, LateMinutes: tt.late, EstimatedStart: tt.estimated}
		if got != want {
			t.Errorf("%s: %+v, want %+v", tt.name, got, want)
		}
	}
}

// Ensure only a participant whose role admits may admit or decline, only
// one who waits, only of the same visit; a decline is the declined
// refusal.
func TestDecide(t *testing.T) {
	s := Settings{WaitingRoom: true, Config: DefaultServiceConfig("miauserid")}
	doc := &Admission{TeleconsultationID: "tc1", Role: RolePlus}
	pat := &Admission{TeleconsultationID: "tc1", Role: RoleBasic}
	other := &Admission{TeleconsultationID: "tc2", Role: RoleBasic}
	tests := []struct {
		name     string
		by, who  *Admission
		admit    bool
		code     string
		reason   Reason
		settings Settings
		removed  bool
	}{
		{"admit", doc, pat, true, "", "", s, false},
		{"decline", doc, pat, false, EFORBIDDEN, ReasonDeclined, s, false},
		{"by a basic", pat, pat, true, EFORBIDDEN, "", s, false},
		{"another visit", doc, other, true, EFORBIDDEN, "", s, false},
		{"one who does not wait", doc, doc, false, EFORBIDDEN, "", s, false},
		{"nobody", doc, nil, true, EFORBIDDEN, "", s, false},
		{"room off", doc, pat, true, EFORBIDDEN, "", Settings{Config: s.Config}, false},
		// Removed by moderation, one who does not wait waits all the same.
		{"removed: admit one who does not wait", doc, doc, true, "", "", s, true},
		{"removed: decline", doc, pat, false, EFORBIDDEN, ReasonDeclined, s, true},
		{"removed: by a basic", pat, pat, true, EFORBIDDEN, "", s, true},
		{"removed: another visit", doc, other, true, EFORBIDDEN, "", s, true},
	}
	for _, tt := range tests {
		decide := tt.settings.Decide
		if tt.removed {
			decide = tt.settings.DecideRemoved
		}
		err := decide(tt.by, tt.who, tt.admit)
		if ErrorCode(err) != tt.code || ReasonOf(err) != tt.reason {
			t.Errorf("%s: %v (code %q, reason %q), want code %q reason %q", tt.name, err, ErrorCode(err), ReasonOf(err), tt.code, tt.reason)
		}
	}
}
