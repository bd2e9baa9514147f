// Package mail is the invitations adapter: it renders an invitation
// ([teleconsult.Mail]) as a MIME message — plain text and HTML in the
// recipient's language, and an iCalendar attachment (RFC 5545/5546) — and
// sends it over SMTP with github.com/wneessen/go-mail (its message writer
// and its SMTP client).
//
// It holds no business rule: who gets what, when and how often is the
// domain's ([teleconsult.Outbox]). It classifies the server's answers for
// the domain: a recipient or message refused for good (5xx to RCPT TO or to
// the message) is permanent; anything else is temporary. The reasons it
// returns never contain the recipient's address.
package mail

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/mail"
	"net/textproto"
	"os"
	"regexp"
	"strings"
	"sync"
	"time"

	gomail "github.com/wneessen/go-mail"
	"github.com/wneessen/go-mail/smtp"

	"github.com/teleconsult/teleconsult/internal/teleconsult"
)

// Config configures a [Mailer].
type Config struct {
	// Server is where mail goes (SMTP_URL).
	Server Server
	// From is MAIL_FROM: an address, optionally with a display name
	// ("Clinic <visits@clinic.example>"). Without one, Company is shown.
	From string
	// SkipVerify turns TLS certificate verification off
	// (SMTP_TLS_SKIP_VERIFY). Never in production.
	SkipVerify bool
	// RootCAs verifies the server's certificate; nil means the system's.
	RootCAs *x509.CertPool
	// Timeout bounds connecting and each SMTP exchange; 0 means 20 s.
	Timeout time.Duration
	// Company is COMPANY_NAME, shown in every message.
	Company string
	// LogoURL is the company logo (the JSON configuration's
	// companyLogo.url made absolute), or "".
	LogoURL string
	// Accent is the button colour (#rgb or #rrggbb); "" means #480ca8.
	Accent string
	// DeviceCheckURL is the page where participants check their camera
	// and microphone before the visit; "" leaves the paragraph out.
	DeviceCheckURL string
	// DefaultTimeZone is DEFAULT_TIME_ZONE, for participants without
	// one; "" means UTC.
	DefaultTimeZone string
	// TemplatesDir is MAIL_TEMPLATES_DIR: overrides of the built-in
	// templates, by language.
	TemplatesDir string
	// Now dates the messages; nil means time.Now.
	Now func() time.Time
	// Logger receives connection events (never addresses); nil discards.
	Logger *slog.Logger
}

// idleTimeout is how long an unused SMTP connection is kept open.
const idleTimeout = 30 * time.Second

// Mailer renders and sends invitations. It keeps one SMTP connection open
// between messages and is safe for concurrent use (sends are serialised).
type Mailer struct {
	cfg         Config
	from        mail.Address
	templates   map[string]*templates
	defaultZone *time.Location
	tls         *tls.Config
	helo        string
	log         *slog.Logger

	mu     sync.Mutex
	client *smtp.Client
	idle   *time.Timer
}

var _ teleconsult.Mailer = (*Mailer)(nil)

var colorRE = regexp.MustCompile(`^#([0-9a-fA-F]{3}|[0-9a-fA-F]{6})$`)

// New checks cfg, loads the templates (the built-in ones and
// MAIL_TEMPLATES_DIR's) and renders every language and kind once, so that a
// broken template stops start-up instead of a message. It does not connect.
func New(cfg Config) (*Mailer, error) {
	if cfg.Server.Host == "" {
		return nil, errors.New("mail: no SMTP server")
	}
	from, err := ParseFrom(cfg.From)
	if err != nil {
		return nil, fmt.Errorf("MAIL_FROM: %w", err)
	}
	if from.Name == "" {
		from.Name = oneLine(cfg.Company, 100)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 20 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Accent == "" || !colorRE.MatchString(cfg.Accent) {
		cfg.Accent = "#480ca8"
	}
	cfg.Company = oneLine(cfg.Company, 100)
	ml := &Mailer{cfg: cfg, from: *from, log: cfg.Logger, defaultZone: time.UTC}
	if ml.log == nil {
		ml.log = slog.New(slog.DiscardHandler)
	}
	if cfg.DefaultTimeZone != "" {
		if ml.defaultZone, err = time.LoadLocation(cfg.DefaultTimeZone); err != nil || cfg.DefaultTimeZone == "Local" {
			return nil, fmt.Errorf("DEFAULT_TIME_ZONE: %q is not an IANA time zone name", cfg.DefaultTimeZone)
		}
	}
	if ml.templates, err = loadTemplates(cfg.TemplatesDir); err != nil {
		return nil, fmt.Errorf("MAIL_TEMPLATES_DIR: %w", err)
	}
	for lang := range ml.templates {
		for _, k := range []teleconsult.InvitationKind{teleconsult.InvitationInvite, teleconsult.InvitationUpdate, teleconsult.InvitationCancel} {
			sample := ml.sample("someone@example.org", lang)
			sample.Kind = k
			sample.Others = []string{"A. N. Other"}
			if _, err := ml.render(sample, false); err != nil {
				return nil, fmt.Errorf("MAIL_TEMPLATES_DIR: %w", err)
			}
		}
	}
	ml.tls = &tls.Config{ServerName: cfg.Server.Host, InsecureSkipVerify: cfg.SkipVerify, RootCAs: cfg.RootCAs, MinVersion: tls.VersionTLS12} // #nosec G402 -- only with SMTP_TLS_SKIP_VERIFY=true
	if ml.helo, err = os.Hostname(); err != nil || ml.helo == "" || strings.ContainsAny(ml.helo, " \r\n") {
		ml.helo = "localhost"
	}
	return ml, nil
}

// ParseFrom checks MAIL_FROM: one address, optionally with a display name.
func ParseFrom(s string) (*mail.Address, error) {
	if strings.TrimSpace(s) == "" {
		return nil, errors.New("required when SMTP_URL is set: the sender address, e.g. visits@clinic.example or \"Clinic <visits@clinic.example>\"")
	}
	a, err := mail.ParseAddress(s)
	if err != nil || strings.ContainsAny(a.Address, "\r\n") {
		return nil, errors.New("expected one email address, optionally with a display name: visits@clinic.example or \"Clinic <visits@clinic.example>\"")
	}
	a.Name = oneLine(a.Name, 100)
	return a, nil
}

// From is the sender as written in messages.
func (ml *Mailer) From() mail.Address { return ml.from }

// sample is a made-up invitation for checks and `teleconsult mail test`.
func (ml *Mailer) sample(to, lang string) *teleconsult.Mail {
	start := ml.cfg.Now().Add(24 * time.Hour).Truncate(time.Hour)
	return &teleconsult.Mail{
		MessageID: "test." + teleconsult.NewID() + "@teleconsult.invalid",
		Kind:      teleconsult.InvitationInvite,
		UID:       "test." + teleconsult.NewID() + "@teleconsult.invalid",
		Stamp:     ml.cfg.Now(), Start: start, End: start.Add(30 * time.Minute), Opens: start.Add(-10 * time.Minute),
		To: to, Language: lang, Link: "https://teleconsult.invalid/join/this-is-a-test-message",
	}
}

// Message renders m as a complete RFC 5322 message (what Send transmits).
func (ml *Mailer) Message(m *teleconsult.Mail) ([]byte, error) {
	msg, err := ml.compose(m, false)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if _, err := msg.WriteTo(&buf); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// compose builds the MIME message: multipart/mixed of multipart/alternative
// (text/plain, text/html) and the text/calendar attachment. Headers carry
// no patient data but the recipient's own address.
func (ml *Mailer) compose(m *teleconsult.Mail, test bool) (*gomail.Msg, error) {
	to, err := checkAddress(m.To)
	if err != nil {
		return nil, err
	}
	r, err := ml.render(m, test)
	if err != nil {
		return nil, err
	}
	msg := gomail.NewMsg(gomail.WithNoDefaultUserAgent(), gomail.WithCharset(gomail.CharsetUTF8))
	from := ml.from
	msg.FromMailAddress(&from)
	msg.ToMailAddress(&mail.Address{Address: to})
	msg.Subject(r.subject)
	msg.SetMessageIDWithValue(messageID(m.MessageID))
	msg.SetDateWithValue(ml.cfg.Now())
	msg.SetGenHeader("Auto-Submitted", "auto-generated")
	msg.SetBodyString(gomail.TypeTextPlain, r.text)
	msg.AddAlternativeString(gomail.TypeTextHTML, r.html)
	ct := gomail.ContentType("text/calendar; charset=UTF-8; method=" + r.method)
	if err := msg.AttachReader("invite.ics", bytes.NewReader(r.ics), gomail.WithFileContentType(ct)); err != nil {
		return nil, err
	}
	return msg, nil
}

// messageID keeps the characters a Message-ID may hold (RFC 5322 dot-atom
// text and @), at most 200.
func messageID(s string) string {
	s = strings.Map(func(r rune) rune {
		if r > ' ' && r < 0x7f && !strings.ContainsRune(`"(),:;<>[\]`, r) {
			return r
		}
		return -1
	}, s)
	if len(s) > 200 {
		s = s[:200]
	}
	return s
}

// checkAddress accepts exactly one bare address: no display name, no
// control characters, nothing a header or an SMTP command could be split
// on.
func checkAddress(s string) (string, error) {
	a, err := mail.ParseAddress(s)
	if err != nil || a.Name != "" || a.Address != s || strings.ContainsAny(s, "\r\n<>,;\x00") || oneLine(s, 254) != s {
		return "", &teleconsult.MailError{Permanent: true, MessageOnly: true, Reason: "not a valid email address"}
	}
	return s, nil
}

// Send implements [teleconsult.Mailer]: it renders m and transmits it,
// returning nil once the server accepted it.
func (ml *Mailer) Send(ctx context.Context, m *teleconsult.Mail) error {
	msg, err := ml.compose(m, false)
	if err != nil {
		var me *teleconsult.MailError
		if errors.As(err, &me) {
			return err
		}
		ml.log.Error("mail: cannot render an invitation", "message", m.MessageID, "err", err)
		return &teleconsult.MailError{Permanent: true, MessageOnly: true, Reason: "cannot render the message (see the service log)"}
	}
	return ml.transmit(ctx, msg, m.To)
}

// SendTest sends a sample invitation, marked as a test, to address in
// language (`teleconsult mail test`).
func (ml *Mailer) SendTest(ctx context.Context, address, language string) error {
	if _, err := checkAddress(address); err != nil {
		return errors.New("--to: expected one email address, without a display name")
	}
	msg, err := ml.compose(ml.sample(address, language), true)
	if err != nil {
		return err
	}
	err = ml.transmit(ctx, msg, address)
	ml.Close()
	return err
}

// transmit runs one SMTP transaction on the kept connection (made or
// re-made as needed).
func (ml *Mailer) transmit(ctx context.Context, msg *gomail.Msg, to string) error {
	ml.mu.Lock()
	defer ml.mu.Unlock()
	if ml.idle != nil {
		ml.idle.Stop()
	}
	c := ml.client
	ml.client = nil
	if c != nil {
		if err := c.UpdateDeadline(ml.cfg.Timeout); err != nil || c.Noop() != nil {
			_ = c.Close()
			c = nil
		}
	}
	if c == nil {
		var err error
		if c, err = ml.dial(ctx); err != nil {
			return &teleconsult.MailError{Reason: scrub(err.Error(), to), Err: err}
		}
	}
	keep, err := ml.transaction(c, msg, to)
	if !keep {
		_ = c.Close()
		return err
	}
	ml.client = c
	ml.idle = time.AfterFunc(idleTimeout, ml.Close)
	return err
}

// transaction sends MAIL FROM, RCPT TO and DATA. keep says whether the
// connection is still usable.
func (ml *Mailer) transaction(c *smtp.Client, msg *gomail.Msg, to string) (keep bool, err error) {
	if err := c.UpdateDeadline(ml.cfg.Timeout); err != nil {
		return false, serverErr("connection", err, to)
	}
	if err := c.Mail(ml.from.Address); err != nil {
		return false, serverErr("sender refused", err, to)
	}
	if err := c.Rcpt(to); err != nil {
		var te *textproto.Error
		if errors.As(err, &te) {
			_ = c.Reset()
			return true, &teleconsult.MailError{Permanent: te.Code >= 500, MessageOnly: true,
				Reason: scrub(fmt.Sprintf("recipient refused: %d %s", te.Code, te.Msg), to), Err: err}
		}
		return false, serverErr("recipient", err, to)
	}
	w, err := c.Data()
	if err != nil {
		return false, serverErr("DATA refused", err, to)
	}
	if _, err := msg.WriteTo(w); err != nil {
		return false, serverErr("sending the message", err, to)
	}
	if err := w.Close(); err != nil {
		var te *textproto.Error
		if errors.As(err, &te) {
			return true, &teleconsult.MailError{Permanent: te.Code >= 500, MessageOnly: true,
				Reason: scrub(fmt.Sprintf("message refused: %d %s", te.Code, te.Msg), to), Err: err}
		}
		// The server may or may not have taken it: it will be sent again.
		return false, serverErr("after sending the message", err, to)
	}
	return true, nil
}

// serverErr is a temporary failure of the server or the connection.
func serverErr(what string, err error, to string) error {
	var te *textproto.Error
	reason := what + ": " + err.Error()
	if errors.As(err, &te) {
		reason = fmt.Sprintf("%s: %d %s", what, te.Code, te.Msg)
	}
	return &teleconsult.MailError{Reason: scrub(reason, to), Err: err}
}

// dial connects, greets, secures (implicit TLS, or STARTTLS when offered)
// and logs in when SMTP_URL has a user name.
func (ml *Mailer) dial(ctx context.Context) (*smtp.Client, error) {
	srv := ml.cfg.Server
	ctx, cancel := context.WithTimeout(ctx, ml.cfg.Timeout)
	defer cancel()
	var conn net.Conn
	var err error
	d := &net.Dialer{}
	if srv.ImplicitTLS {
		conn, err = (&tls.Dialer{NetDialer: d, Config: ml.tls}).DialContext(ctx, "tcp", srv.Addr())
	} else {
		conn, err = d.DialContext(ctx, "tcp", srv.Addr())
	}
	if err != nil {
		return nil, fmt.Errorf("cannot connect to the mail server: %w", err)
	}
	_ = conn.SetDeadline(time.Now().Add(ml.cfg.Timeout))
	c, err := smtp.NewClient(conn, srv.Host)
	if err != nil {
		_ = conn.Close() // the greeting error is the one to report
		return nil, fmt.Errorf("mail server greeting: %w", err)
	}
	fail := func(what string, err error) (*smtp.Client, error) {
		_ = c.Close()
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if err := c.Hello(ml.helo); err != nil {
		return fail("EHLO", err)
	}
	if !srv.ImplicitTLS {
		if ok, _ := c.Extension("STARTTLS"); ok {
			if err := c.StartTLS(ml.tls); err != nil {
				return fail("STARTTLS", err)
			}
		}
	}
	if srv.Username != "" {
		auth, err := ml.pickAuth(c)
		if err != nil {
			return fail("login", err)
		}
		if err := c.Auth(auth); err != nil {
			if errors.Is(err, smtp.ErrUnencrypted) {
				err = errors.New("the connection is not encrypted (the server offers no STARTTLS): the password is not sent")
			}
			return fail("login", err)
		}
	}
	ml.log.Debug("mail: connected", "server", srv.Addr())
	return c, nil
}

// pickAuth chooses a login mechanism the server offers: SCRAM-SHA-256,
// PLAIN, LOGIN or CRAM-MD5. PLAIN and LOGIN refuse an unencrypted
// connection (but to localhost).
func (ml *Mailer) pickAuth(c *smtp.Client) (smtp.Auth, error) {
	srv := ml.cfg.Server
	ok, list := c.Extension("AUTH")
	if !ok {
		return nil, errors.New("SMTP_URL has a user name but the server offers no login (AUTH)")
	}
	mechs := strings.Fields(strings.ToUpper(list))
	has := func(m string) bool {
		for _, x := range mechs {
			if x == m {
				return true
			}
		}
		return false
	}
	switch {
	case has("SCRAM-SHA-256"):
		return smtp.ScramSHA256Auth(srv.Username, srv.Password), nil
	case has("PLAIN"):
		return smtp.PlainAuth("", srv.Username, srv.Password, srv.Host, false), nil
	case has("LOGIN"):
		return smtp.LoginAuth(srv.Username, srv.Password, srv.Host, false), nil
	case has("CRAM-MD5"):
		return smtp.CRAMMD5Auth(srv.Username, srv.Password), nil
	}
	return nil, fmt.Errorf("the server offers no supported login (it offers %s; supported: SCRAM-SHA-256, PLAIN, LOGIN, CRAM-MD5)", oneLine(list, 100))
}

// Close quits the kept connection, if any.
func (ml *Mailer) Close() {
	ml.mu.Lock()
	defer ml.mu.Unlock()
	if ml.idle != nil {
		ml.idle.Stop()
	}
	if ml.client != nil {
		_ = ml.client.Quit()
		_ = ml.client.Close()
		ml.client = nil
	}
}

// addressRE finds anything shaped like an email address.
var addressRE = regexp.MustCompile(`[^\s<>"'(),;:\[\]]+@[^\s<>"'(),;:\[\]]+`)

// scrub makes a server reply safe to store and show: the recipient's
// address (and anything shaped like an address) replaced, controls blanked,
// at most 300 characters.
func scrub(reason, to string) string {
	if to != "" {
		reason = replaceFold(reason, to, "<recipient>")
	}
	reason = addressRE.ReplaceAllString(reason, "<address>")
	return oneLine(reason, 300)
}

// replaceFold replaces every case-insensitive occurrence of old in s.
func replaceFold(s, old, repl string) string {
	if old == "" {
		return s
	}
	lower, lold := strings.ToLower(s), strings.ToLower(old)
	if len(lower) != len(s) { // case mapping changed lengths: fall back
		return strings.ReplaceAll(s, old, repl)
	}
	var b strings.Builder
	for {
		i := strings.Index(lower, lold)
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		b.WriteString(s[:i])
		b.WriteString(repl)
		s, lower = s[i+len(old):], lower[i+len(old):]
	}
}
