package httpapi

import (
	"fmt"
	"net/http"
	"testing"
	"time"
)

// Ensure POST /sessions takes the language the link was opened in (the
// ?lang= that GET's language puts in it): the session answers in it for a
// participant without a language of their own, and a malformed one is a
// 400 that names the field.
func TestSessionLanguage(t *testing.T) {
	e := newEnv(t)
	id := e.create(2, "", doctor, `{"userId":"p9","groups":["patient"],"fullName":"Dan Marker"}`)
	e.clock.Set(startAt.Add(-5 * time.Minute))
	code := linkCode(t, e.view(id, "p9")["accessLinkURL"])
	for _, tt := range []struct {
		body   string
		status int
		want   string // language, or the error
	}{
		{fmt.Sprintf(`{"code":%q,"language":"it"}`, code), http.StatusCreated, "it"},
		{fmt.Sprintf(`{"code":%q}`, code), http.StatusCreated, ""},
		{fmt.Sprintf(`{"code":%q,"language":7}`, code), http.StatusBadRequest, "language: must be a string"},
		{fmt.Sprintf(`{"code":%q,"language":"italiano"}`, code), http.StatusBadRequest, "language: must be a two-letter code such as en or it"},
		// GET's useBackground=true, which the link carries on.
		{fmt.Sprintf(`{"code":%q,"language":"it","useBackground":true}`, code), http.StatusCreated, "it"},
		{fmt.Sprintf(`{"code":%q,"useBackground":false}`, code), http.StatusCreated, ""},
		{fmt.Sprintf(`{"code":%q,"useBackground":"true"}`, code), http.StatusBadRequest, "useBackground: must be true or false"},
		{fmt.Sprintf(`{"code":%q,"useBackground":null}`, code), http.StatusBadRequest, "useBackground: must be true or false"},
	} {
		w := e.do("POST", Prefix+"/sessions", tt.body, noKey())
		wantStatus(t, w, tt.status)
		b := body(t, w)
		got := b["language"]
		if tt.status != http.StatusCreated {
			got = b["error"]
		}
		if got != tt.want {
			t.Errorf("%s: %v, want %q", tt.body, got, tt.want)
		}
	}
}
