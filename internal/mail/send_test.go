package mail

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/teleconsult/teleconsult/internal/smtptest"
	"github.com/teleconsult/teleconsult/internal/teleconsult"
)

var ctx = context.Background()

// mailerFor returns a mailer that sends to srv.
func mailerFor(t *testing.T, srv *smtptest.Server, mod func(*Config)) *Mailer {
	t.Helper()
	s, err := ParseURL(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	return newMailer(t, func(c *Config) {
		c.Server = s
		c.Timeout = 5 * time.Second
		if mod != nil {
			mod(c)
		}
	})
}

func mailError(t *testing.T, err error) *teleconsult.MailError {
	t.Helper()
	var me *teleconsult.MailError
	if !errors.As(err, &me) {
		t.Fatalf("error %v (%T), want a *teleconsult.MailError", err, err)
	}
	if strings.Contains(me.Reason, "mario") || strings.Contains(me.Reason, "secret-pw") {
		t.Errorf("reason %q names the recipient or the password", me.Reason)
	}
	return me
}

// Ensure a message goes through a real SMTP server with the right envelope
// and arrives as rendered; the connection is kept for the next one.
func TestSendPlain(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{})
	ml := mailerFor(t, srv, nil)
	for i := range 3 {
		m := invitation(teleconsult.InvitationInvite)
		m.MessageID = strings.Replace(m.MessageID, ".7@", "."+string(rune('a'+i))+"@", 1)
		if err := ml.Send(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	msgs := srv.Wait(3, 5*time.Second)
	if msgs[0].From != "visits@clinic.example" || len(msgs[0].To) != 1 || msgs[0].To[0] != "mario.rossi@example.org" {
		t.Errorf("envelope %s → %v", msgs[0].From, msgs[0].To)
	}
	p, err := smtptest.Parse(msgs[2].Data)
	if err != nil || p.Subject != "Your video visit on 23 November at 10:00" || !strings.Contains(p.Text, link) || len(p.Calendar) == 0 {
		t.Errorf("received %+v, %v", p, err)
	}
}

// Ensure STARTTLS is used when offered, the certificate is verified (and
// refused when unknown unless SMTP_TLS_SKIP_VERIFY), and the login works
// only over TLS.
func TestSendTLSAndLogin(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{TLS: true, Username: "teleconsult", Password: "secret-pw"})

	ml := mailerFor(t, srv, func(c *Config) { c.RootCAs = srv.CertPool() })
	if err := ml.Send(ctx, invitation(teleconsult.InvitationInvite)); err != nil {
		t.Fatalf("verified STARTTLS and login: %v", err)
	}
	if got := srv.Logins(); len(got) != 1 || got[0] != "teleconsult" {
		t.Errorf("logins %v", got)
	}

	unknown := mailerFor(t, srv, nil) // the system roots do not know the test certificate
	me := mailError(t, unknown.Send(ctx, invitation(teleconsult.InvitationInvite)))
	if me.Permanent || me.MessageOnly || !strings.Contains(me.Reason, "STARTTLS") || !strings.Contains(me.Reason, "certificate") {
		t.Errorf("unknown certificate: %+v", me)
	}

	skip := mailerFor(t, srv, func(c *Config) { c.SkipVerify = true })
	if err := skip.Send(ctx, invitation(teleconsult.InvitationInvite)); err != nil {
		t.Errorf("SMTP_TLS_SKIP_VERIFY: %v", err)
	}

	wrong := mailerFor(t, srv, func(c *Config) { c.RootCAs = srv.CertPool(); c.Server.Password = "secret-pw-wrong" })
	me = mailError(t, wrong.Send(ctx, invitation(teleconsult.InvitationInvite)))
	if me.Permanent || !strings.Contains(me.Reason, "535") {
		t.Errorf("wrong password: %+v", me)
	}
	srv.Wait(2, 5*time.Second)
}

// Ensure a login is never attempted without TLS: a server that offers no
// STARTTLS gets no password.
func TestSendNoLoginWithoutTLS(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{})
	ml := mailerFor(t, srv, func(c *Config) { c.Server.Username, c.Server.Password = "u", "secret-pw" })
	me := mailError(t, ml.Send(ctx, invitation(teleconsult.InvitationInvite)))
	if !strings.Contains(me.Reason, "offers no login") {
		t.Errorf("%+v", me)
	}
}

func TestSendImplicitTLS(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{ImplicitTLS: true})
	ml := mailerFor(t, srv, func(c *Config) { c.RootCAs = srv.CertPool() })
	if !ml.cfg.Server.ImplicitTLS {
		t.Fatal("smtps:// not parsed as implicit TLS")
	}
	if err := ml.Send(ctx, invitation(teleconsult.InvitationCancel)); err != nil {
		t.Fatal(err)
	}
	srv.Wait(1, 5*time.Second)
}

// Ensure a recipient refused for good is a permanent failure with the
// server's reason and without the address; a temporary refusal is
// temporary; both concern that message only, and the next one goes out on
// the same connection.
func TestSendRefusedRecipient(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{Reject: func(rcpt string) error {
		switch {
		case strings.HasPrefix(rcpt, "gone"):
			return smtptest.Refuse(550, "<"+rcpt+">: Recipient address rejected: User unknown in virtual mailbox table")
		case strings.HasPrefix(rcpt, "busy"):
			return smtptest.Refuse(450, "Mailbox busy, try MARIO.ROSSI@example.org later")
		}
		return nil
	}})
	ml := mailerFor(t, srv, nil)
	m := invitation(teleconsult.InvitationInvite)
	m.To = "gone.mario@example.org"
	me := mailError(t, ml.Send(ctx, m))
	if !me.Permanent || !me.MessageOnly || !strings.Contains(me.Reason, "550") || !strings.Contains(me.Reason, "User unknown") {
		t.Errorf("550: %+v", me)
	}
	m.To = "busy.mario@example.org"
	me = mailError(t, ml.Send(ctx, m))
	if me.Permanent || !me.MessageOnly || !strings.Contains(me.Reason, "450") {
		t.Errorf("450: %+v", me)
	}
	if err := ml.Send(ctx, invitation(teleconsult.InvitationInvite)); err != nil {
		t.Errorf("after refusals: %v", err)
	}
	if got := smtptest.Recipients(srv.Wait(1, 5*time.Second)); len(got) != 1 || got[0] != "mario.rossi@example.org" {
		t.Errorf("delivered to %v", got)
	}
}

// Ensure a server that is down is a temporary failure of the server (not
// of the message), and that sending resumes when it is back, over a new
// connection.
func TestSendServerDown(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{})
	ml := mailerFor(t, srv, nil)
	if err := ml.Send(ctx, invitation(teleconsult.InvitationInvite)); err != nil {
		t.Fatal(err)
	}
	srv.Stop()
	me := mailError(t, ml.Send(ctx, invitation(teleconsult.InvitationInvite)))
	if me.Permanent || me.MessageOnly || !strings.Contains(me.Reason, "cannot connect") {
		t.Errorf("server down: %+v", me)
	}
	srv.Restart()
	if err := ml.Send(ctx, invitation(teleconsult.InvitationInvite)); err != nil {
		t.Errorf("after restart: %v", err)
	}
	srv.Wait(2, 5*time.Second)
}

// Ensure a message refused after DATA is permanent (5xx) for that message.
func TestSendMessageRefused(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{OnData: func(smtptest.Message) error {
		return smtptest.Refuse(554, "Message rejected as spam")
	}})
	ml := mailerFor(t, srv, nil)
	me := mailError(t, ml.Send(ctx, invitation(teleconsult.InvitationInvite)))
	if !me.Permanent || !me.MessageOnly || !strings.Contains(me.Reason, "554") {
		t.Errorf("%+v", me)
	}
}

func TestSendTest(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{})
	ml := mailerFor(t, srv, nil)
	if err := ml.SendTest(ctx, "admin@clinic.example", "it"); err != nil {
		t.Fatal(err)
	}
	p, err := smtptest.Parse(srv.Wait(1, 5*time.Second)[0].Data)
	if err != nil || !strings.HasPrefix(p.Subject, "[Test] La tua visita video del ") {
		t.Errorf("test message %q, %v", p.Subject, err)
	}
	if err := ml.SendTest(ctx, "Admin <admin@clinic.example>", "en"); err == nil {
		t.Error("a display name in --to was accepted")
	}
}

// Ensure scrub removes the recipient in any case and anything shaped like
// an address, and bounds the text.
func TestScrub(t *testing.T) {
	got := scrub("550 5.1.1 <Mario.Rossi@Example.org>: unknown; also bob@x.y\r\nand more", "mario.rossi@example.org")
	if got != "550 5.1.1 <<recipient>>: unknown; also <address> and more" {
		t.Errorf("scrub: %q", got)
	}
	if n := len([]rune(scrub(strings.Repeat("x", 1000), ""))); n != 300 {
		t.Errorf("scrub kept %d runes", n)
	}
}
