package teleconsult_test

import (
	"testing"
	"time"

	tc "github.com/teleconsult/teleconsult/internal/teleconsult"
)

// Ensure every moderation action moves the state as documented, and that
// a repeated or unknown action is refused and changes nothing.
func TestModeratedApply(t *testing.T) {
	none, muted, off := tc.Moderated{}, tc.Moderated{Muted: true}, tc.Moderated{CameraOff: true}
	both := tc.Moderated{Muted: true, CameraOff: true}
	tests := []struct {
		from tc.Moderated
		act  tc.Moderation
		want tc.Moderated
		code string
	}{
		{none, tc.ModerateMute, muted, ""},
		{muted, tc.ModerateMute, muted, tc.ECONFLICT},
		{muted, tc.ModerateUnmute, none, ""},
		{none, tc.ModerateUnmute, none, tc.ECONFLICT},
		{none, tc.ModerateCameraOff, off, ""},
		{off, tc.ModerateCameraOff, off, tc.ECONFLICT},
		{both, tc.ModerateCameraOn, muted, ""},
		{muted, tc.ModerateCameraOn, muted, tc.ECONFLICT},
		{muted, tc.ModerateCameraOff, both, ""},
		{both, tc.ModerateRemove, both, ""},
		{none, tc.Moderation("kick"), none, tc.EINVALID},
		{none, tc.Moderation(""), none, tc.EINVALID},
	}
	for _, tt := range tests {
		got, err := tt.from.Apply(tt.act)
		if got != tt.want || tc.ErrorCode(err) != tt.code {
			t.Errorf("%+v.Apply(%q) = %+v, %v; want %+v, code %q", tt.from, tt.act, got, err, tt.want, tt.code)
		}
	}
	for _, m := range tc.Moderations() {
		if !m.Valid() {
			t.Errorf("%s is not valid", m)
		}
	}
	if tc.Moderation("Mute").Valid() {
		t.Error("a moderation of another case is valid")
	}
}

// Ensure only a participant who admits moderates, and only someone else of
// the same visit who does not admit; the waiting room off, nobody does.
func TestModerate(t *testing.T) {
	doc := &tc.Admission{TeleconsultationID: "v1", ParticipantID: "u_doc", Role: tc.RolePlus}
	doc2 := &tc.Admission{TeleconsultationID: "v1", ParticipantID: "u_doc2", Role: tc.RolePlus}
	pat := &tc.Admission{TeleconsultationID: "v1", ParticipantID: "u_pat", Role: tc.RoleBasic}
	pat2 := &tc.Admission{TeleconsultationID: "v1", ParticipantID: "u_pat2", Role: tc.RoleBasic}
	other := &tc.Admission{TeleconsultationID: "v2", ParticipantID: "u_x", Role: tc.RoleBasic}
	on := tc.DefaultSettings()
	on.WaitingRoom = true
	off := tc.DefaultSettings()
	basicAdmits := tc.DefaultSettings()
	basicAdmits.WaitingRoom = true
	yes := true
	basicAdmits.Config.Privileges.Basic.Admits = &yes
	tests := []struct {
		name    string
		s       *tc.Settings
		by, who *tc.Admission
		msg     string
	}{
		{"doctor mutes patient", &on, doc, pat, ""},
		{"patient mutes patient", &on, pat2, pat, "you may not moderate participants"},
		{"patient mutes doctor", &on, pat, doc, "you may not moderate participants"},
		{"room off", &off, doc, pat, "you may not moderate participants"},
		{"another visit", &on, doc, other, "this participant is not in this call"},
		{"nobody", &on, doc, nil, "this participant is not in this call"},
		{"no caller", &on, nil, pat, "you may not moderate participants"},
		{"self", &on, doc, doc, "you cannot moderate yourself"},
		{"another doctor", &on, doc, doc2, "this participant may moderate too and cannot be moderated"},
		{"a patient who admits is not moderated", &basicAdmits, doc, pat, "this participant may moderate too and cannot be moderated"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.s.Moderate(tt.by, tt.who)
			if tt.msg == "" {
				if err != nil {
					t.Errorf("refused: %v", err)
				}
				return
			}
			if tc.ErrorCode(err) != tc.EFORBIDDEN || tc.ErrorMessage(err) != tt.msg {
				t.Errorf("err = %v, want forbidden %q", err, tt.msg)
			}
		})
	}
	if r := tc.Removed(); tc.ReasonOf(r) != tc.ReasonRemoved || r.Code != tc.EFORBIDDEN {
		t.Errorf("Removed() = %+v", r)
	}
}

// waitingSFU is the domain tests' built-in provider with a waiting room.
type waitingSFU struct {
	*builtin
	list map[string][]tc.WaitingPerson // by teleconsultation id
}

var _ tc.WaitingLister = (*waitingSFU)(nil)

func (w *waitingSFU) WaitingFor(id string) []tc.WaitingPerson { return w.list[id] }

// Ensure GET's view lists who waits, with their names from the visit, for a
// participant whose role admits only, with the waiting room on; an empty
// list (not none) when nobody waits; a waiting id the visit no longer has
// is left out.
func TestViewWaiting(t *testing.T) {
	f := newFixture(t, func(s *tc.Settings) { s.WaitingRoom = true })
	sfu := &waitingSFU{builtin: f.sfu, list: map[string][]tc.WaitingPerson{}}
	f.svc.Provider = sfu
	id, err := f.svc.Create(ctx, validCreate())
	if err != nil {
		t.Fatal(err)
	}
	f.clock.Set(start.Add(-5 * time.Minute))
	v, err := f.svc.View(ctx, id, "doc-1", tc.LinkOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if v.Waiting == nil || len(v.Waiting) != 0 {
		t.Errorf("nobody waits: %#v", v.Waiting)
	}
	got, err := f.store.FindByID(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	pat := got.Participant("pat-1").ProviderUserID
	since := f.clock.Now().Add(-2 * time.Minute)
	sfu.list[id] = []tc.WaitingPerson{{ParticipantID: pat, Since: since}, {ParticipantID: "u_gone", Since: since}}
	v, err = f.svc.View(ctx, id, "doc-1", tc.LinkOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(v.Waiting) != 1 || v.Waiting[0].ParticipantID != pat || v.Waiting[0].FullName != "Mario Rossi" || !v.Waiting[0].Since.Equal(since) {
		t.Errorf("waiting = %+v", v.Waiting)
	}
	if v, err := f.svc.View(ctx, id, "pat-1", tc.LinkOptions{}); err != nil || v.Waiting != nil {
		t.Errorf("the patient sees the waiting room: %v %+v", err, v)
	}
	f.svc.Settings.WaitingRoom = false
	if v, err := f.svc.View(ctx, id, "doc-1", tc.LinkOptions{}); err != nil || v.Waiting != nil {
		t.Errorf("waiting room off: %v %+v", err, v)
	}
}
