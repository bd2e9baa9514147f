package teleconsult_test

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	tc "github.com/teleconsult/teleconsult/internal/teleconsult"
)

// reasonVisit is a limited visit of doc-1 and pat-1 (appointment appt-1)
// with what its patient holds: their link code, and a session token and an
// admission taken at the start.
type reasonVisit struct {
	f     *fixture
	id    string
	code  string
	token string
	adm   *tc.Admission
}

func newReasonVisit(t *testing.T, number int) *reasonVisit {
	t.Helper()
	f := newFixture(t, func(s *tc.Settings) { s.Unlimited = false })
	in := validCreate()
	in.AppointmentID = "appt-1"
	in.Number = number
	id, err := f.svc.Create(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	stored, _ := f.store.FindByID(ctx, id)
	link := f.svc.LinkURL(&stored.Participants[1], tc.LinkOptions{})
	v := &reasonVisit{f: f, id: id, code: code(t, &link)}
	if number > 2 {
		return v // waiting for participants: nothing to hold yet
	}
	f.clock.Set(start)
	cs, err := f.svc.Exchange(ctx, v.code)
	if err != nil {
		t.Fatal(err)
	}
	v.token = cs.Token
	if v.adm, err = f.svc.Admit(ctx, cs.Token, id); err != nil {
		t.Fatal(err)
	}
	f.clock.Set(start.Add(-24 * time.Hour))
	return v
}

// issue signs a session token of kind for userID, valid for two days.
func (v *reasonVisit) issue(t *testing.T, kind, id, userID string, revision int) string {
	t.Helper()
	now := v.f.clock.Now()
	tok, err := v.f.svc.Tokens.Issue(tc.SessionClaims{Kind: kind, TeleconsultationID: id, UserID: userID,
		RoomRevision: revision, IssuedAt: now, ExpiresAt: now.Add(48 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// revision returns the stored room revision of the visit.
func (v *reasonVisit) revision(t *testing.T) int {
	t.Helper()
	got, err := v.f.store.FindByID(ctx, v.id)
	if err != nil {
		t.Fatal(err)
	}
	return got.RoomRevision
}

// Ensure every reason of the table comes out of the link exchange, Admit
// and Recheck (where it can arise there) with its code and the HTTP status,
// end reason and close code of its row, and that the three agree.
func TestRefusalReasons(t *testing.T) {
	type outcome struct{ exchange, admit, recheck func() error }
	cases := []struct {
		reason tc.Reason
		// setup returns the three attempts; a nil one cannot meet this
		// reason.
		setup func(t *testing.T) outcome
	}{
		{tc.ReasonUnauthorized, func(t *testing.T) outcome {
			v := newReasonVisit(t, 2)
			v.f.clock.Set(start)
			return outcome{
				exchange: func() error { _, err := v.f.svc.Exchange(ctx, otherLastChar(v.code)); return err },
				admit:    func() error { _, err := v.f.svc.Admit(ctx, v.token+"x", v.id); return err },
			}
		}},
		{tc.ReasonNotParticipant, func(t *testing.T) outcome {
			v := newReasonVisit(t, 2)
			v.f.clock.Set(start)
			other := v.issue(t, tc.SessionParticipant, "another-visit", "pat-1", v.adm.RoomRevision)
			stranger := *v.adm
			stranger.UserID = "nobody"
			return outcome{
				admit:   func() error { _, err := v.f.svc.Admit(ctx, other, v.id); return err },
				recheck: func() error { return v.f.svc.Recheck(ctx, &stranger) },
			}
		}},
		{tc.ReasonNotReady, func(t *testing.T) outcome {
			v := newReasonVisit(t, 3) // a third participant is missing
			v.f.clock.Set(start)
			user := v.issue(t, tc.SessionUser, "", "pat-1", 0)
			adm := &tc.Admission{TeleconsultationID: v.id, UserID: "pat-1", RoomRevision: v.revision(t)}
			return outcome{
				exchange: func() error { _, err := v.f.svc.Exchange(ctx, v.code); return err },
				admit:    func() error { _, err := v.f.svc.Admit(ctx, user, v.id); return err },
				recheck:  func() error { return v.f.svc.Recheck(ctx, adm) },
			}
		}},
		{tc.ReasonNotOpen, func(t *testing.T) outcome {
			v := newReasonVisit(t, 2)
			v.f.clock.Set(start.Add(-11 * time.Minute))
			user := v.issue(t, tc.SessionUser, "", "pat-1", 0)
			return outcome{
				exchange: func() error { _, err := v.f.svc.Exchange(ctx, v.code); return err },
				admit:    func() error { _, err := v.f.svc.Admit(ctx, user, v.id); return err },
				recheck:  func() error { return v.f.svc.Recheck(ctx, v.adm) },
			}
		}},
		{tc.ReasonRevoked, func(t *testing.T) outcome {
			v := newReasonVisit(t, 2)
			user := v.issue(t, tc.SessionUser, "", "pat-1", 0)
			parts := []tc.ParticipantInput{doctor(), {UserID: "int-1", Groups: []string{"patient"}, FullName: "Luigi Bianchi"}}
			if err := v.f.svc.Update(ctx, v.id, tc.UpdateInput{Participants: &parts}); err != nil {
				t.Fatal(err)
			}
			v.f.clock.Set(start)
			return outcome{
				exchange: func() error { _, err := v.f.svc.Exchange(ctx, v.code); return err },
				admit:    func() error { _, err := v.f.svc.Admit(ctx, user, v.id); return err },
				recheck:  func() error { return v.f.svc.Recheck(ctx, v.adm) },
			}
		}},
		{tc.ReasonChanged, func(t *testing.T) outcome {
			v := newReasonVisit(t, 2)
			later := start.Add(5 * time.Minute)
			if err := v.f.svc.Update(ctx, v.id, tc.UpdateInput{StartDate: &later}); err != nil {
				t.Fatal(err)
			}
			v.f.clock.Set(start)
			return outcome{
				admit:   func() error { _, err := v.f.svc.Admit(ctx, v.token, v.id); return err },
				recheck: func() error { return v.f.svc.Recheck(ctx, v.adm) },
			}
		}},
		{tc.ReasonCancelled, func(t *testing.T) outcome {
			v := newReasonVisit(t, 2)
			v.f.clock.Set(start)
			if err := v.f.svc.Cancel(ctx, v.id); err != nil {
				t.Fatal(err)
			}
			return outcome{
				exchange: func() error { _, err := v.f.svc.Exchange(ctx, v.code); return err },
				admit:    func() error { _, err := v.f.svc.Admit(ctx, v.token, v.id); return err },
				recheck:  func() error { return v.f.svc.Recheck(ctx, v.adm) },
			}
		}},
		{tc.ReasonRescheduled, func(t *testing.T) outcome {
			v := newReasonVisit(t, 2)
			in := validCreate()
			in.AppointmentID = "appt-1"
			if _, err := v.f.svc.Create(ctx, in); err != nil {
				t.Fatal(err)
			}
			v.f.clock.Set(start)
			return outcome{
				exchange: func() error { _, err := v.f.svc.Exchange(ctx, v.code); return err },
				admit:    func() error { _, err := v.f.svc.Admit(ctx, v.token, v.id); return err },
				recheck:  func() error { return v.f.svc.Recheck(ctx, v.adm) },
			}
		}},
		{tc.ReasonEnded, func(t *testing.T) outcome {
			v := newReasonVisit(t, 2)
			v.f.clock.Set(start.Add(30 * time.Minute))
			user := v.issue(t, tc.SessionUser, "", "pat-1", 0)
			return outcome{
				exchange: func() error { _, err := v.f.svc.Exchange(ctx, v.code); return err },
				admit:    func() error { _, err := v.f.svc.Admit(ctx, user, v.id); return err },
				recheck:  func() error { return v.f.svc.Recheck(ctx, v.adm) },
			}
		}},
		{tc.ReasonDeclined, func(t *testing.T) outcome {
			v := newReasonVisit(t, 2)
			v.f.clock.Set(start)
			s := v.f.svc.Settings
			s.WaitingRoom = true
			doc := *v.adm
			doc.Role = tc.RolePlus
			return outcome{admit: func() error { return s.Decide(&doc, v.adm, false) }}
		}},
		{tc.ReasonRemoved, func(*testing.T) outcome {
			return outcome{admit: func() error { return tc.Removed() }}
		}},
	}
	var covered []tc.Reason
	for _, tt := range cases {
		t.Run(string(tt.reason), func(t *testing.T) {
			ref, ok := tt.reason.Refusal()
			if !ok {
				t.Fatalf("%s is not in the table", tt.reason)
			}
			o := tt.setup(t)
			for _, a := range []struct {
				name string
				do   func() error
			}{{"exchange", o.exchange}, {"admit", o.admit}, {"recheck", o.recheck}} {
				if a.do == nil {
					continue
				}
				err := a.do()
				var e *tc.Error
				if got := tc.ReasonOf(err); got != tt.reason || !errors.As(err, &e) || e.Code != ref.Code {
					t.Errorf("%s: %v (reason %q), want reason %q with code %q", a.name, err, got, tt.reason, ref.Code)
				}
				if tt.reason == tc.ReasonNotOpen && e != nil && e.Data["opensAt"] != "2026-11-23T09:50:00.000Z" {
					t.Errorf("%s: not open without opensAt: %v", a.name, e.Data)
				}
			}
		})
		covered = append(covered, tt.reason)
	}
	var all []tc.Reason
	for _, ref := range tc.Refusals() {
		all = append(all, ref.Reason)
	}
	if !slices.Equal(covered, all) {
		t.Errorf("reasons tested %v, table %v", covered, all)
	}
}

// Ensure the table is whole and consistent: one row per reason, every
// column filled, the close code following the code (4000 + status), and a
// refusal made from a row carrying its reason.
func TestRefusalTable(t *testing.T) {
	seen := map[tc.Reason]bool{}
	for _, ref := range tc.Refusals() {
		if seen[ref.Reason] {
			t.Errorf("%s twice", ref.Reason)
		}
		seen[ref.Reason] = true
		if ref.Code == "" || ref.End == "" || ref.LinkPage == "" || ref.CallPage == "" || ref.When == "" {
			t.Errorf("%s: empty column: %+v", ref.Reason, ref)
		}
		if ref.CloseCode != 4000+ref.HTTPStatus {
			t.Errorf("%s: close code %d for HTTP %d", ref.Reason, ref.CloseCode, ref.HTTPStatus)
		}
		if err := tc.Refuse(ref.Reason, "m"); tc.ReasonOf(err) != ref.Reason || err.Code != ref.Code {
			t.Errorf("Refuse(%s) = %+v", ref.Reason, err)
		}
	}
	if _, ok := tc.Reason("nonsense").Refusal(); ok {
		t.Error("an unknown reason has a row")
	}
	if tc.ReasonOf(tc.Errorf(tc.EUNAVAILABLE, "database down")) != "" || tc.ReasonOf(nil) != "" {
		t.Error("an error that is no refusal has a reason")
	}
	wrapped := &tc.Error{Code: tc.EGONE, Message: "x", Err: tc.Refuse(tc.ReasonCancelled, "y")}
	if tc.ReasonOf(wrapped) != tc.ReasonCancelled {
		t.Error("reason of a wrapped refusal lost")
	}
}

// otherLastChar returns code with its last character changed: always
// another code, whatever the last character was.
func otherLastChar(code string) string {
	last := "A"
	if strings.HasSuffix(code, last) {
		last = "B"
	}
	return code[:len(code)-1] + last
}
