package httpapi

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"html"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/teleconsult/teleconsult/internal/teleconsult"
)

func openAPIDoc(t *testing.T, e *env) map[string]any {
	t.Helper()
	w := e.do("GET", "/openapi.json", "", noKey())
	wantStatus(t, w, http.StatusOK)
	if ct := w.Header().Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type = %q", ct)
	}
	if _, err := parseStrict(w.Body.Bytes()); err != nil {
		t.Fatalf("openapi.json is not strict JSON (duplicate keys?): %v", err)
	}
	return body(t, w)
}

// Ensure the router and the OpenAPI document describe the same routes,
// with the same authentication.
func TestOpenAPIRoutesInSync(t *testing.T) {
	e := newEnv(t)
	doc := openAPIDoc(t, e)
	documented := map[string]map[string]any{}
	for path, item := range doc["paths"].(map[string]any) {
		for method, op := range item.(map[string]any) {
			if method == "parameters" {
				continue
			}
			documented[strings.ToUpper(method)+" "+path] = op.(map[string]any)
		}
	}
	public := map[string]bool{}
	for _, rt := range e.srv.routes {
		public[rt.pattern()] = rt.public
	}
	for _, r := range e.srv.Routes() {
		op, ok := documented[r]
		if !ok {
			t.Errorf("route %s is not in openapi.json", r)
			continue
		}
		// A route needs the API key in the middleware unless its document
		// overrides the security with something else than the key alone
		// (nothing: public; a session token: the handler checks it).
		sec, overridden := op["security"].([]any)
		keyOnly := len(sec) == 1 && sec[0].(map[string]any)["apiKey"] != nil
		if isPublic := overridden && !keyOnly; isPublic != public[r] {
			t.Errorf("%s: documented public = %v, router public = %v", r, isPublic, public[r])
		}
		if op["summary"] == nil || op["responses"] == nil || op["operationId"] == nil {
			t.Errorf("%s: no summary, operationId or responses", r)
		}
	}
	for r, op := range documented {
		// x-mounted routes come from other packages through Config.Mounts
		// (the call page, the signalling WebSocket); cmd/teleconsult's
		// tests check them against the wired server.
		if !slices.Contains(e.srv.Routes(), r) && op["x-mounted"] != true {
			t.Errorf("openapi.json documents %s, which the router lacks", r)
		}
	}
	if got := len(e.srv.Routes()); got != 25 {
		t.Errorf("router has %d routes, want 25", got)
	}
}

// Ensure the document is well formed: version, security scheme, every
// $ref resolves, every path parameter is declared.
func TestOpenAPIDocument(t *testing.T) {
	e := newEnv(t)
	doc := openAPIDoc(t, e)
	if doc["openapi"] != "3.1.0" {
		t.Errorf("openapi = %v", doc["openapi"])
	}
	info := doc["info"].(map[string]any)
	if info["version"] != "1.2.3-test" {
		t.Errorf("info.version = %v, want the configured version", info["version"])
	}
	scheme := doc["components"].(map[string]any)["securitySchemes"].(map[string]any)["apiKey"].(map[string]any)
	if scheme["type"] != "http" || scheme["scheme"] != "bearer" {
		t.Errorf("security scheme = %v", scheme)
	}
	var walk func(v any)
	walk = func(v any) {
		switch t2 := v.(type) {
		case map[string]any:
			if ref, ok := t2["$ref"].(string); ok {
				var cur any = doc
				for _, part := range strings.Split(strings.TrimPrefix(ref, "#/"), "/") {
					m, _ := cur.(map[string]any)
					cur = m[part]
				}
				if cur == nil {
					t.Errorf("$ref %s does not resolve", ref)
				}
			}
			for _, c := range t2 {
				walk(c)
			}
		case []any:
			for _, c := range t2 {
				walk(c)
			}
		}
	}
	walk(doc)
	wildcard := regexp.MustCompile(`\{(\w+)\}`)
	for path, item := range doc["paths"].(map[string]any) {
		for _, m := range wildcard.FindAllStringSubmatch(path, -1) {
			if !declaresPathParam(doc, item.(map[string]any), m[1]) {
				t.Errorf("%s: path parameter %s is not declared", path, m[1])
			}
		}
	}
}

// Ensure info.description holds the domain's state machine, copied from
// the package documentation of internal/teleconsult.
func TestOpenAPIStateMachine(t *testing.T) {
	src, err := os.ReadFile("../teleconsult/doc.go")
	if err != nil {
		t.Skipf("domain doc.go not readable: %v", err)
	}
	_, machine, ok := strings.Cut(string(src), "# State machine")
	if !ok {
		t.Fatal("doc.go has no state machine section")
	}
	e := newEnv(t)
	desc := openAPIDoc(t, e)["info"].(map[string]any)["description"].(string)
	n := 0
	for _, line := range strings.Split(machine, "\n") {
		if !strings.HasPrefix(line, "//\t") {
			continue
		}
		n++
		if want := strings.TrimPrefix(line, "//\t"); !strings.Contains(desc, want) {
			t.Errorf("info.description lacks the state machine line %q", want)
		}
	}
	if n < 10 {
		t.Fatalf("found only %d state machine lines in doc.go", n)
	}
}

// Ensure /docs renders the document as a page without scripts, listing
// every path, under a CSP that allows only its own style sheet.
func TestDocsPage(t *testing.T) {
	e := newEnv(t)
	w := e.do("GET", "/docs", "", noKey())
	wantStatus(t, w, http.StatusOK)
	if ct := w.Header().Get("Content-Type"); ct != "text/html; charset=utf-8" {
		t.Fatalf("Content-Type = %q", ct)
	}
	page := w.Body.String()
	csp := w.Header().Get("Content-Security-Policy")
	_, rest, _ := strings.Cut(page, "<style>")
	style, _, _ := strings.Cut(rest, "</style>")
	sum := sha256.Sum256([]byte(style))
	if want := "style-src 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"; !strings.Contains(csp, want) || !strings.HasPrefix(csp, "default-src 'none'") {
		t.Fatalf("CSP = %q, want default-src 'none' and %s", csp, want)
	}
	if strings.Contains(strings.ToLower(page), "<script") || strings.Contains(page, "http://") || strings.Contains(page, "https://") {
		t.Fatal("the page loads or runs something")
	}
	for _, r := range e.srv.Routes() {
		method, path, _ := strings.Cut(r, " ")
		if !strings.Contains(page, "<h2>"+html.EscapeString(path)+"</h2>") {
			t.Errorf("the page does not list path %s", path)
		}
		if !strings.Contains(page, `class="method `+method+`"`) {
			t.Errorf("the page does not show method %s", method)
		}
	}
	for _, want := range []string{
		"participants.data[].userId", "participants.number", "start_date", "duration_in_seconds",
		"expiresIn", "<code>code</code>", "accessLinkURL", "details.status",
		"waiting_for_participants --participant added, list full--&gt; scheduled",
		"<code>language</code>", "Request body (application/json, required)",
		"too many attempts", "Version 1.2.3-test",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
}

// Ensure /docs shows every example of the document, each in the section
// of the operation it belongs to (the components' examples under every
// operation that refers to them), as JSON equal to the document's.
func TestDocsPageExamples(t *testing.T) {
	e := newEnv(t)
	doc := openAPIDoc(t, e)
	page := e.do("GET", "/docs", "", noKey()).Body.String()
	resolve := func(v any) map[string]any {
		m, _ := v.(map[string]any)
		if ref, ok := m["$ref"].(string); ok {
			var cur any = doc
			for _, part := range strings.Split(strings.TrimPrefix(ref, "#/"), "/") {
				cur = cur.(map[string]any)[part]
			}
			m, _ = cur.(map[string]any)
		}
		return m
	}
	examplesOf := func(content any) []any {
		var out []any
		for _, media := range resolve(content) {
			if ex, ok := media.(map[string]any)["example"]; ok {
				out = append(out, ex)
			}
		}
		return out
	}
	exampleRE := regexp.MustCompile(`(?s)<pre class="example"[^>]*>(.*?)</pre>`)
	total, inComponents := 0, map[string]bool{}
	for path, item := range doc["paths"].(map[string]any) {
		for method, opv := range item.(map[string]any) {
			op, ok := opv.(map[string]any)
			if !ok || method == "parameters" {
				continue
			}
			var want []any
			if rb := resolve(op["requestBody"]); rb != nil {
				want = append(want, examplesOf(rb["content"])...)
			}
			for _, rv := range op["responses"].(map[string]any) {
				if ref, ok := rv.(map[string]any)["$ref"].(string); ok {
					inComponents[ref] = true
				}
				want = append(want, examplesOf(resolve(rv)["content"])...)
			}
			total += len(want)
			id := op["operationId"].(string)
			_, section, ok := strings.Cut(page, `<div class="op" id="`+id+`">`)
			section, _, _ = strings.Cut(section, `<div class="op"`)
			if !ok {
				t.Errorf("%s %s: no section %s", method, path, id)
				continue
			}
			var got []any
			for _, m := range exampleRE.FindAllStringSubmatch(section, -1) {
				var v any
				if err := json.Unmarshal([]byte(html.UnescapeString(m[1])), &v); err != nil {
					t.Errorf("%s: example %q is not JSON: %v", id, m[1], err)
				}
				got = append(got, v)
			}
			if !sameJSONValues(got, want) {
				t.Errorf("%s %s: the page shows the examples\n%v\nwant\n%v", method, path, got, want)
			}
		}
	}
	// Every example of the document is under some operation.
	all := 0
	var count func(v any, under string)
	count = func(v any, under string) {
		switch t2 := v.(type) {
		case map[string]any:
			for k, c := range t2 {
				if k == "example" {
					all++
					parts := strings.Split(under, "/")
					if len(parts) > 3 && parts[1] == "components" && parts[2] == "responses" && !inComponents[strings.Join(parts[:4], "/")] {
						t.Errorf("%s has an example that no operation shows", under)
					}
					continue
				}
				count(c, under+"/"+k)
			}
		case []any:
			for _, c := range t2 {
				count(c, under)
			}
		}
	}
	count(doc, "#")
	if all < 25 || total < all {
		t.Errorf("found %d examples in the document, %d shown in operations", all, total)
	}
}

// sameJSONValues reports whether a and b hold the same JSON values, in any
// order.
func sameJSONValues(a, b []any) bool {
	enc := func(vs []any) []string {
		var out []string
		for _, v := range vs {
			j, _ := json.Marshal(v)
			out = append(out, string(j))
		}
		slices.Sort(out)
		return out
	}
	return slices.Equal(enc(a), enc(b))
}

// Ensure every operation but the WebSocket has a curl command on /docs,
// with its method, its path under $API or $BASE, the API key unless it is
// public, and a body when it takes one.
func TestDocsPageCurl(t *testing.T) {
	e := newEnv(t)
	page := e.do("GET", "/docs", "", noKey()).Body.String()
	curlRE := regexp.MustCompile(`(?s)<div class="op" id="(\w+)">.*?(?:<pre class="curl"[^>]*>(.*?)</pre>|</div>)`)
	got := map[string]string{}
	for _, m := range curlRE.FindAllStringSubmatch(page, -1) {
		got[m[1]] = html.UnescapeString(m[2])
	}
	tests := []struct {
		op   string
		want string
	}{
		{"createTeleconsultation", `curl -s -X POST "$API/teleconsultation" \
  -H "Authorization: Bearer $KEY" \
  -H "miauserid: $MIAUSERID" \
  -H 'Content-Type: application/json' \
  -d '{
  "appointmentId": "appt-1001",`},
		{"getTeleconsultation", `curl -s "$API/teleconsultation/$ID" \
  -H "Authorization: Bearer $KEY" \
  -H "miauserid: $MIAUSERID"`},
		{"updateTeleconsultation", `-d '{"duration_in_seconds":2700}'`},
		{"getInvitation", `curl -s "$API/teleconsultation/$ID/participants/$USER_ID/invitation"`},
		{"createSession", `curl -s -X POST "$API/sessions" \
  -H 'Content-Type: application/json' \
  -d '{"code":"Xb1mK3pQ7sT9vW2yZ4aC6eG8iL0nR5uD1fH3jM7oP9q"}'`},
		{"uploadFile", `curl -s -X POST "$API/teleconsultation/$ID/uploads" \
  -H "Authorization: Bearer $TOKEN" \
  -H "miauserid: $MIAUSERID" \
  -F file=@$FILE`},
		{"downloadUpload", `"$API/teleconsultation/$ID/uploads/$FILE_ID"`},
		{"dailyWebhook", `-H "X-Webhook-Signature: $X_WEBHOOK_SIGNATURE"`},
		{"health", `curl -s "$BASE/healthz"`},
		{"landing", `curl -s "$BASE/"`},
		{"metrics", `curl -s "$BASE/metrics" \
  -H "Authorization: Bearer $KEY"`},
	}
	for _, tt := range tests {
		if c, ok := got[tt.op]; !ok || !strings.Contains(c, tt.want) {
			t.Errorf("%s: curl command\n%s\nwant it to contain\n%s", tt.op, c, tt.want)
		}
	}
	if c := got["health"]; strings.Contains(c, "Authorization") || strings.Contains(c, "-X") {
		t.Errorf("public GET: %q", c)
	}
	for op, c := range got {
		if c == "" && op != "callSignalling" && op != "connectionCheck" {
			t.Errorf("%s has no curl command", op)
		}
	}
	if len(got) < 20 || got["callSignalling"] != "" || got["connectionCheck"] != "" {
		t.Errorf("operations found: %d; WebSocket commands %q, %q", len(got), got["callSignalling"], got["connectionCheck"])
	}
}

// Ensure GET / is a page without scripts or patient data that links to
// the documentation and health routes, each of which answers 200; and that
// other unknown paths stay 404.
func TestLandingPage(t *testing.T) {
	e := newEnv(t)
	w := e.do("GET", "/", "", noKey())
	wantStatus(t, w, http.StatusOK)
	if ct := w.Header().Get("Content-Type"); ct != "text/html; charset=utf-8" {
		t.Fatalf("Content-Type = %q", ct)
	}
	page := w.Body.String()
	_, rest, _ := strings.Cut(page, "<style>")
	style, _, _ := strings.Cut(rest, "</style>")
	sum := sha256.Sum256([]byte(style))
	if want := "default-src 'none'; style-src 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"; !strings.HasPrefix(w.Header().Get("Content-Security-Policy"), want) {
		t.Errorf("CSP = %q, want %s", w.Header().Get("Content-Security-Policy"), want)
	}
	if strings.Contains(strings.ToLower(page), "<script") || strings.Contains(page, "src=") {
		t.Error("the landing page loads or runs something")
	}
	links := regexp.MustCompile(`href="([^"]*)"`).FindAllStringSubmatch(page, -1)
	var hrefs []string
	for _, l := range links {
		hrefs = append(hrefs, l[1])
		wantStatus(t, e.do("GET", l[1], "", noKey()), http.StatusOK)
	}
	for _, want := range []string{"/docs", "/openapi.json", "/healthz", "/readyz"} {
		if !slices.Contains(hrefs, want) {
			t.Errorf("the landing page does not link %s (links: %v)", want, hrefs)
		}
	}
	if slices.Contains(hrefs, "/check") {
		t.Error("links /check, which this server does not mount")
	}
	wantStatus(t, e.do("HEAD", "/", "", noKey()), http.StatusOK)
	wantStatus(t, e.do("POST", "/", "", noKey()), http.StatusMethodNotAllowed)
	wantStatus(t, e.do("GET", "/nope", "", noKey()), http.StatusNotFound)
	wantStatus(t, e.do("GET", "/docs/", "", noKey()), http.StatusNotFound)
}

// declaresPathParam reports whether a path item declares the path
// parameter name, inline or by a $ref to #/components/parameters.
func declaresPathParam(doc, item map[string]any, name string) bool {
	params, _ := item["parameters"].([]any)
	for _, p := range params {
		pm, _ := p.(map[string]any)
		if ref, ok := pm["$ref"].(string); ok {
			comp, _ := doc["components"].(map[string]any)["parameters"].(map[string]any)
			pm, _ = comp[strings.TrimPrefix(ref, "#/components/parameters/")].(map[string]any)
		}
		if pm["in"] == "path" && pm["name"] == name && pm["required"] == true {
			return true
		}
	}
	return false
}

// Ensure the reasons of refusals are answered as the domain's table says:
// its HTTP status is the one of its code, and openapi.json's Reason lists
// every reason of the table, in order.
func TestRefusalReasonsInHTTP(t *testing.T) {
	var reasons []any
	for _, ref := range teleconsult.Refusals() {
		if statusOf[ref.Code] != ref.HTTPStatus {
			t.Errorf("%s: code %s answers %d, the table says %d", ref.Reason, ref.Code, statusOf[ref.Code], ref.HTTPStatus)
		}
		reasons = append(reasons, string(ref.Reason))
	}
	e := newEnv(t)
	doc := openAPIDoc(t, e)
	schema := doc["components"].(map[string]any)["schemas"].(map[string]any)["Reason"].(map[string]any)
	if got, _ := schema["enum"].([]any); !slices.Equal(got, reasons) {
		t.Errorf("openapi.json Reason enum %v, the table has %v", got, reasons)
	}
	gone := doc["paths"].(map[string]any)["/api/v1/telecons-be/sessions"].(map[string]any)["post"].(map[string]any)["responses"].(map[string]any)["410"].(map[string]any)
	enum := gone["content"].(map[string]any)["application/json"].(map[string]any)["schema"].(map[string]any)["properties"].(map[string]any)["reason"].(map[string]any)["enum"].([]any)
	for _, r := range enum {
		ref, ok := teleconsult.Reason(r.(string)).Refusal()
		if !ok || ref.HTTPStatus != http.StatusGone {
			t.Errorf("POST /sessions 410 documents reason %v, not a 410 of the table", r)
		}
	}
}
