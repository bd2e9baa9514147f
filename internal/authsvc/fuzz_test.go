package authsvc_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/teleconsult/teleconsult/internal/authsvc"
	"github.com/teleconsult/teleconsult/internal/teleconsult"
)

// answer is a transport that answers every request with one status and
// body, to fuzz the parsing of the auth service's answers.
type answer struct {
	status int
	body   []byte
}

func (a answer) RoundTrip(r *http.Request) (*http.Response, error) {
	return &http.Response{StatusCode: a.status, Header: http.Header{"Content-Type": {"application/json"}},
		Body: io.NopCloser(bytes.NewReader(a.body)), Request: r}, nil
}

// FuzzUserAnswer feeds any answer to the user and custom-id parsers: never
// a panic; either a user with a name and the groups given, or an error
// that is ENOTFOUND, EBADGATEWAY or EUNAVAILABLE with a message that
// repeats nothing of the body.
func FuzzUserAnswer(f *testing.F) {
	for _, s := range []string{
		`{"user_id":"u1","name":"N","email":"e@x","app_metadata":{"groups":["doctor"]}}`,
		`{"user_id":"u1","name":""}`, `{"user_id":"u2","name":"N"}`, `{"user_id":"u1","name":"N","app_metadata":{"groups":"x"}}`,
		`[{"authUserId":"u1"}]`, `{"authUserId":"u1"}`, `[]`, `null`, `{`, "",
	} {
		f.Add(200, s)
		f.Add(404, s)
	}
	f.Fuzz(func(t *testing.T, status int, body string) {
		if status < 100 || status > 599 {
			return
		}
		for _, custom := range []string{"", "_id", "email"} {
			cfg := authsvc.Config{BaseURL: "http://auth.test", Transport: answer{status, []byte(body)}, BaseBackoff: 1}
			if custom != "" {
				cfg.CustomIDEndpoint, cfg.CustomIDSource = "http://crud.test/users/", custom
			}
			d, err := authsvc.New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			u, err := d.User(ctx, "u1")
			cancel()
			switch code := teleconsult.ErrorCode(err); code {
			case "":
				if strings.TrimSpace(u.FullName) == "" {
					t.Fatalf("user without a name from %q", body)
				}
			case teleconsult.ENOTFOUND, teleconsult.EBADGATEWAY, teleconsult.EUNAVAILABLE:
				if msg := teleconsult.ErrorMessage(err); len(body) > 8 && strings.Contains(msg, body) {
					t.Fatalf("message %q repeats the body", msg)
				}
			default:
				t.Fatalf("code %q: %v", code, err)
			}
		}
	})
}
