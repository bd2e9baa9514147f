package httpapi

import (
	"crypto/sha256"
	"encoding/base64"
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
	if got := len(e.srv.Routes()); got != 19 {
		t.Errorf("router has %d routes, want 19", got)
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
