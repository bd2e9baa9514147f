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
