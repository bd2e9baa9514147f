package fhir_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/teleconsult/teleconsult/internal/fhir"
	"github.com/teleconsult/teleconsult/internal/teleconsult"
	"github.com/teleconsult/teleconsult/internal/testkit"
)

var fhirID = regexp.MustCompile(`^[A-Za-z0-9.\-]{1,64}$`)

// Fuzz the id taken from the path: ParseID accepts exactly the FHIR ids,
// and the routes answer any path segment with a resource or a 404
// OperationOutcome, never a panic or another status, and never echo an
// id that is not a FHIR id.
func FuzzID(f *testing.F) {
	for _, s := range []string{visitID, "", "a", strings.Repeat("a", 65), "..", "a/b", "é", "%00", "Appointment", "-", "<script>"} {
		f.Add(s)
	}
	clock := testkit.NewClock(start)
	svc := service(f, clock, visit(teleconsult.StateScheduled))
	mux := serve(&fhir.Handler{Service: svc})
	f.Fuzz(func(t *testing.T, s string) {
		id, ok := fhir.ParseID(s)
		if ok != fhirID.MatchString(s) || (ok && id != s) {
			t.Fatalf("ParseID(%q) = %q, %v", s, id, ok)
		}
		for _, typ := range []string{"Appointment", "Encounter"} {
			rec := httptest.NewRecorder()
			req := httptest.NewRequest(http.MethodGet, "/fhir/"+typ+"/x", nil)
			req.URL.Path, req.URL.RawPath = "/fhir/"+typ+"/"+s, "/fhir/"+typ+"/"+url.PathEscape(s)
			mux.ServeHTTP(rec, req)
			body := rec.Body.String()
			switch {
			case rec.Code == http.StatusOK && s == visitID:
			case rec.Code == http.StatusNotFound && strings.Contains(body, `"resourceType":"OperationOutcome"`):
				if !ok && s != "" && strings.Contains(body, s) && len(s) > 3 {
					t.Fatalf("the answer echoes %q: %s", s, body)
				}
			case !strings.Contains(s, "/") && s != "." && s != ".." && s != "":
				t.Fatalf("GET /fhir/%s/%q: %d %s", typ, s, rec.Code, body)
			case rec.Code == http.StatusNotFound || rec.Code == http.StatusMovedPermanently || rec.Code == http.StatusTemporaryRedirect:
				// the mux's own answer to a path of another shape (a '/', a "..")
			default:
				t.Fatalf("GET /fhir/%s/%q: %d %s", typ, s, rec.Code, body)
			}
		}
	})
}
