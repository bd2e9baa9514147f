package mail

import (
	"net/mail"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/teleconsult/teleconsult/internal/smtptest"
	"github.com/teleconsult/teleconsult/internal/teleconsult"
)

func TestParseURL(t *testing.T) {
	tests := []struct {
		in   string
		want Server
		err  string
	}{
		{"smtp://mail.example.org", Server{Host: "mail.example.org", Port: 587}, ""},
		{"smtps://mail.example.org", Server{Host: "mail.example.org", Port: 465, ImplicitTLS: true}, ""},
		{"SMTP://user@mail.example.org:25/", Server{Host: "mail.example.org", Port: 25, Username: "user"}, ""},
		{"smtp://us%40er:p%40ss:w@127.0.0.1:2525", Server{Host: "127.0.0.1", Port: 2525, Username: "us@er", Password: "p@ss:w"}, ""},
		{"smtp://u:p@ss@[::1]:2525", Server{Host: "::1", Port: 2525, Username: "u", Password: "p@ss"}, ""},
		{"http://mail.example.org", Server{}, "expected smtp://"},
		{"mail.example.org:25", Server{}, "expected smtp://"},
		{"smtp://", Server{}, "host"},
		{"smtp://mail.example.org:0", Server{}, "port"},
		{"smtp://mail.example.org:99999", Server{}, "port"},
		{"smtp://mail.example.org/path", Server{}, "no path"},
		{"smtp://mail.example.org?x=1", Server{}, "no path"},
		{"smtp://u:secret%zz@mail.example.org", Server{}, "password is badly percent-encoded"},
		{"smtp://mail example.org", Server{}, "without spaces"},
	}
	for _, tt := range tests {
		got, err := ParseURL(tt.in)
		switch {
		case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
			t.Errorf("ParseURL(%q) = %+v, %v; want error with %q", tt.in, got, err, tt.err)
		case tt.err == "" && (err != nil || got != tt.want):
			t.Errorf("ParseURL(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
		case err != nil && strings.Contains(err.Error(), "secret"):
			t.Errorf("ParseURL(%q): error %q shows the password", tt.in, err)
		}
	}
	s, _ := ParseURL("smtps://us%40er:secret@mail.example.org")
	if got := s.String(); got != "smtps://us@er:******@mail.example.org:465" {
		t.Errorf("String() = %q", got)
	}
}

// FuzzParseURL: SMTP_URL is outside input. Parsing never panics; a parsed
// server has a host and a valid port, and its String never shows the
// password.
func FuzzParseURL(f *testing.F) {
	for _, s := range []string{"smtp://mail.example.org", "smtps://u:p@h:465", "smtp://u:p%40@[::1]:25/", "smtp://@:", "smtp://a:b@c@d:1", "smtp://[::1", "smtps://x:%zz@h"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		srv, err := ParseURL(s)
		if err != nil {
			return
		}
		if srv.Host == "" || srv.Port < 1 || srv.Port > 65535 || strings.ContainsAny(srv.Host, " @/") {
			t.Fatalf("ParseURL(%q) = %+v", s, srv)
		}
		if len(srv.Password) >= 4 && !strings.Contains(srv.Host, srv.Password) && !strings.Contains(srv.Username, srv.Password) &&
			!strings.Contains("smtps://:******@", srv.Password) && strings.Contains(srv.String(), srv.Password) {
			t.Fatalf("String() of %q shows the password: %s", s, srv.String())
		}
	})
}

func TestParseFrom(t *testing.T) {
	for _, ok := range []string{"visits@clinic.example", "Clinic <visits@clinic.example>", `"Clinica, Roma" <v@c.example>`} {
		if _, err := ParseFrom(ok); err != nil {
			t.Errorf("ParseFrom(%q): %v", ok, err)
		}
	}
	for _, bad := range []string{"", "not an address", "a@b.c, d@e.f", "a@b.c\r\nBcc: x@y.z"} {
		if _, err := ParseFrom(bad); err == nil {
			t.Errorf("ParseFrom(%q) accepted", bad)
		}
	}
}

// Ensure MAIL_TEMPLATES_DIR overrides built-in templates file by file, may
// add a language with all four files, and refuses mistakes by name.
func TestTemplatesDir(t *testing.T) {
	write := func(dir, rel, content string) {
		t.Helper()
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	dir := t.TempDir()
	write(dir, "it/subject.txt", "Visita {{.DayMonth}} ore {{.Start}}{{if .Cancel}} annullata{{end}}\n")
	write(dir, "de/subject.txt", "Ihr Videotermin am {{.DayMonth}} um {{.Start}}")
	write(dir, "de/summary.txt", "Videotermin")
	write(dir, "de/body.txt", "Link: {{.Link}}")
	write(dir, "de/body.html", "<p>Link: <a href=\"{{.Link}}\">{{.Link}}</a></p>")
	ml := newMailer(t, func(c *Config) { c.TemplatesDir = dir })
	m := invitation(teleconsult.InvitationInvite)
	m.Language = "it"
	if p, _ := parse(t, ml, m); p.Subject != "Visita 23 novembre ore 10:00" || !strings.Contains(p.Text, "Hai una visita video") {
		t.Errorf("it override: %q %q", p.Subject, p.Text)
	}
	m.Language = "de"
	if p, _ := parse(t, ml, m); p.Subject != "Ihr Videotermin am 23 November um 10:00" || p.Text != "Link: "+link {
		t.Errorf("de: %q %q", p.Subject, p.Text)
	}

	for _, tt := range []struct{ files map[string]string }{
		{map[string]string{"fr/subject.txt": "x"}},                        // a new language without all files
		{map[string]string{"it/subject.txt": "{{.Nope}}"}},                // an unknown field
		{map[string]string{"it/body.html": "{{if}}"}},                     // bad syntax
		{map[string]string{"it/footer.txt": "x"}},                         // unknown file
		{map[string]string{"README.md": "x"}},                             // not a language
		{map[string]string{"it/body.html": `<a href="{{.Link}}>x</a>{{`}}, // broken HTML template
	} {
		d := t.TempDir()
		var name string
		for rel, content := range tt.files {
			write(d, rel, content)
			name = rel
		}
		cfg := testConfig()
		cfg.TemplatesDir = d
		_, err := New(cfg)
		if err == nil || !strings.Contains(err.Error(), "MAIL_TEMPLATES_DIR") || !strings.Contains(err.Error(), filepath.Base(filepath.Dir(filepath.Join(d, name)))) {
			t.Errorf("%v: error %v, want one naming MAIL_TEMPLATES_DIR and the file", tt.files, err)
		}
	}
	cfg := testConfig()
	cfg.TemplatesDir = filepath.Join(dir, "missing")
	if _, err := New(cfg); err == nil {
		t.Error("a missing MAIL_TEMPLATES_DIR was accepted")
	}
}

// FuzzMessageHeaders: names, ids and addresses come from outside (the
// company name is configuration; TestHeaderInjection covers it).
// Whatever they hold, the message parses, has only our headers, one
// recipient (the given one), and a calendar part of known properties with
// one attendee.
func FuzzMessageHeaders(f *testing.F) {
	f.Add("Anna Verdi", "id@host", "mario@example.org", "u@host")
	f.Add("A\r\nBcc: x@y.z", "i\r\nBcc: b@c.d", "m@e.org\r\nBcc: x@y.z", "u\nATTENDEE:mailto:x@y")
	f.Add("=?utf-8?q?a=0D=0ABcc:_x@y.z?=", "<>", "\"a b\"@example.org", "u;x=y:z")
	f.Add("é\u2028ü\x00", "\xff", "x@[127.0.0.1]", "")
	ml := newMailer(f, nil)
	f.Fuzz(func(t *testing.T, name, id, to, uid string) {
		if len(name)+len(id)+len(to)+len(uid) > 2000 {
			return
		}
		m := invitation(teleconsult.InvitationInvite)
		m.Others, m.MessageID, m.To, m.UID = []string{name}, id, to, uid
		raw, err := ml.Message(m)
		if err != nil {
			return // refused (a bad address): fine
		}
		p, err := smtptest.Parse(raw)
		if err != nil {
			t.Fatalf("unparsable message: %v\n%s", err, raw)
		}
		for k := range p.Header {
			if !slices.Contains([]string{"From", "To", "Subject", "Message-Id", "Date", "Auto-Submitted", "Mime-Version", "Content-Type"}, k) {
				t.Fatalf("header %s appeared:\n%s", k, raw)
			}
		}
		addrs, err := mail.ParseAddressList(p.Header.Get("To"))
		if err != nil || len(addrs) != 1 || addrs[0].Address != to {
			t.Fatalf("To %q (%v), want %q only", p.Header.Get("To"), err, to)
		}
		if !utf8.Valid(p.Calendar) {
			t.Fatal("calendar part is not UTF-8")
		}
		checkICSLines(t, p.Calendar)
	})
}
