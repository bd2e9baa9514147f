package testkit

import (
	"encoding/json"
	"io"
	"net/http"
	"testing"
)

// Do sends req with [http.DefaultClient] and returns the status code,
// decoding a JSON answer into out unless out is nil or the body is empty.
// Any failure to send or to decode fails the test.
func Do(tb testing.TB, req *http.Request, out any) int {
	tb.Helper()
	resp, err := http.DefaultClient.Do(req) //nolint:gosec // G704: the test's own request, to its own server
	if err != nil {
		tb.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }() // read to the end below
	raw, _ := io.ReadAll(resp.Body)
	if out != nil && len(raw) > 0 {
		if err := json.Unmarshal(raw, out); err != nil {
			tb.Fatalf("%s %s: %d %s: %v", req.Method, req.URL.RequestURI(), resp.StatusCode, raw, err)
		}
	}
	return resp.StatusCode
}
