package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	ical "github.com/arran4/golang-ical"

	"github.com/teleconsult/teleconsult/internal/smtptest"
	"github.com/teleconsult/teleconsult/internal/teleconsult"
	"github.com/teleconsult/teleconsult/internal/testkit"
)

// mailEnv is the environment of a service that sends invitations to srv.
func mailEnv(srv *smtptest.Server, env map[string]string) map[string]string {
	out := map[string]string{"SMTP_URL": srv.URL(), "MAIL_FROM": "Clinica Esempio <visits@clinic.example>", "COMPANY_NAME": "Clinica Esempio"}
	for k, v := range env {
		out[k] = v
	}
	return out
}

// Participants with emails, in two languages and zones, and one without.
var (
	anna  = map[string]any{"userId": "doc-1", "groups": []string{"doctor"}, "fullName": "Dr. Anna Verdi", "language": "it", "timeZone": "Europe/Rome", "email": "anna.verdi@example.org"}
	mario = map[string]any{"userId": "pat-1", "groups": []string{"patient"}, "fullName": "Mario Rossi", "language": "en", "timeZone": "America/New_York", "email": "mario.rossi@example.org"}
	luigi = map[string]any{"userId": "int-1", "groups": []string{"patient"}, "fullName": "Luigi Bianchi"}
)

func createBody(start time.Time, parts ...map[string]any) map[string]any {
	return map[string]any{"start_date": start.Format(time.RFC3339), "duration_in_seconds": 1800,
		"participants": map[string]any{"number": len(parts), "data": parts}}
}

// received is one delivered message, taken apart.
type received struct {
	to     string // the envelope recipient
	msgID  string
	p      *smtptest.Parsed
	method string
	uid    string
	seq    string
	start  time.Time
	link   string // from the text part; the HTML and calendar parts must agree
}

var linkRE = regexp.MustCompile(`https?://[^\s"<>]+/join/[A-Za-z0-9_-]{43}`)

// inspect takes a message apart and checks what every invitation must be:
// one recipient, the MIME structure, the same link in the text, the HTML
// and the calendar entry (or none in a cancellation), and an iCalendar part
// that golang-ical parses with one attendee, the recipient.
func inspect(t *testing.T, m smtptest.Message) received {
	t.Helper()
	if len(m.To) != 1 {
		t.Fatalf("envelope recipients %v", m.To)
	}
	p, err := smtptest.Parse(m.Data)
	if err != nil {
		t.Fatal(err)
	}
	r := received{to: m.To[0], msgID: m.MessageID(), p: p}
	want := []string{"multipart/mixed", "  multipart/alternative", "    text/plain", "    text/html", "  text/calendar"}
	if !slices.Equal(p.Structure, want) {
		t.Errorf("structure %q", p.Structure)
	}
	if to := p.Header.Get("To"); to != "<"+r.to+">" {
		t.Errorf("To %q, envelope %q", to, r.to)
	}
	cal, err := ical.ParseCalendar(bytes.NewReader(p.Calendar))
	if err != nil || len(cal.Events()) != 1 {
		t.Fatalf("golang-ical: %v\n%s", err, p.Calendar)
	}
	for _, cp := range cal.CalendarProperties {
		if cp.IANAToken == "METHOD" {
			r.method = cp.Value
		}
	}
	ev := cal.Events()[0]
	r.uid = ev.Id()
	r.seq = ev.GetProperty(ical.ComponentPropertySequence).Value
	r.start, _ = ev.GetStartAt()
	if att := ev.Attendees(); len(att) != 1 || att[0].Email() != r.to {
		t.Errorf("attendees %v, want only %s", att, r.to)
	}
	if r.method != p.CalendarParams["method"] {
		t.Errorf("METHOD %s, Content-Type method %s", r.method, p.CalendarParams["method"])
	}
	links := linkRE.FindAllString(p.Text, -1)
	if r.method == "CANCEL" {
		if len(links) != 0 || linkRE.MatchString(p.HTML) || linkRE.Match(p.Calendar) {
			t.Errorf("a cancellation carries a link")
		}
		return r
	}
	if len(links) != 1 {
		t.Fatalf("links in the text part: %q", links)
	}
	r.link = links[0]
	if !strings.Contains(p.HTML, `href="`+r.link+`"`) {
		t.Errorf("the HTML part lacks the link %s", r.link)
	}
	if u := ev.GetProperty(ical.ComponentPropertyUrl); u == nil || u.Value != r.link {
		t.Errorf("calendar URL %v, want %s", u, r.link)
	}
	if l := ev.GetProperty(ical.ComponentPropertyLocation); l == nil || l.Value != r.link {
		t.Errorf("calendar LOCATION %v, want %s", l, r.link)
	}
	return r
}

// waitState polls the delivery state of user's invitations (as the back
// office) until its status is want.
func waitState(t *testing.T, s *testServer, id, user, want string) map[string]any {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var st map[string]any
		if code := s.do(t, "GET", api+"/teleconsultation/"+id+"/participants/"+user+"/invitation", "", nil, &st); code != 200 {
			t.Fatalf("GET invitation: %d", code)
		}
		if st["status"] == want {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s's invitation: %v, want status %s", user, st, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Ensure, through the whole service and a real SMTP server, on both
// databases: each participant with an email gets their own invitation in
// their language and zone, an update when the visit moves and a
// cancellation at the end; the link in each message opens that
// participant's call and only theirs; nothing else about the others.
func TestInvitationsEndToEnd(t *testing.T) {
	t.Parallel()
	databases(t, func(t *testing.T, env map[string]string) {
		srv := smtptest.Start(t, smtptest.Options{})
		s := startServer(t, mailEnv(srv, env))
		start := time.Date(2031, 3, 14, 9, 0, 0, 0, time.UTC) // 10:00 in Rome, 05:00 in New York
		s.Clock.Set(start.Add(-48 * time.Hour))
		var created struct{ RoomID string }
		if code := s.do(t, "POST", api+"/teleconsultation", "", createBody(start, anna, mario, luigi), &created); code != 201 {
			t.Fatalf("create: %d", code)
		}
		id := created.RoomID
		invites := map[string]received{}
		for _, m := range srv.Wait(2, 10*time.Second) {
			r := inspect(t, m)
			invites[r.to] = r
			if r.method != "REQUEST" || r.seq != "0" || r.uid != id+"@127.0.0.1" || !r.start.Equal(start) {
				t.Errorf("invitation to %s: %s seq %s uid %s start %v", r.to, r.method, r.seq, r.uid, r.start)
			}
		}
		a, m := invites["anna.verdi@example.org"], invites["mario.rossi@example.org"]
		if a.p == nil || m.p == nil {
			t.Fatalf("invitations went to %v", smtptest.Recipients(srv.Messages()))
		}
		if a.p.Subject != "La tua visita video del 14 marzo alle 10:00" || m.p.Subject != "Your video visit on 14 March at 05:00" {
			t.Errorf("subjects %q, %q", a.p.Subject, m.p.Subject)
		}
		if a.link == m.link {
			t.Fatal("two participants got the same link")
		}
		for _, pair := range [][2]received{{a, m}, {m, a}} {
			mine, other := pair[0], pair[1]
			raw := string(srv.Messages()[slices.IndexFunc(srv.Messages(), func(x smtptest.Message) bool { return x.To[0] == mine.to })].Data)
			for _, leak := range []string{other.to, other.link, "Anna", "Verdi", "Mario", "Rossi", "Luigi"} {
				if strings.Contains(mine.p.Text+mine.p.HTML+string(mine.p.Calendar)+mine.p.Subject, leak) || strings.Contains(raw, leak) {
					t.Errorf("the message to %s contains %q", mine.to, leak)
				}
			}
		}
		waitState(t, s, id, "doc-1", "sent")
		waitState(t, s, id, "pat-1", "sent")

		moved := start.Add(time.Hour)
		if code := s.do(t, "PATCH", api+"/teleconsultation/"+id, "", map[string]any{"start_date": moved.Format(time.RFC3339)}, nil); code != 204 {
			t.Fatalf("PATCH: %d", code)
		}
		for _, msg := range srv.Wait(4, 10*time.Second)[2:] {
			r := inspect(t, msg)
			if r.method != "REQUEST" || r.seq != "1" || r.uid != id+"@127.0.0.1" || !r.start.Equal(moved) || r.link != invites[r.to].link {
				t.Errorf("update to %s: %s seq %s start %v", r.to, r.method, r.seq, r.start)
			}
			if !strings.HasPrefix(r.p.Subject, "Changed: ") && !strings.HasPrefix(r.p.Subject, "Modificata: ") {
				t.Errorf("update subject %q", r.p.Subject)
			}
		}

		// In the window, each link opens its own participant's call.
		s.Clock.Set(moved)
		for user, r := range map[string]received{"Dr. Anna Verdi": a, "Mario Rossi": m} {
			code := strings.TrimPrefix(r.link, s.URL+"/join/")
			var sess struct{ TeleconsultationID, DisplayName string }
			if st := s.do(t, "POST", api+"/sessions", "", map[string]string{"code": code}, &sess); st != 201 || sess.TeleconsultationID != id || sess.DisplayName != user {
				t.Errorf("the link sent to %s: %d %+v, want %s's session", r.to, st, sess, user)
			}
		}

		if code := s.do(t, "DELETE", api+"/teleconsultation/"+id, "", nil, nil); code != 204 {
			t.Fatalf("DELETE: %d", code)
		}
		for _, msg := range srv.Wait(6, 10*time.Second)[4:] {
			r := inspect(t, msg)
			if r.method != "CANCEL" || r.seq != "2" || r.uid != id+"@127.0.0.1" {
				t.Errorf("cancellation to %s: %s seq %s uid %s", r.to, r.method, r.seq, r.uid)
			}
		}
		if got := smtptest.Recipients(srv.Messages()); len(got) != 6 {
			t.Errorf("%d messages: %v", len(got), got)
		}
	})
}

// Ensure an SMTP outage loses nothing: changes made while the server is
// down are all delivered once it is back, once per change and in order,
// and the API shows them pending with the reason meanwhile.
func TestInvitationsSurviveSMTPOutage(t *testing.T) {
	t.Parallel()
	databases(t, func(t *testing.T, env map[string]string) {
		srv := smtptest.Start(t, smtptest.Options{})
		s := startServer(t, mailEnv(srv, env))
		srv.Stop()
		start := s.Clock.Now().Add(24 * time.Hour).Truncate(time.Minute)
		var created struct{ RoomID string }
		if code := s.do(t, "POST", api+"/teleconsultation", "", createBody(start, anna, mario), &created); code != 201 {
			t.Fatalf("create: %d", code)
		}
		id := created.RoomID
		for i := 1; i <= 2; i++ {
			body := map[string]any{"start_date": start.Add(time.Duration(i) * time.Hour).Format(time.RFC3339)}
			if code := s.do(t, "PATCH", api+"/teleconsultation/"+id, "", body, nil); code != 204 {
				t.Fatalf("PATCH: %d", code)
			}
		}
		// The latest message (the second update) waits behind the
		// invitation, which is being tried.
		deadline := time.Now().Add(10 * time.Second)
		for st := waitState(t, s, id, "doc-1", "pending"); st["attempts"] != float64(1); st = waitState(t, s, id, "doc-1", "pending") {
			if time.Now().After(deadline) {
				t.Fatalf("state during the outage: %v", st)
			}
			time.Sleep(20 * time.Millisecond)
		}
		st := waitState(t, s, id, "doc-1", "pending")
		if reason, _ := st["reason"].(string); st["kind"] != "update" || st["sequence"] != float64(2) || !strings.Contains(reason, "cannot connect") || st["nextAttemptAt"] == nil {
			t.Errorf("state during the outage: %v", st)
		}
		if len(srv.Messages()) != 0 {
			t.Fatal("messages arrived during the outage")
		}

		srv.Restart()
		s.Clock.Set(s.Clock.Now().Add(2 * time.Hour)) // past every backoff
		s.Main.Outbox.Notify(context.Background(), teleconsult.Notification{})
		msgs := srv.Wait(6, 15*time.Second)
		s.Main.Outbox.Notify(context.Background(), teleconsult.Notification{})
		time.Sleep(250 * time.Millisecond) // anything more would be a duplicate
		if n := len(srv.Messages()); n != 6 {
			t.Errorf("%d messages after the outage, want 6 (3 changes × 2 participants)", n)
		}
		got := map[string][]string{}
		ids := map[string]bool{}
		for _, m := range msgs {
			r := inspect(t, m)
			got[r.to] = append(got[r.to], r.method+":"+r.seq)
			if ids[r.msgID] {
				t.Errorf("Message-ID %s twice", r.msgID)
			}
			ids[r.msgID] = true
		}
		for _, to := range []string{"anna.verdi@example.org", "mario.rossi@example.org"} {
			if want := []string{"REQUEST:0", "REQUEST:1", "REQUEST:2"}; !slices.Equal(got[to], want) {
				t.Errorf("%s got %v, want %v", to, got[to], want)
			}
		}
		waitState(t, s, id, "pat-1", "sent")
	})
}

// Ensure a recipient the server refuses is marked failed with the
// server's reason (without the address) and the others are still sent.
func TestInvitationRefusedRecipient(t *testing.T) {
	t.Parallel()
	srv := smtptest.Start(t, smtptest.Options{Reject: func(rcpt string) error {
		if strings.HasPrefix(rcpt, "mario") {
			return smtptest.Refuse(550, "<"+rcpt+">: Recipient address rejected: User unknown")
		}
		return nil
	}})
	s, logs := startLogged(t, mailEnv(srv, nil))
	defer noPatientData(t, logs)
	var created struct{ RoomID string }
	if code := s.do(t, "POST", api+"/teleconsultation", "", createBody(s.Clock.Now().Add(time.Hour), anna, mario), &created); code != 201 {
		t.Fatalf("create: %d", code)
	}
	st := waitState(t, s, created.RoomID, "pat-1", "failed")
	if reason, _ := st["reason"].(string); !strings.Contains(reason, "550") || !strings.Contains(reason, "User unknown") || strings.Contains(reason, "mario") {
		t.Errorf("failed state %v", st)
	}
	waitState(t, s, created.RoomID, "doc-1", "sent")
	if got := smtptest.Recipients(srv.Messages()); !slices.Equal(got, []string{"anna.verdi@example.org"}) {
		t.Errorf("delivered to %v", got)
	}
	// A resend of the failed one is queued (after the minute) and fails again.
	s.Clock.Set(s.Clock.Now().Add(time.Minute))
	var resent map[string]any
	if code := s.do(t, "POST", api+"/teleconsultation/"+created.RoomID+"/participants/pat-1/invitation", "", nil, &resent); code != 202 || resent["status"] != "pending" {
		t.Errorf("resend: %d %v", code, resent)
	}
	waitState(t, s, created.RoomID, "pat-1", "failed")
}

// startLogged is startServer with the service's log kept (LOG_LEVEL info).
func startLogged(t *testing.T, extra map[string]string) (*testServer, *testkit.LogBuffer) {
	t.Helper()
	full := map[string]string{"LISTEN_ADDR": "127.0.0.1:0", "DATA_DIR": t.TempDir(), "API_KEYS": testAPIKey}
	for k, v := range extra {
		full[k] = v
	}
	cfg, err := LoadConfig(env(full))
	if err != nil {
		t.Fatal(err)
	}
	logs := &testkit.LogBuffer{}
	clock := testkit.NewClock(time.Now().UTC())
	m := &Main{Config: cfg, Logger: slog.New(slog.NewTextHandler(logs, nil)), Stdout: io.Discard, Now: clock.Now}
	ctx, cancel := context.WithCancel(context.Background())
	if err := m.Open(ctx); err != nil {
		cancel()
		m.Close()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- m.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
		m.Close()
	})
	return &testServer{Main: m, URL: "http://" + m.Addr(), Key: testAPIKey, Clock: clock}, logs
}

// noPatientData fails if the log holds a participant's name or address.
func noPatientData(t *testing.T, logs *testkit.LogBuffer) {
	t.Helper()
	out := logs.String()
	for _, secret := range []string{"anna.verdi", "mario.rossi", "Anna", "Verdi", "Mario", "Rossi"} {
		if strings.Contains(out, secret) {
			t.Errorf("the log holds %q:\n%s", secret, out)
		}
	}
}

// Ensure the service starts without SMTP_URL, logs once that invitations
// are off, and the API says so.
func TestInvitationsOff(t *testing.T) {
	s, logs := startLogged(t, nil)
	var created struct{ RoomID string }
	if code := s.do(t, "POST", api+"/teleconsultation", "", createBody(time.Now().Add(time.Hour), anna, mario), &created); code != 201 {
		t.Fatalf("create: %d", code)
	}
	waitState(t, s, created.RoomID, "doc-1", "off")
	bad := clone(mario)
	bad["email"] = "mario.rossi@example.org\r\nBcc: x@attacker.example"
	var e errorBody
	if code := s.do(t, "POST", api+"/teleconsultation", "", createBody(time.Now().Add(time.Hour), anna, bad), &e); code != 400 ||
		e.Error != "participants.data[1].email: not a valid email address" {
		t.Errorf("bad email: %d %q", code, e.Error)
	}
	if n := strings.Count(logs.String(), "invitations are off"); n != 1 {
		t.Errorf("logged %d times that invitations are off:\n%s", n, logs.String())
	}
	if s.Main.Outbox != nil {
		t.Error("an outbox worker without SMTP_URL")
	}
}

// Ensure the configuration of invitations: MAIL_FROM required with
// SMTP_URL, bad values named, the password never printed.
func TestInvitationsConfig(t *testing.T) {
	for _, tt := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"SMTP_URL": "smtp://mail.example.org"}, "MAIL_FROM=: required when SMTP_URL is set"},
		{map[string]string{"SMTP_URL": "http://mail.example.org", "MAIL_FROM": "a@b.c"}, "SMTP_URL: expected smtp://"},
		{map[string]string{"SMTP_URL": "smtp://u:pw-SECRET@mail.example.org:99999", "MAIL_FROM": "a@b.c"}, "SMTP_URL: port"},
		{map[string]string{"MAIL_FROM": "not an address", "SMTP_URL": "smtp://h"}, "MAIL_FROM=\"not an address\": expected one email address"},
		{map[string]string{"DEFAULT_TIME_ZONE": "Mars/Base"}, "DEFAULT_TIME_ZONE=Mars/Base"},
		{map[string]string{"INVITE_SHOW_NAMES": "yes"}, "INVITE_SHOW_NAMES=yes"},
		{map[string]string{"MAIL_TEMPLATES_DIR": "/no/such/dir"}, "MAIL_TEMPLATES_DIR=/no/such/dir: expected an existing directory"},
		{map[string]string{"DEVICE_CHECK_URL": "ftp://x"}, "DEVICE_CHECK_URL=ftp://x"},
		{map[string]string{"COMPANY_NAME": strings.Repeat("x", 101)}, "COMPANY_NAME"},
	} {
		_, err := LoadConfig(env(tt.env))
		if err == nil || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "pw-SECRET") {
			t.Errorf("%v: %v, want %q", tt.env, err, tt.want)
		}
	}
	c := mustLoad(t, map[string]string{"SMTP_URL": "smtps://user:pw-SECRET@mail.example.org", "MAIL_FROM": "visits@clinic.example", "PUBLIC_URL": "https://visit.example"})
	var b strings.Builder
	c.Print(&b)
	out := b.String()
	if strings.Contains(out, "pw-SECRET") || !strings.Contains(out, "\nSMTP_URL=smtps://user:******@mail.example.org:465  # env\n") ||
		!strings.Contains(out, "\nDEVICE_CHECK_URL=https://visit.example/check  # default, from PUBLIC_URL\n") {
		t.Errorf("config check:\n%s", out)
	}
	if !c.Settings().Invitations || mustLoad(t, nil).Settings().Invitations {
		t.Error("Settings.Invitations does not follow SMTP_URL")
	}
}

// Ensure `teleconsult mail test --to` sends a sample through SMTP_URL.
func TestMailTestCommand(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{})
	e := mailEnv(srv, map[string]string{"DATA_DIR": t.TempDir()})
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"mail", "test", "--to", "admin@clinic.example", "--language", "it"}, env(e), &out, &errb); code != 0 {
		t.Fatalf("mail test: %d\n%s", code, errb.String())
	}
	if !strings.Contains(out.String(), "sent a test invitation to admin@clinic.example") {
		t.Errorf("stdout %q", out.String())
	}
	p, err := smtptest.Parse(srv.Wait(1, 5*time.Second)[0].Data)
	if err != nil || !strings.HasPrefix(p.Subject, "[Test] La tua visita video") {
		t.Errorf("received %q, %v", p.Subject, err)
	}
	for _, tt := range []struct {
		args []string
		env  map[string]string
		code int
		want string
	}{
		{[]string{"mail", "test", "--help"}, e, 0, "Usage: teleconsult mail test"},
		{[]string{"mail"}, e, 2, "Usage: teleconsult mail test"},
		{[]string{"mail", "test"}, e, 2, "--to ADDRESS is required"},
		{[]string{"mail", "test", "--to", "x@y.z"}, map[string]string{}, 2, "SMTP_URL is not set"},
		{[]string{"mail", "test", "--to", "Admin <x@y.z>"}, e, 1, "--to"},
	} {
		out.Reset()
		errb.Reset()
		code := run(context.Background(), tt.args, env(tt.env), &out, &errb)
		if code != tt.code || !strings.Contains(out.String()+errb.String(), tt.want) {
			t.Errorf("%v: %d\n%s%s", tt.args, code, out.String(), errb.String())
		}
	}
	srv.Stop()
	errb.Reset()
	if code := run(context.Background(), []string{"mail", "test", "--to", "admin@clinic.example"}, env(e), &out, &errb); code != 1 || !strings.Contains(errb.String(), "cannot connect") {
		t.Errorf("server down: %d %s", code, errb.String())
	}
}
