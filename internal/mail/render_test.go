package mail

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/mail"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	ical "github.com/arran4/golang-ical"

	"github.com/teleconsult/teleconsult/internal/smtptest"
	"github.com/teleconsult/teleconsult/internal/teleconsult"
)

// start is 10:00 in Rome (CET, UTC+1).
var start = time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)

const link = "https://visit.example.test/join/AbCdEfGhIjKlMnOpQrStUvWxYz0123456789_-abcd"

func testConfig() Config {
	return Config{
		Server: Server{Host: "127.0.0.1", Port: 1}, From: "visits@clinic.example", Company: "Clinica Esempio",
		LogoURL: "https://visit.example.test/logo.png", DeviceCheckURL: "https://visit.example.test/check",
		Now: func() time.Time { return start.Add(-48 * time.Hour) },
	}
}

func newMailer(t testing.TB, mod func(*Config)) *Mailer {
	t.Helper()
	cfg := testConfig()
	if mod != nil {
		mod(&cfg)
	}
	ml, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ml.Close)
	return ml
}

func invitation(kind teleconsult.InvitationKind) *teleconsult.Mail {
	m := &teleconsult.Mail{
		MessageID: "0123456789abcdef0123456789abcdef.7@visit.example.test", Kind: kind,
		UID: "0123456789abcdef0123456789abcdef@visit.example.test", Sequence: 2,
		Stamp: start.Add(-24 * time.Hour), Start: start, End: start.Add(30 * time.Minute), Opens: start.Add(-10 * time.Minute),
		To: "mario.rossi@example.org", Language: "en", TimeZone: "Europe/Rome", Link: link,
	}
	if kind == teleconsult.InvitationCancel {
		m.Link = ""
	}
	return m
}

func parse(t *testing.T, ml *Mailer, m *teleconsult.Mail) (*smtptest.Parsed, []byte) {
	t.Helper()
	raw, err := ml.Message(m)
	if err != nil {
		t.Fatal(err)
	}
	p, err := smtptest.Parse(raw)
	if err != nil {
		t.Fatalf("parse: %v\n%s", err, raw)
	}
	return p, raw
}

// parseICS parses with github.com/arran4/golang-ical and returns the one
// event.
func parseICS(t *testing.T, data []byte) (*ical.Calendar, *ical.VEvent) {
	t.Helper()
	cal, err := ical.ParseCalendar(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("golang-ical: %v\n%s", err, data)
	}
	evs := cal.Events()
	if len(evs) != 1 {
		t.Fatalf("golang-ical: %d events", len(evs))
	}
	return cal, evs[0]
}

func prop(ev *ical.VEvent, p ical.ComponentProperty) string {
	if x := ev.GetProperty(p); x != nil {
		return x.Value
	}
	return ""
}

// Ensure each kind of message has the MIME structure of an invitation, the
// subject of the issue, the link in both parts and in the calendar entry,
// and the date in the recipient's zone and language.
func TestMessageStructure(t *testing.T) {
	ml := newMailer(t, nil)
	tests := []struct {
		kind    teleconsult.InvitationKind
		lang    string
		subject string
		method  string
		says    []string // in the text and the HTML
	}{
		{teleconsult.InvitationInvite, "en", "Your video visit on 23 November at 10:00", "REQUEST",
			[]string{"Monday 23 November 2026", "10:00–10:30 (Europe/Rome)", "works from 09:50", "camera", "microphone", "quiet", "Clinica Esempio"}},
		{teleconsult.InvitationUpdate, "en", "Changed: your video visit on 23 November at 10:00", "REQUEST",
			[]string{"has been", "changed", "Monday 23 November 2026"}},
		{teleconsult.InvitationCancel, "en", "Cancelled: your video visit on 23 November at 10:00", "CANCEL",
			[]string{"cancelled", "Monday 23 November 2026"}},
		{teleconsult.InvitationInvite, "it", "La tua visita video del 23 novembre alle 10:00", "REQUEST",
			[]string{"lunedì 23 novembre 2026", "videocamera", "microfono", "tranquillo", "dalle 09:50"}},
		{teleconsult.InvitationCancel, "it", "Annullata: la tua visita video del 23 novembre alle 10:00", "CANCEL",
			[]string{"annullata"}},
		{teleconsult.InvitationInvite, "fr", "Your video visit on 23 November at 10:00", "REQUEST", // no French templates: English
			[]string{"Monday 23 November 2026"}},
	}
	for _, tt := range tests {
		t.Run(tt.kind.String()+"-"+tt.lang, func(t *testing.T) {
			m := invitation(tt.kind)
			m.Language = tt.lang
			p, _ := parse(t, ml, m)
			want := []string{"multipart/mixed", "  multipart/alternative", "    text/plain", "    text/html", "  text/calendar"}
			if !slices.Equal(p.Structure, want) {
				t.Errorf("structure %q, want %q", p.Structure, want)
			}
			if p.Subject != tt.subject {
				t.Errorf("subject %q, want %q", p.Subject, tt.subject)
			}
			if p.CalendarParams["method"] != tt.method || p.CalendarParams["charset"] != "UTF-8" || !strings.HasPrefix(p.CalendarDisposition, "attachment") {
				t.Errorf("calendar part: %v, %q", p.CalendarParams, p.CalendarDisposition)
			}
			for _, s := range tt.says {
				if !strings.Contains(p.Text, s) || !strings.Contains(p.HTML, s) {
					t.Errorf("text or HTML lacks %q:\n%s\n%s", s, p.Text, p.HTML)
				}
			}
			hasLink := tt.kind != teleconsult.InvitationCancel
			if strings.Contains(p.Text, link) != hasLink || strings.Contains(p.HTML, `href="`+link+`"`) != hasLink {
				t.Errorf("link in text %v, in HTML %v; want %v", strings.Contains(p.Text, link), strings.Contains(p.HTML, link), hasLink)
			}
			if hasLink && (!strings.Contains(p.Text, "https://visit.example.test/check") || !strings.Contains(p.HTML, `src="https://visit.example.test/logo.png"`)) {
				t.Error("no device check link or no logo")
			}
			// The device check speaks the invitation's language.
			check := "https://visit.example.test/check?lang=" + tt.lang
			if hasLink && (!strings.Contains(p.Text, check) || !strings.Contains(p.HTML, `href="`+check+`"`)) {
				t.Errorf("no device check link %s", check)
			}
			h := p.Header
			if h.Get("Message-Id") != "<"+m.MessageID+">" || h.Get("Auto-Submitted") != "auto-generated" || h.Get("X-Mailer") != "" || h.Get("User-Agent") != "" {
				t.Errorf("headers %v", h)
			}
			from, err := mail.ParseAddress(h.Get("From"))
			if err != nil || from.Address != "visits@clinic.example" || from.Name != "Clinica Esempio" {
				t.Errorf("From %q: %v", h.Get("From"), err)
			}
			to, err := mail.ParseAddressList(h.Get("To"))
			if err != nil || len(to) != 1 || to[0].Address != m.To || to[0].Name != "" {
				t.Errorf("To %q: %v", h.Get("To"), err)
			}

			cal, ev := parseICS(t, p.Calendar)
			if got := cal.CalendarProperties; !hasCalProp(got, "METHOD", tt.method) || !hasCalProp(got, "VERSION", "2.0") {
				t.Errorf("calendar properties %v", got)
			}
			if ev.Id() != m.UID || prop(ev, ical.ComponentPropertySequence) != "2" {
				t.Errorf("UID %q SEQUENCE %q", ev.Id(), prop(ev, ical.ComponentPropertySequence))
			}
			s, err1 := ev.GetStartAt()
			e, err2 := ev.GetEndAt()
			if err1 != nil || err2 != nil || !s.Equal(start) || !e.Equal(start.Add(30*time.Minute)) {
				t.Errorf("DTSTART %v DTEND %v (%v %v)", s, e, err1, err2)
			}
			att := ev.Attendees()
			if len(att) != 1 || att[0].Email() != m.To {
				t.Errorf("attendees %v", att)
			}
			if org := prop(ev, ical.ComponentPropertyOrganizer); org != "mailto:visits@clinic.example" {
				t.Errorf("organizer %q", org)
			}
			if hasLink {
				if prop(ev, ical.ComponentPropertyUrl) != link || prop(ev, ical.ComponentPropertyLocation) != link ||
					!strings.Contains(ical.FromText(prop(ev, ical.ComponentPropertyDescription)), link) {
					t.Errorf("link not in URL, LOCATION and DESCRIPTION")
				}
			} else if prop(ev, ical.ComponentPropertyStatus) != "CANCELLED" || strings.Contains(string(p.Calendar), "join/") {
				t.Errorf("cancellation: status %q", prop(ev, ical.ComponentPropertyStatus))
			}
		})
	}
}

func hasCalProp(props []ical.CalendarProperty, name, value string) bool {
	for _, p := range props {
		if p.IANAToken == name && p.Value == value {
			return true
		}
	}
	return false
}

// Ensure the default zone applies to participants without one, and that a
// link opening on the day before says so.
func TestMessageZoneAndOpening(t *testing.T) {
	ml := newMailer(t, func(c *Config) { c.DefaultTimeZone = "America/New_York" })
	m := invitation(teleconsult.InvitationInvite)
	m.TimeZone = ""
	m.Opens = start.Add(-15 * time.Hour)
	p, _ := parse(t, ml, m)
	if p.Subject != "Your video visit on 23 November at 04:00" || !strings.Contains(p.Text, "(America/New_York)") ||
		!strings.Contains(p.Text, "works from Sunday 22 November 2026, 13:00") {
		t.Errorf("subject %q\n%s", p.Subject, p.Text)
	}
	if _, err := New(Config{Server: Server{Host: "h", Port: 1}, From: "a@b.c", DefaultTimeZone: "Mars/Base"}); err == nil || !strings.Contains(err.Error(), "DEFAULT_TIME_ZONE") {
		t.Errorf("bad zone: %v", err)
	}
}

// Ensure minimum patient data: no name of the recipient anywhere; other
// participants' names only when given (INVITE_SHOW_NAMES), escaped.
func TestMessageNames(t *testing.T) {
	ml := newMailer(t, nil)
	m := invitation(teleconsult.InvitationInvite)
	p, raw := parse(t, ml, m)
	if strings.Contains(p.Text, "With:") || bytes.Contains(raw, []byte("Anna")) {
		t.Error("names without INVITE_SHOW_NAMES")
	}
	m.Others = []string{`Dr. Anna <script>alert(1)</script> Verdi`, "Luigi, Bianchi; \\x"}
	p, _ = parse(t, ml, m)
	if !strings.Contains(p.Text, "With: Dr. Anna <script>alert(1)</script> Verdi, Luigi, Bianchi; \\x") {
		t.Errorf("text: %s", p.Text)
	}
	if strings.Contains(p.HTML, "<script>") || !strings.Contains(p.HTML, "Dr. Anna &lt;script&gt;alert(1)&lt;/script&gt; Verdi") {
		t.Errorf("HTML not escaped: %s", p.HTML)
	}
	_, ev := parseICS(t, p.Calendar)
	if d := ical.FromText(prop(ev, ical.ComponentPropertyDescription)); !strings.Contains(d, "Luigi, Bianchi; \\x") {
		t.Errorf("description %q", d)
	}
}

// Ensure CR/LF and header tricks in names, addresses, the company name and
// ids never make a header or a calendar property of their own.
func TestHeaderInjection(t *testing.T) {
	ml := newMailer(t, func(c *Config) {
		c.Company = "Clinic\r\nBcc: evil@attacker.example"
		c.From = `"Clinic\r\nBcc: evil@attacker.example" <visits@clinic.example>`
	})
	for _, to := range []string{
		"mario@example.org\r\nBcc: evil@attacker.example",
		"mario@example.org\nRCPT TO:<evil@attacker.example>",
		"Mario <mario@example.org>",
		"mario@example.org, evil@attacker.example",
		"mario@example.org>\r\n",
	} {
		m := invitation(teleconsult.InvitationInvite)
		m.To = to
		_, err := ml.Message(m)
		var me *teleconsult.MailError
		if !errors.As(err, &me) || !me.Permanent || strings.Contains(me.Reason, "example") {
			t.Errorf("To %q: %v, want a permanent error naming no address", to, err)
		}
	}
	m := invitation(teleconsult.InvitationInvite)
	m.MessageID = "x@y\r\nBcc: evil@attacker.example"
	m.UID = "u\r\nATTENDEE:mailto:evil@attacker.example"
	m.Others = []string{"Anna\r\nBcc: evil@attacker.example", "Luigi\nATTENDEE:mailto:evil@attacker.example"}
	p, raw := parse(t, ml, m)
	for k := range p.Header {
		if !slices.Contains([]string{"From", "To", "Subject", "Message-Id", "Date", "Auto-Submitted", "Mime-Version", "Content-Type"}, k) {
			t.Errorf("unexpected header %s: %q", k, p.Header[k])
		}
	}
	if bytes.Contains(raw, []byte("\nBcc:")) || bytes.Contains(raw, []byte("\r\nATTENDEE:mailto:evil")) {
		t.Errorf("injected:\n%s", raw)
	}
	checkICSLines(t, p.Calendar)
	_, ev := parseICS(t, p.Calendar)
	if len(ev.Attendees()) != 1 {
		t.Errorf("attendees %v", ev.Attendees())
	}
}

// checkICSLines checks the iCalendar text: CRLF line ends, folded lines
// of at most 75 octets, and every unfolded line a known property.
func checkICSLines(t testing.TB, data []byte) {
	t.Helper()
	s := string(data)
	if !strings.HasSuffix(s, "\r\n") || strings.Contains(strings.ReplaceAll(s, "\r\n", ""), "\n") || strings.Contains(strings.ReplaceAll(s, "\r\n", ""), "\r") {
		t.Fatalf("bad line ends: %q", s)
	}
	attendees := 0
	for _, l := range strings.Split(strings.TrimSuffix(s, "\r\n"), "\r\n") {
		if len(l) > 75 {
			t.Errorf("line longer than 75 octets: %q", l)
		}
	}
	for _, l := range strings.Split(strings.ReplaceAll(strings.TrimSuffix(s, "\r\n"), "\r\n ", ""), "\r\n") {
		name, _, _ := strings.Cut(l, ":")
		name, _, _ = strings.Cut(name, ";")
		if !slices.Contains(icsProperties, name) {
			t.Errorf("unexpected line %q", l)
		}
		if name == "ATTENDEE" {
			attendees++
		}
	}
	if attendees != 1 {
		t.Errorf("%d ATTENDEE lines", attendees)
	}
}

var icsProperties = []string{"BEGIN", "END", "PRODID", "VERSION", "CALSCALE", "METHOD", "UID", "SEQUENCE",
	"DTSTAMP", "DTSTART", "DTEND", "SUMMARY", "DESCRIPTION", "LOCATION", "URL", "ORGANIZER", "ATTENDEE",
	"STATUS", "TRANSP", "CLASS", "ACTION", "TRIGGER"}

// python is a python3 that imports icalendar (Debian's python3-icalendar),
// found once.
var python = sync.OnceValues(func() (string, error) {
	for _, py := range []string{"/usr/bin/python3", "python3"} {
		if err := exec.Command(py, "-c", "import icalendar").Run(); err == nil {
			return py, nil
		}
	}
	return "", exec.ErrNotFound
})

// pyParse is the script run by Python: it parses the calendar on stdin and
// prints what it found as JSON.
const pyParse = `
import json, sys, icalendar
cal = icalendar.Calendar.from_ical(sys.stdin.buffer.read())
evs = [c for c in cal.walk() if c.name == "VEVENT"]
out = {"method": str(cal.get("method")), "version": str(cal.get("version")), "events": []}
for e in evs:
    att = e.get("attendee")
    att = att if isinstance(att, list) else [att]
    out["events"].append({
        "uid": str(e.get("uid")), "sequence": int(e.get("sequence")),
        "dtstart": e.decoded("dtstart").isoformat(), "dtend": e.decoded("dtend").isoformat(),
        "dtstamp": e.decoded("dtstamp").isoformat(),
        "summary": str(e.get("summary")), "description": str(e.get("description", "")),
        "location": str(e.get("location", "")), "url": str(e.get("url", "")),
        "status": str(e.get("status")), "organizer": str(e.get("organizer")),
        "attendees": [str(a) for a in att if a is not None],
        "alarms": len([a for a in e.walk() if a.name == "VALARM"]),
    })
print(json.dumps(out))
`

type pyEvent struct {
	UID, DTStart, DTEnd, DTStamp, Summary, Description, Location, URL, Status, Organizer string
	Sequence                                                                             int
	Attendees                                                                            []string
	Alarms                                                                               int
}

func pythonICS(t *testing.T, data []byte) (method string, ev pyEvent) {
	t.Helper()
	py, err := python()
	if err != nil {
		t.Fatal("python3 with the icalendar module is needed to check the calendar part with an independent parser: " +
			"apt-get install -y python3-icalendar (scripts/test.sh installs it)")
	}
	cmd := exec.Command(py, "-c", pyParse)
	cmd.Stdin = bytes.NewReader(data)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("python icalendar: %v\n%s\n%s", err, stderr.String(), data)
	}
	var res struct {
		Method, Version string
		Events          []struct {
			UID, DTStart, DTEnd, DTStamp, Summary, Description, Location, URL, Status, Organizer string
			Sequence                                                                             int
			Attendees                                                                            []string
			Alarms                                                                               int
		}
	}
	dec := json.NewDecoder(bytes.NewReader(out))
	if err := dec.Decode(&res); err != nil || len(res.Events) != 1 || res.Version != "2.0" {
		t.Fatalf("python icalendar said %s (%v)", out, err)
	}
	e := res.Events[0]
	return res.Method, pyEvent{e.UID, e.DTStart, e.DTEnd, e.DTStamp, e.Summary, e.Description, e.Location, e.URL, e.Status, e.Organizer, e.Sequence, e.Attendees, e.Alarms}
}

// Ensure an independent parser, Debian's python3-icalendar, reads the
// calendar part as we mean it, for an invitation (long Italian text, folded
// lines, escaped commas) and a cancellation.
func TestCalendarWithPythonICalendar(t *testing.T) {
	ml := newMailer(t, nil)
	for _, kind := range []teleconsult.InvitationKind{teleconsult.InvitationInvite, teleconsult.InvitationCancel} {
		m := invitation(kind)
		m.Language = "it"
		m.Others = []string{"Dr.ssa Anna Verdi, cardiologa; studio 3"}
		p, _ := parse(t, ml, m)
		method, ev := pythonICS(t, p.Calendar)
		wantMethod, wantStatus, wantURL, wantAlarms := "REQUEST", "CONFIRMED", link, 1
		if kind == teleconsult.InvitationCancel {
			wantMethod, wantStatus, wantURL, wantAlarms = "CANCEL", "CANCELLED", "", 0
		}
		if method != wantMethod || ev.UID != m.UID || ev.Sequence != 2 || ev.Status != wantStatus || ev.URL != wantURL || ev.Location != wantURL || ev.Alarms != wantAlarms {
			t.Errorf("%s: method %s event %+v", kind, method, ev)
		}
		if ev.DTStart != "2026-11-23T09:00:00+00:00" || ev.DTEnd != "2026-11-23T09:30:00+00:00" || ev.DTStamp != "2026-11-22T09:00:00+00:00" {
			t.Errorf("%s: times %s %s %s", kind, ev.DTStart, ev.DTEnd, ev.DTStamp)
		}
		if !slices.Equal(ev.Attendees, []string{"mailto:" + m.To}) || ev.Organizer != "mailto:visits@clinic.example" {
			t.Errorf("%s: attendees %q organizer %q", kind, ev.Attendees, ev.Organizer)
		}
		if ev.Description != strings.ReplaceAll(p.Text, "\r\n", "\n") || ev.Summary != "Visita video – Clinica Esempio" {
			t.Errorf("%s: summary %q, description differs from the text part:\n%q\n%q", kind, ev.Summary, ev.Description, p.Text)
		}
		checkICSLines(t, p.Calendar)
	}
}
