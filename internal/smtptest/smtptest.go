// Package smtptest runs a real SMTP server (github.com/emersion/go-smtp)
// inside a test process, on 127.0.0.1, and records what it receives.
//
// It can offer STARTTLS or implicit TLS with a self-signed certificate,
// require a login, refuse recipients, hold or stop accepting, and be stopped
// and started again on the same port (an SMTP outage).
package smtptest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"log"
	"math/big"
	"net"
	"net/mail"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Options configure a [Server].
type Options struct {
	// TLS offers STARTTLS with a self-signed certificate for 127.0.0.1
	// and localhost (see [Server.CertPool]).
	TLS bool
	// ImplicitTLS serves TLS from the first byte (smtps) instead.
	ImplicitTLS bool
	// Username and Password, when set, are required (AUTH PLAIN, over TLS
	// only) before MAIL FROM.
	Username, Password string
	// Reject, when set, is asked about each recipient: a non-nil error
	// (use [Refuse]) refuses it.
	Reject func(rcpt string) error
	// OnData, when set, is called with each message after it is read and
	// before it is accepted; a non-nil error refuses it.
	OnData func(m Message) error
}

// Message is one message the server accepted.
type Message struct {
	From string
	To   []string
	Data []byte
}

// Header parses the message's header.
func (m Message) Header() (mail.Header, error) {
	msg, err := mail.ReadMessage(bytes.NewReader(m.Data))
	if err != nil {
		return nil, err
	}
	return msg.Header, nil
}

// MessageID returns the Message-ID header, or "".
func (m Message) MessageID() string {
	h, err := m.Header()
	if err != nil {
		return ""
	}
	return h.Get("Message-Id")
}

// Refuse returns an SMTP error reply with the given code (e.g. 550) and text.
func Refuse(code int, text string) error {
	ec := smtp.EnhancedCode{code / 100, 1, 1}
	return &smtp.SMTPError{Code: code, EnhancedCode: ec, Message: text}
}

// Server is a running SMTP server.
type Server struct {
	opts Options
	tb   testing.TB
	addr string
	cert tls.Certificate
	pool *x509.CertPool

	mu     sync.Mutex
	srv    *smtp.Server
	msgs   []Message
	logins []string // user names that logged in
	cond   *sync.Cond
}

// Start runs a server on 127.0.0.1 and a free port until the test ends.
func Start(tb testing.TB, opts Options) *Server {
	tb.Helper()
	s := &Server{opts: opts, tb: tb}
	s.cond = sync.NewCond(&s.mu)
	if opts.TLS || opts.ImplicitTLS || opts.Username != "" {
		s.cert, s.pool = selfSigned(tb)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	s.addr = l.Addr().String()
	s.serve(l)
	tb.Cleanup(s.Stop)
	return s
}

// Addr is host:port.
func (s *Server) Addr() string { return s.addr }

// Port is the port number.
func (s *Server) Port() int {
	_, p, _ := net.SplitHostPort(s.addr)
	n, _ := strconv.Atoi(p)
	return n
}

// URL is an SMTP_URL for the server: smtp:// (or smtps:// with implicit
// TLS), with the user name and password when a login is required.
func (s *Server) URL() string {
	scheme := "smtp"
	if s.opts.ImplicitTLS {
		scheme = "smtps"
	}
	user := ""
	if s.opts.Username != "" {
		user = s.opts.Username + ":" + s.opts.Password + "@"
	}
	return scheme + "://" + user + s.addr
}

// CertPool holds the server's self-signed certificate, for clients that
// verify it.
func (s *Server) CertPool() *x509.CertPool { return s.pool }

func (s *Server) serve(l net.Listener) {
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &session{s: s}, nil
	}))
	srv.Domain = "smtptest.localhost"
	srv.ReadTimeout = 10 * time.Second
	srv.WriteTimeout = 10 * time.Second
	srv.MaxMessageBytes = 10 << 20
	srv.ErrorLog = log.New(io.Discard, "", 0)
	if s.opts.TLS || s.opts.ImplicitTLS {
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{s.cert}, MinVersion: tls.VersionTLS12}
	}
	if s.opts.ImplicitTLS {
		l = tls.NewListener(l, srv.TLSConfig)
	}
	s.mu.Lock()
	s.srv = srv
	s.mu.Unlock()
	go func() { _ = srv.Serve(l) }()
}

// Stop closes the listener and every connection: clients get connection
// refused until [Server.Restart].
func (s *Server) Stop() {
	s.mu.Lock()
	srv := s.srv
	s.srv = nil
	s.mu.Unlock()
	if srv != nil {
		_ = srv.Close()
	}
}

// Restart listens again on the same address after [Server.Stop].
func (s *Server) Restart() {
	s.tb.Helper()
	var l net.Listener
	var err error
	for range 50 { // the port may linger for a moment
		if l, err = net.Listen("tcp", s.addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		s.tb.Fatalf("smtptest: listen again on %s: %v", s.addr, err)
	}
	s.serve(l)
}

// Messages returns a copy of what was accepted so far, in order.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.msgs)
}

// Logins returns the user names that logged in.
func (s *Server) Logins() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.logins)
}

// Wait waits until at least n messages were accepted and returns them; it
// fails the test after timeout.
func (s *Server) Wait(n int, timeout time.Duration) []Message {
	s.tb.Helper()
	deadline := time.Now().Add(timeout)
	t := time.AfterFunc(timeout, func() {
		s.mu.Lock()
		s.cond.Broadcast()
		s.mu.Unlock()
	})
	defer t.Stop()
	s.mu.Lock()
	for len(s.msgs) < n && time.Now().Before(deadline) {
		s.cond.Wait()
	}
	msgs := slices.Clone(s.msgs)
	s.mu.Unlock()
	if len(msgs) < n {
		s.tb.Fatalf("smtptest: %d message(s) after %v, want %d", len(msgs), timeout, n)
	}
	return msgs
}

type session struct {
	s      *Server
	from   string
	to     []string
	authed bool
}

var _ smtp.AuthSession = (*session)(nil)

func (se *session) AuthMechanisms() []string {
	if se.s.opts.Username == "" {
		return nil
	}
	return []string{sasl.Plain}
}

func (se *session) Auth(mech string) (sasl.Server, error) {
	if mech != sasl.Plain {
		return nil, smtp.ErrAuthUnknownMechanism
	}
	return sasl.NewPlainServer(func(identity, username, password string) error {
		if username != se.s.opts.Username || password != se.s.opts.Password {
			return smtp.ErrAuthFailed
		}
		se.authed = true
		se.s.mu.Lock()
		se.s.logins = append(se.s.logins, username)
		se.s.mu.Unlock()
		return nil
	}), nil
}

func (se *session) Mail(from string, _ *smtp.MailOptions) error {
	if se.s.opts.Username != "" && !se.authed {
		return smtp.ErrAuthRequired
	}
	se.from = from
	return nil
}

func (se *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	if se.s.opts.Reject != nil {
		if err := se.s.opts.Reject(to); err != nil {
			return err
		}
	}
	se.to = append(se.to, to)
	return nil
}

func (se *session) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if len(se.to) == 0 {
		return errors.New("no recipients")
	}
	m := Message{From: se.from, To: slices.Clone(se.to), Data: data}
	if se.s.opts.OnData != nil {
		if err := se.s.opts.OnData(m); err != nil {
			return err
		}
	}
	se.s.mu.Lock()
	se.s.msgs = append(se.s.msgs, m)
	se.s.cond.Broadcast()
	se.s.mu.Unlock()
	return nil
}

func (se *session) Reset() { se.from, se.to = "", nil }

func (se *session) Logout() error { return nil }

// selfSigned makes a certificate for 127.0.0.1 and localhost, valid for a
// day, and a pool that trusts it.
func selfSigned(tb testing.TB) (tls.Certificate, *x509.CertPool) {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: "smtptest"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		tb.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		tb.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert}, pool
}

// Recipients returns every envelope recipient of msgs, lower-cased.
func Recipients(msgs []Message) []string {
	var out []string
	for _, m := range msgs {
		for _, r := range m.To {
			out = append(out, strings.ToLower(r))
		}
	}
	return out
}
