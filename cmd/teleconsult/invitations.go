package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/teleconsult/teleconsult/internal/mail"
	"github.com/teleconsult/teleconsult/internal/teleconsult"
)

// Invitations wiring: the SMTP mailer (internal/mail) behind the domain's
// outbox worker, and the `teleconsult mail test` command.

// mailConfig is the mailer's configuration from cfg.
func mailConfig(cfg *Config, log *slog.Logger) mail.Config {
	logo := cfg.ServiceConfig.CompanyLogo.URL
	if strings.HasPrefix(logo, "/") {
		logo = cfg.PublicURL + logo
	}
	return mail.Config{
		Server:          *cfg.SMTP,
		From:            cfg.MailFrom,
		SkipVerify:      cfg.SMTPTLSSkipVerify,
		Company:         cfg.CompanyName,
		LogoURL:         logo,
		Accent:          cfg.ServiceConfig.Theme.Light.AccentColor,
		DeviceCheckURL:  cfg.DeviceCheckURL,
		DefaultTimeZone: cfg.DefaultTimeZone,
		TemplatesDir:    cfg.MailTemplatesDir,
		Logger:          log,
	}
}

// openInvitations makes the mailer and the outbox worker when SMTP_URL is
// set (the worker is started by Serve), and says once that invitations are
// off otherwise.
func (m *Main) openInvitations() error {
	cfg, log := m.Config, m.Logger
	if cfg.source("DEVICE_CHECK_URL") == sourceDefault {
		cfg.DeviceCheckURL = cfg.PublicURL + "/check" // PUBLIC_URL may follow the bound port
	}
	if cfg.SMTP == nil {
		log.Info("invitations are off: SMTP_URL is not set, so participants get no emails")
		return nil
	}
	mc := mailConfig(cfg, log)
	mc.Now = m.Now
	var err error
	if m.Mailer, err = mail.New(mc); err != nil {
		return err
	}
	m.Outbox = &teleconsult.Outbox{Service: m.Service, Mailer: m.Mailer, ShowNames: cfg.InviteShowNames}
	m.Service.Notifier = m.Outbox
	log.Info("invitations on", "smtp", cfg.SMTP.String(), "from", m.Mailer.From().Address,
		"show_names", cfg.InviteShowNames, "templates_dir", cfg.MailTemplatesDir)
	return nil
}

// runInvitations starts the outbox worker, if any, and returns a function
// that waits for it to stop after ctx is done.
func (m *Main) runInvitations(ctx context.Context) (wait func()) {
	if m.Outbox == nil {
		return func() {}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		m.Outbox.Run(ctx)
	}()
	return func() {
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			m.Logger.Warn("outbox worker still busy at shutdown; its message will be sent again after restart")
		}
	}
}

const mailHelp = `Usage: teleconsult mail test --to ADDRESS [--language LANG]

Sends a sample invitation, its subject marked [Test], to ADDRESS through
SMTP_URL with the configured MAIL_FROM, COMPANY_NAME and templates, to check
the mail settings. The link in it leads nowhere. Prints what the server said
and exits 1 if it did not accept the message.

Flags:
  --to ADDRESS      where to send it (one address, without a display name)
  --language LANG   the template language (default en)
`

func cmdMail(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "test" {
		args = args[1:]
	} else if len(args) == 0 || (args[0] != "-h" && args[0] != "--help" && args[0] != "-help") {
		fmt.Fprint(stderr, mailHelp)
		return 2
	}
	var to, lang string
	ok, code := parseFlags("mail test", mailHelp, args, stdout, stderr, func(fs *flag.FlagSet) {
		fs.StringVar(&to, "to", "", "")
		fs.StringVar(&lang, "language", mail.DefaultLanguage, "")
	})
	if !ok {
		return code
	}
	if to == "" {
		fmt.Fprintf(stderr, "teleconsult mail test: --to ADDRESS is required\n\n%s", mailHelp)
		return 2
	}
	cfg, ok := loadConfig(getenv, stderr)
	if !ok {
		return 2
	}
	if cfg.SMTP == nil {
		fmt.Fprintln(stderr, "teleconsult mail test: SMTP_URL is not set: invitations are off")
		return 2
	}
	ml, err := mail.New(mailConfig(cfg, newLogger(cfg, stderr)))
	if err != nil {
		fmt.Fprintf(stderr, "teleconsult mail test: %v\n", err)
		return 2
	}
	if err := ml.SendTest(ctx, to, lang); err != nil {
		var me *teleconsult.MailError
		if errors.As(err, &me) {
			err = errors.New(me.Reason)
		}
		fmt.Fprintf(stderr, "teleconsult mail test: not sent through %s: %v\n", cfg.SMTP, err)
		return 1
	}
	fmt.Fprintf(stdout, "sent a test invitation to %s through %s\n", to, cfg.SMTP)
	return 0
}
