package httpapi

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/teleconsult/teleconsult/internal/teleconsult"
)

// auditPage is GET /audit's answer.
func (e *env) auditPage(query string) auditResponse {
	e.tb.Helper()
	w := e.do("GET", Prefix+"/audit?"+query, "")
	wantStatus(e.tb, w, http.StatusOK)
	var page auditResponse
	if err := json.Unmarshal(w.Body.Bytes(), &page); err != nil {
		e.tb.Fatal(err)
	}
	return page
}

func findEntry(entries []auditEntryJSON, action string) *auditEntryJSON {
	for i := range entries {
		if entries[i].Action == action {
			return &entries[i]
		}
	}
	return nil
}

// Ensure the reads and changes made through the API are in the trail with
// their actor (API key id, user, participant), request id, client address
// and outcome, and that no name, email, link or key is.
func TestAuditRecordsActors(t *testing.T) {
	e := newEnv(t)
	id := e.create(2, "appt-audit", doctor, patient)
	e.do("GET", api+"/"+id, "", asUser("d1"), withHeader("X-Request-Id", "req-view-1"))
	wantStatus(t, e.do("GET", api+"/"+id, "", asUser("intruder")), http.StatusUnauthorized)
	token := e.sessionToken(id, "p1") // a view by p1, then the link exchange
	wantStatus(t, e.do("GET", api+"/"+id+"/uploads", "", bearer(token)), http.StatusOK)
	wantStatus(t, e.do("POST", Prefix+"/sessions", sessionJSON(strings.Repeat("x", 43)), noKey()), http.StatusUnauthorized)

	page := e.auditPage("teleconsultationId=" + id)
	sum := sha256.Sum256([]byte(testKey))
	keyID := hex.EncodeToString(sum[:8])

	created := findEntry(page.Entries, "teleconsultation.create")
	if created == nil || created.Actor.Kind != "api_key" || created.Actor.KeyID != keyID || created.Outcome != "ok" || created.ClientAddress != "192.0.2.1" {
		t.Fatalf("create entry %+v (key id %s)", created, keyID)
	}
	var views []auditEntryJSON
	for _, en := range page.Entries {
		if en.Action == "teleconsultation.read" {
			views = append(views, en)
		}
	}
	if len(views) != 3 {
		t.Fatalf("%d view entries, want 3: %+v", len(views), page.Entries)
	}
	if v := views[0]; v.Actor.UserID != "d1" || v.Actor.ParticipantID == "" || v.RequestID != "req-view-1" || v.Outcome != "ok" {
		t.Errorf("the doctor's view: %+v", v)
	}
	if v := views[1]; v.Actor.UserID != "intruder" || v.Outcome != teleconsult.EUNAUTHORIZED {
		t.Errorf("the refused view: %+v", v)
	}
	ex := findEntry(page.Entries, "link.exchange")
	if ex == nil || ex.Actor.Kind != "participant" || ex.Actor.UserID != "p1" || ex.Actor.ParticipantID == "" || ex.Actor.KeyID != "" {
		t.Errorf("exchange entry %+v", ex)
	}
	list := findEntry(page.Entries, "uploads.list")
	if list == nil || list.Actor.Kind != "participant" || list.Actor.ParticipantID != ex.Actor.ParticipantID {
		t.Errorf("uploads entry %+v", list)
	}
	// The unknown link names no teleconsultation: it is in the whole trail.
	all := e.auditPage("limit=1000")
	var refused *auditEntryJSON
	for i, en := range all.Entries {
		if en.Action == "link.exchange" && en.Outcome == teleconsult.EUNAUTHORIZED {
			refused = &all.Entries[i]
		}
	}
	if refused == nil || refused.TeleconsultationID != "" {
		t.Errorf("the unknown link's entry: %+v", refused)
	}
	raw := e.do("GET", Prefix+"/audit?limit=1000", "").Body.String()
	for _, secret := range []string{"Marker", "example.test", testKey, token, "/join/"} {
		if strings.Contains(raw, secret) {
			t.Errorf("the audit trail holds %q", secret)
		}
	}
	v, err := e.svc.VerifyAudit(t.Context())
	if err != nil || v.Break != nil {
		t.Fatalf("verify: %+v, %v", v, err)
	}
}

// Ensure GET /audit pages with after and next, and records itself.
func TestAuditPaging(t *testing.T) {
	e := newEnv(t)
	id := e.create(2, "", doctor, patient)
	for range 4 {
		e.view(id, "d1")
	}
	var got []int64
	after := ""
	for pages := 0; ; pages++ {
		if pages > 10 {
			t.Fatal("no last page")
		}
		p := e.auditPage("teleconsultationId=" + id + "&limit=2" + after)
		for _, en := range p.Entries {
			got = append(got, en.ID)
		}
		if p.Next == nil {
			break
		}
		if len(p.Entries) != 2 || *p.Next != p.Entries[1].ID {
			t.Fatalf("page %+v", p)
		}
		after = "&after=" + strconv.FormatInt(*p.Next, 10)
	}
	// create, four views, and the audit reads of the earlier pages.
	if len(got) < 5 || got[0] != 1 {
		t.Fatalf("entries %v", got)
	}
	for i := 1; i < len(got); i++ {
		if got[i] <= got[i-1] {
			t.Fatalf("entries out of order: %v", got)
		}
	}
	if findEntry(e.auditPage("limit=1000").Entries, "audit.read") == nil {
		t.Error("the audit reads are not recorded")
	}
	// A caller without an API key cannot read it.
	wantStatus(t, e.do("GET", Prefix+"/audit", "", noKey()), http.StatusUnauthorized)
}

// Ensure bad query parameters are refused with 400 and a message naming
// the parameter, and that the refusal changes nothing.
func TestAuditBadParameters(t *testing.T) {
	e := newEnv(t)
	before := len(e.auditPage("limit=1000").Entries)
	for _, c := range []struct{ query, want string }{
		{"teleconsultationId=xyz", "teleconsultationId"},
		{"teleconsultationId=" + strings.Repeat("a", 32) + "&teleconsultationId=" + strings.Repeat("b", 32), "teleconsultationId: give it once"},
		{"from=yesterday", "from"},
		{"from=2026-11-23", "from"},
		{"to=2026-11-23T10:00:00", "to"},
		{"from=2026-11-23T10:00:00Z&to=2026-11-23T09:00:00Z", "from: must be before to"},
		{"after=-1", "after"},
		{"after=1e3", "after"},
		{"after=01", "after"},
		{"limit=0", "limit"},
		{"limit=1001", "limit"},
		{"limit=ten", "limit"},
		{"limit=+5", "limit"},
		{"page=2", "unknown query parameter"},
	} {
		w := e.do("GET", Prefix+"/audit?"+c.query, "")
		if w.Code != http.StatusBadRequest || !strings.Contains(errorOf(t, w), c.want) {
			t.Errorf("?%s: %d %s, want 400 naming %q", c.query, w.Code, w.Body.String(), c.want)
		}
	}
	// Each successful page read is an entry; the refused ones are not.
	if after := len(e.auditPage("limit=1000").Entries); after != before+1 {
		t.Errorf("%d entries after the refusals, want %d", after, before+1)
	}
}

// auditFails is a store whose audit appends fail.
type auditFails struct{ *spyStore }

func (auditFails) AppendAudit(context.Context, []teleconsult.AuditEntry) error {
	return errors.New("disk full")
}

// Ensure a read that cannot be recorded gives nothing out.
func TestAuditUnrecordedReadFails(t *testing.T) {
	e := newEnv(t)
	id := e.create(2, "", doctor, patient)
	e.svc.Store = auditFails{e.spy}
	w := e.do("GET", api+"/"+id, "", asUser("d1"))
	if w.Code != http.StatusServiceUnavailable || strings.Contains(w.Body.String(), "Marker") {
		t.Fatalf("GET with the audit trail down: %d %s", w.Code, w.Body.String())
	}
}

// FuzzAuditQuery: GET /audit's query parser never panics, and what it
// accepts is a query the service takes.
func FuzzAuditQuery(f *testing.F) {
	for _, s := range []string{
		"", "teleconsultationId=0123456789abcdef0123456789abcdef", "from=2026-11-23T10:00:00Z&to=2026-11-23T11:00:00.5%2B01:00",
		"after=12&limit=1000", "limit=0", "after=-0", "from=0000-01-01T00:00:00Z", "x=1", "limit=1&limit=2", "%zz", "from=2026-11-23T10:00:00Z&to=2026-11-23T10:00:00Z",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		vals, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		q, err := parseAuditQuery(vals)
		if err != nil {
			var he *httpError
			if !errors.As(err, &he) || he.status != http.StatusBadRequest {
				t.Fatalf("%q: error %v is not a 400", raw, err)
			}
			return
		}
		if q.Limit < 1 || q.Limit > teleconsult.MaxAuditPage || q.After < 0 ||
			!q.From.IsZero() && !q.To.IsZero() && !q.From.Before(q.To) {
			t.Fatalf("%q: accepted %+v", raw, q)
		}
	})
}
