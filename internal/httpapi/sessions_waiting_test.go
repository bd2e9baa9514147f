package httpapi

import (
	"fmt"
	"net/http"
	"reflect"
	"testing"
	"time"

	"github.com/teleconsult/teleconsult/internal/teleconsult"
)

// Ensure POST /sessions tells the page its part in the waiting room
// (waitingRoom: {waits, admits}) with WAITING_ROOM=true only.
func TestSessionWaitingRoom(t *testing.T) {
	for _, on := range []bool{false, true} {
		e := newEnv(t, func(_ *Config, s *teleconsult.Settings) { s.WaitingRoom = on })
		id := e.create(2, "", doctor, `{"userId":"p9","groups":["patient"],"fullName":"Dan Marker"}`)
		e.clock.Set(startAt.Add(-5 * time.Minute))
		for _, tt := range []struct {
			user string
			want any
		}{
			{"p9", map[string]any{"waits": true, "admits": false}},
			{"d1", map[string]any{"waits": false, "admits": true}},
		} {
			code := linkCode(t, e.view(id, tt.user)["accessLinkURL"])
			w := e.do("POST", Prefix+"/sessions", fmt.Sprintf(`{"code":%q}`, code), noKey())
			wantStatus(t, w, http.StatusCreated)
			got, present := body(t, w)["waitingRoom"]
			switch {
			case !on && present:
				t.Errorf("%s: waitingRoom %v with the waiting room off", tt.user, got)
			case on && !reflect.DeepEqual(got, tt.want):
				t.Errorf("%s: waitingRoom %v, want %v", tt.user, got, tt.want)
			}
		}
	}
}

// Ensure GET /teleconsultation/{id} lists who waits (details.waiting) for
// a caller whose role admits with WAITING_ROOM=true, an empty list when
// nobody does, and nothing for the patient or with the room off. (Filled:
// the domain's TestViewWaiting and the browser test TestCallModeration.)
func TestViewWaitingList(t *testing.T) {
	for _, on := range []bool{false, true} {
		e := newEnv(t, func(_ *Config, s *teleconsult.Settings) { s.WaitingRoom = on })
		id := e.create(2, "", doctor, `{"userId":"p9","groups":["patient"],"fullName":"Dan Marker"}`)
		e.clock.Set(startAt.Add(-5 * time.Minute))
		for _, user := range []string{"d1", "p9"} {
			details, _ := e.view(id, user)["details"].(map[string]any)
			got, present := details["waiting"]
			if want := on && user == "d1"; present != want {
				t.Errorf("room on %v, %s: waiting present %v, want %v", on, user, present, want)
			}
			if list, ok := got.([]any); present && (!ok || len(list) != 0) {
				t.Errorf("room on %v, %s: waiting %#v, want []", on, user, got)
			}
		}
	}
}
