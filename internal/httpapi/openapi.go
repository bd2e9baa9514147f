package httpapi

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"slices"
	"strings"
)

// openAPIDocument is the hand-written OpenAPI 3.1 description of every
// route; a test keeps it in step with [Server.Routes].
//
//go:embed openapi.json
var openAPIDocument []byte

//go:embed docs.html.tmpl
var docsTemplateText string

var docsTemplate = template.Must(template.New("docs").Parse(docsTemplateText))

//go:embed landing.html.tmpl
var landingTemplateText string

var landingTemplate = template.Must(template.New("landing").Parse(landingTemplateText))

// apiDocs is the served OpenAPI document, its HTML rendering and the
// landing page, all made once at start, with the Content-Security-Policy
// of each page.
type apiDocs struct {
	json    []byte
	html    []byte
	csp     string
	landing []byte
	// landingCSP is the landing page's policy.
	landingCSP string
}

// loadDocs sets info.version to version (when given) and renders the
// pages; the landing page links to the device check when check is true.
func loadDocs(version string, check bool) (*apiDocs, error) {
	doc := openAPIDocument
	if version != "" {
		v, _ := json.Marshal(version)
		const placeholder = `"version": "dev"`
		if bytes.Count(doc, []byte(placeholder)) != 1 {
			return nil, errors.New("httpapi: openapi.json: info.version placeholder not found once")
		}
		doc = bytes.Replace(doc, []byte(placeholder), append([]byte(`"version": `), v...), 1)
	}
	root, err := parseOrdered(doc)
	if err != nil {
		return nil, fmt.Errorf("httpapi: openapi.json: %w", err)
	}
	page, err := buildDocsPage(root)
	if err != nil {
		return nil, fmt.Errorf("httpapi: openapi.json: %w", err)
	}
	var buf bytes.Buffer
	if err := docsTemplate.Execute(&buf, page); err != nil {
		return nil, fmt.Errorf("httpapi: render docs: %w", err)
	}
	d := &apiDocs{json: doc, html: buf.Bytes()}
	if d.csp, err = styleOnlyCSP(d.html); err != nil {
		return nil, fmt.Errorf("httpapi: docs template: %w", err)
	}
	var landing bytes.Buffer
	err = landingTemplate.Execute(&landing, struct {
		Version string
		Check   bool
	}{page.Version, check})
	if err != nil {
		return nil, fmt.Errorf("httpapi: render the landing page: %w", err)
	}
	d.landing = landing.Bytes()
	if d.landingCSP, err = styleOnlyCSP(d.landing); err != nil {
		return nil, fmt.Errorf("httpapi: landing template: %w", err)
	}
	return d, nil
}

// styleOnlyCSP returns the Content-Security-Policy of a page that loads
// and runs nothing: it allows exactly the page's one inline style sheet,
// by hash.
func styleOnlyCSP(html []byte) (string, error) {
	_, rest, ok1 := bytes.Cut(html, []byte("<style>"))
	style, _, ok2 := bytes.Cut(rest, []byte("</style>"))
	if !ok1 || !ok2 {
		return "", errors.New("no <style>")
	}
	sum := sha256.Sum256(style)
	return "default-src 'none'; style-src 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) +
		"'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'", nil
}

// omap is a JSON object that keeps its keys' order, so that the page lists
// paths, fields and responses as the document does.
type omap struct {
	keys []string
	vals map[string]any
}

func (m *omap) get(k string) any {
	if m == nil {
		return nil
	}
	return m.vals[k]
}

// names returns the keys in order; nil for a nil object.
func (m *omap) names() []string {
	if m == nil {
		return nil
	}
	return m.keys
}

func (m *omap) str(k string) string { s, _ := m.get(k).(string); return s }

func (m *omap) obj(k string) *omap { o, _ := m.get(k).(*omap); return o }

// parseOrdered decodes JSON into *omap, []any, string, json.Number, bool
// and nil.
func parseOrdered(data []byte) (*omap, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var parse func() (any, error)
	parse = func() (any, error) {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		switch tok {
		case json.Delim('{'):
			m := &omap{vals: map[string]any{}}
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return nil, err
				}
				k := kt.(string)
				if _, dup := m.vals[k]; dup {
					return nil, fmt.Errorf("duplicate key %q", k)
				}
				if m.vals[k], err = parse(); err != nil {
					return nil, err
				}
				m.keys = append(m.keys, k)
			}
			_, err := dec.Token()
			return m, err
		case json.Delim('['):
			var a []any
			for dec.More() {
				v, err := parse()
				if err != nil {
					return nil, err
				}
				a = append(a, v)
			}
			_, err := dec.Token()
			return a, err
		}
		return tok, nil
	}
	v, err := parse()
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("trailing data")
	}
	root, ok := v.(*omap)
	if !ok {
		return nil, errors.New("not a JSON object")
	}
	return root, nil
}

// The page's view model.
type (
	docsPage struct {
		// Prefix is the base path of the API, which the curl commands
		// write as $API.
		Prefix      string
		Title       string
		Version     string
		Summary     string
		Description []docsBlock
		Security    []docsBlock
		Paths       []docsPath
	}
	docsPath struct {
		Path string
		Ops  []docsOp
	}
	docsOp struct {
		Method       string
		ID           string
		Summary      string
		Description  []docsBlock
		Public       bool
		Params       []docsField
		Body         []docsField
		BodyRequired bool
		// BodyExample is the request body's example, indented JSON.
		BodyExample string
		Responses   []docsResponse
		// Curl is a command line that sends the request; empty for a
		// WebSocket.
		Curl string
	}
	docsField struct {
		Name, In, Type string
		Required       bool
		Description    []docsSpan
	}
	docsResponse struct {
		Status      string
		Description []docsSpan
		Fields      []docsField
		// Example is the response's example, indented JSON in the
		// document's key order.
		Example string
	}
	// docsBlock is a paragraph, a heading ("# Title") or preformatted
	// text (every line indented by four spaces), as in Markdown.
	docsBlock struct {
		Pre, Heading bool
		Text         string
		Spans        []docsSpan
	}
	// docsSpan is text, or code when Code (`backticks` in the document).
	docsSpan struct {
		Code bool
		Text string
	}
)

// spans splits text on backticks.
func spans(text string) []docsSpan {
	var out []docsSpan
	for i, part := range strings.Split(text, "`") {
		if part != "" {
			out = append(out, docsSpan{Code: i%2 == 1, Text: part})
		}
	}
	return out
}

// blocks splits text into paragraphs; a paragraph whose lines are all
// indented by four spaces is preformatted, one starting with "# " a
// heading.
func blocks(text string) []docsBlock {
	var out []docsBlock
	for _, para := range strings.Split(text, "\n\n") {
		para = strings.Trim(para, "\n")
		if strings.TrimSpace(para) == "" {
			continue
		}
		if title, ok := strings.CutPrefix(para, "# "); ok && !strings.Contains(title, "\n") {
			out = append(out, docsBlock{Heading: true, Text: title})
			continue
		}
		lines := strings.Split(para, "\n")
		pre := true
		for _, l := range lines {
			pre = pre && strings.HasPrefix(l, "    ")
		}
		if pre {
			for i, l := range lines {
				lines[i] = strings.TrimPrefix(l, "    ")
			}
			out = append(out, docsBlock{Pre: true, Text: strings.Join(lines, "\n")})
			continue
		}
		out = append(out, docsBlock{Spans: spans(para)})
	}
	return out
}

var httpMethods = []string{"get", "put", "post", "patch", "delete", "head", "options", "trace"}

// docsBuilder resolves $refs against the document's components.
type docsBuilder struct{ root *omap }

func buildDocsPage(root *omap) (*docsPage, error) {
	b := docsBuilder{root}
	info := root.obj("info")
	page := &docsPage{
		Prefix:      Prefix,
		Title:       info.str("title"),
		Version:     info.str("version"),
		Summary:     info.str("summary"),
		Description: blocks(info.str("description")),
	}
	for _, name := range root.obj("components").obj("securitySchemes").names() {
		page.Security = append(page.Security, blocks(root.obj("components").obj("securitySchemes").obj(name).str("description"))...)
	}
	paths := root.obj("paths")
	if paths == nil {
		return nil, errors.New("no paths")
	}
	for _, p := range paths.names() {
		item := paths.obj(p)
		dp := docsPath{Path: p}
		for _, method := range item.names() {
			if !slices.Contains(httpMethods, method) {
				continue
			}
			op := item.obj(method)
			sec, hasSec := op.get("security").([]any)
			do := docsOp{
				Method:      strings.ToUpper(method),
				ID:          op.str("operationId"),
				Summary:     op.str("summary"),
				Description: blocks(op.str("description")),
				Public:      hasSec && len(sec) == 0,
			}
			params, _ := item.get("parameters").([]any)
			opParams, _ := op.get("parameters").([]any)
			var resolved []*omap
			for _, pv := range append(slices.Clone(params), opParams...) {
				pm := b.resolve(pv)
				resolved = append(resolved, pm)
				do.Params = append(do.Params, docsField{
					Name: pm.str("name"), In: pm.str("in"), Type: b.typeName(pm.get("schema")),
					Required: pm.get("required") == true, Description: spans(pm.str("description")),
				})
			}
			var bodyContent *omap
			if rb := b.resolve(op.get("requestBody")); rb != nil {
				do.BodyRequired = rb.get("required") == true
				bodyContent = rb.obj("content")
				media := bodyContent.obj("application/json")
				do.Body = b.fields(media.get("schema"), "", 0)
				if ex := media.get("example"); ex != nil {
					do.BodyExample = indentJSON(ex)
				} else if media != nil {
					// The curl command needs a body to send.
					return nil, fmt.Errorf("%s %s: the JSON request body has no example", do.Method, p)
				}
			}
			responses := op.obj("responses")
			websocket := false
			for _, status := range responses.names() {
				websocket = websocket || status == "101"
				rm := b.resolve(responses.get(status))
				dr := docsResponse{Status: status, Description: spans(rm.str("description"))}
				for _, ct := range rm.obj("content").names() {
					media := rm.obj("content").obj(ct)
					if strings.HasPrefix(status, "2") {
						dr.Fields = b.fields(media.get("schema"), "", 0)
					}
					if ex := media.get("example"); ex != nil {
						dr.Example = indentJSON(ex)
					}
				}
				do.Responses = append(do.Responses, dr)
			}
			if !websocket {
				auth := authNone
				switch {
				case !hasSec:
					auth = authAPIKey
				case len(sec) > 0:
					auth = authToken
				}
				do.Curl = curlCommand(do.Method, p, auth, resolved, bodyContent)
			}
			dp.Ops = append(dp.Ops, do)
		}
		page.Paths = append(page.Paths, dp)
	}
	return page, nil
}

// resolve follows a local $ref ("#/components/...").
func (b docsBuilder) resolve(v any) *omap {
	m, _ := v.(*omap)
	for i := 0; m != nil && i < 8; i++ {
		ref := m.str("$ref")
		if ref == "" {
			return m
		}
		m = b.root
		for _, part := range strings.Split(strings.TrimPrefix(ref, "#/"), "/") {
			m = m.obj(part)
		}
	}
	return m
}

// typeName describes a schema in a few words: "string (date-time)",
// "array of Participant", "ParticipantsObject | array of string".
func (b docsBuilder) typeName(v any) string {
	m, _ := v.(*omap)
	if m == nil {
		return ""
	}
	if ref := m.str("$ref"); ref != "" {
		return ref[strings.LastIndex(ref, "/")+1:]
	}
	if alts, ok := m.get("oneOf").([]any); ok {
		var names []string
		for _, a := range alts {
			names = append(names, b.typeName(a))
		}
		return strings.Join(names, " | ")
	}
	var t string
	switch tv := m.get("type").(type) {
	case string:
		t = tv
	case []any:
		var names []string
		for _, n := range tv {
			names = append(names, fmt.Sprint(n))
		}
		t = strings.Join(names, " | ")
	}
	switch {
	case t == "array":
		t = "array of " + b.typeName(m.get("items"))
	case m.str("format") != "":
		t += " (" + m.str("format") + ")"
	}
	if enum, ok := m.get("enum").([]any); ok {
		var vals []string
		for _, e := range enum {
			vals = append(vals, fmt.Sprint(e))
		}
		t += ": " + strings.Join(vals, ", ")
	}
	return t
}

// fields lists the properties of an object schema, nested ones with dotted
// names (participants.data[].userId).
func (b docsBuilder) fields(v any, prefix string, depth int) []docsField {
	s := b.resolve(v)
	if s == nil || depth > 5 {
		return nil
	}
	var out []docsField
	if alts, ok := s.get("oneOf").([]any); ok {
		for _, a := range alts {
			out = append(out, b.fields(a, prefix, depth+1)...)
		}
		return out
	}
	props := s.obj("properties")
	if props == nil {
		return nil
	}
	required, _ := s.get("required").([]any)
	for _, name := range props.names() {
		pv := props.get(name)
		ps := b.resolve(pv)
		desc := ps.str("description")
		if pm, ok := pv.(*omap); ok && pm.str("description") != "" {
			desc = pm.str("description")
		}
		full := prefix + name
		out = append(out, docsField{
			Name: full, Type: b.typeName(pv), Required: slices.Contains(required, any(name)),
			Description: spans(desc),
		})
		out = append(out, b.fields(ps, full+".", depth+1)...)
		if items := ps.get("items"); items != nil {
			out = append(out, b.fields(items, full+"[].", depth+1)...)
		}
	}
	return out
}

// Who a curl command authenticates as.
const (
	authNone   = iota // a public route
	authAPIKey        // a trusted caller
	authToken         // a participant's session token, or an API key
)

// curlCommand writes a shell command that sends the operation: the API's
// own paths under $API, the others under $BASE; path parameters and
// header parameters as shell variables named after them ({userId} is
// $USER_ID); the content of a JSON body from its example, a multipart body
// with a file per binary field.
func curlCommand(method, path string, auth int, params []*omap, body *omap) string {
	url := "$BASE" + path
	if rest, ok := strings.CutPrefix(path, Prefix); ok {
		url = "$API" + rest
	}
	for _, p := range params {
		if p.str("in") == "path" {
			url = strings.ReplaceAll(url, "{"+p.str("name")+"}", "$"+shellName(p.str("name")))
		}
	}
	var b strings.Builder
	b.WriteString("curl -s")
	if method != "GET" {
		b.WriteString(" -X " + method)
	}
	b.WriteString(` "` + url + `"`)
	line := func(s string) { b.WriteString(" \\\n  " + s) }
	switch auth {
	case authAPIKey:
		line(`-H "Authorization: Bearer $KEY"`)
	case authToken:
		line(`-H "Authorization: Bearer $TOKEN"`)
	}
	for _, p := range params {
		if p.str("in") == "header" {
			line(`-H "` + p.str("name") + `: $` + shellName(p.str("name")) + `"`)
		}
	}
	if ex := body.obj("application/json").get("example"); ex != nil {
		data := string(compactJSON(ex))
		if len(data) > 72 {
			data = indentJSON(ex)
		}
		line(`-H 'Content-Type: application/json'`)
		line(`-d '` + strings.ReplaceAll(data, "'", `'\''`) + `'`)
	}
	form := body.obj("multipart/form-data").obj("schema").obj("properties")
	for _, name := range form.names() {
		if form.obj(name).str("format") == "binary" {
			line("-F " + name + "=@$" + shellName(name))
		}
	}
	return b.String()
}

// shellName turns a parameter's name into a shell variable's: fileId and
// file-id are FILE_ID.
func shellName(name string) string {
	var b strings.Builder
	for i, r := range name {
		switch {
		case r == '-':
			b.WriteByte('_')
		case r >= 'A' && r <= 'Z' && i > 0 && name[i-1] >= 'a' && name[i-1] <= 'z':
			b.WriteByte('_')
			b.WriteRune(r)
		default:
			b.WriteString(strings.ToUpper(string(r)))
		}
	}
	return b.String()
}

// compactJSON writes parsed JSON on one line, object keys in the document's
// order.
func compactJSON(v any) []byte {
	var buf bytes.Buffer
	var write func(v any)
	write = func(v any) {
		switch t := v.(type) {
		case *omap:
			buf.WriteByte('{')
			for i, k := range t.keys {
				if i > 0 {
					buf.WriteByte(',')
				}
				buf.Write(mustJSON(k))
				buf.WriteByte(':')
				write(t.vals[k])
			}
			buf.WriteByte('}')
		case []any:
			buf.WriteByte('[')
			for i, e := range t {
				if i > 0 {
					buf.WriteByte(',')
				}
				write(e)
			}
			buf.WriteByte(']')
		case json.Number:
			buf.WriteString(t.String())
		default:
			buf.Write(mustJSON(t))
		}
	}
	write(v)
	return buf.Bytes()
}

// indentJSON is compactJSON indented by two spaces.
func indentJSON(v any) string {
	var buf bytes.Buffer
	if err := json.Indent(&buf, compactJSON(v), "", "  "); err != nil {
		return string(compactJSON(v))
	}
	return buf.String()
}

func mustJSON(v any) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
	return bytes.TrimSpace(buf.Bytes())
}
