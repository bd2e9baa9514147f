package main

import (
	"maps"
	"testing"

	"github.com/teleconsult/teleconsult/internal/kaleyra/kaleyratest"
)

// Ensure LIVE_TELECONSULTATION reaches Kaleyra, through the whole service
// and both databases: the room is made with it as its live flag, and GET's
// details.live is what the room says.
func TestKaleyraLive(t *testing.T) {
	for _, live := range []string{"true", "false"} {
		t.Run("live="+live, func(t *testing.T) {
			databases(t, func(t *testing.T, env map[string]string) {
				fake := kaleyratest.New(t, kaleyraKey)
				maps.Copy(env, map[string]string{"VIDEO_PROVIDER": "kaleyra", "BANDYER_API_SECRET_KEY": kaleyraKey,
					"BANDYER_BASE_URL": fake.URL, "LIVE_TELECONSULTATION": live})
				s := startServer(t, env)
				id := createOK(t, s, scenarioCreate(s))
				rm, ok := fake.Rooms()[roomOf(t, s, id)]
				if !ok || rm.Live != (live == "true") {
					t.Errorf("Kaleyra room made with live %v, want %s", rm.Live, live)
				}
				var g getBody
				if st := s.do(t, "GET", api+"/teleconsultation/"+id, "pat-1", nil, &g); st != 200 || g.Details.Live != (live == "true") {
					t.Errorf("GET: %d, details.live %v, want %s", st, g.Details.Live, live)
				}
			})
		})
	}
}
