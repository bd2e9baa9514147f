package mail

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	texttemplate "text/template"
	"time"
	"unicode/utf8"

	"github.com/teleconsult/teleconsult/internal/teleconsult"
)

//go:embed templates
var embedded embed.FS

// The template files of one language, under templates/<lang>/ (embedded)
// and MAIL_TEMPLATES_DIR/<lang>/ (overrides).
const (
	fileSubject = "subject.txt" // the Subject line (text/template; newlines become spaces)
	fileSummary = "summary.txt" // the calendar entry's title (text/template)
	fileText    = "body.txt"    // the plain-text part, also the calendar entry's description
	fileHTML    = "body.html"   // the HTML part (html/template)
)

var templateFiles = []string{fileSubject, fileSummary, fileText, fileHTML}

// DefaultLanguage is used for participants without a language, or with one
// that has no templates.
const DefaultLanguage = "en"

var langRE = regexp.MustCompile(`^[a-z]{2}$`)

// templates are one language's parsed templates.
type templates struct {
	subject, summary, text *texttemplate.Template
	html                   *htmltemplate.Template
}

var funcs = map[string]any{"join": strings.Join}

// loadTemplates parses the embedded templates, each overridden by the file
// of the same name under dir/<lang>/ when dir is set. dir may add a
// language: it must then give all four files. Errors name the file.
func loadTemplates(dir string) (map[string]*templates, error) {
	src := map[string]map[string]string{} // lang → file → text
	from := map[string]map[string]string{}
	langs, err := fs.ReadDir(embedded, "templates")
	if err != nil {
		return nil, err
	}
	for _, l := range langs {
		src[l.Name()], from[l.Name()] = map[string]string{}, map[string]string{}
		for _, f := range templateFiles {
			b, err := fs.ReadFile(embedded, "templates/"+l.Name()+"/"+f)
			if err != nil {
				return nil, err
			}
			src[l.Name()][f], from[l.Name()][f] = string(b), "(built in) "+l.Name()+"/"+f
		}
	}
	if dir != "" {
		entries, err := os.ReadDir(dir)
		if err != nil {
			return nil, fmt.Errorf("cannot read the templates directory: %w", unwrapPath(err))
		}
		for _, e := range entries {
			name := filepath.Join(dir, e.Name())
			if !e.IsDir() || !langRE.MatchString(e.Name()) {
				return nil, fmt.Errorf("%s: expected only directories named by two-letter languages (en, it, …)", name)
			}
			files, err := os.ReadDir(name)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", name, unwrapPath(err))
			}
			lang := e.Name()
			if src[lang] == nil {
				src[lang], from[lang] = map[string]string{}, map[string]string{}
			}
			for _, f := range files {
				path := filepath.Join(name, f.Name())
				if !slices.Contains(templateFiles, f.Name()) {
					return nil, fmt.Errorf("%s: unknown template; expected %s", path, strings.Join(templateFiles, ", "))
				}
				b, err := os.ReadFile(path) //nolint:gosec // G304: a template in the directory the operator configured
				if err != nil {
					return nil, fmt.Errorf("%s: %w", path, unwrapPath(err))
				}
				if !utf8.Valid(b) {
					return nil, fmt.Errorf("%s: not UTF-8", path)
				}
				src[lang][f.Name()], from[lang][f.Name()] = string(b), path
			}
			for _, f := range templateFiles {
				if _, ok := src[lang][f]; !ok {
					return nil, fmt.Errorf("%s: missing %s (a language without built-in templates needs all of %s)", name, f, strings.Join(templateFiles, ", "))
				}
			}
		}
	}
	out := map[string]*templates{}
	for lang, files := range src {
		t := &templates{}
		var err error
		parseText := func(f string) *texttemplate.Template {
			if err != nil {
				return nil
			}
			var tt *texttemplate.Template
			tt, err = texttemplate.New(f).Funcs(funcs).Option("missingkey=error").Parse(files[f])
			if err != nil {
				err = fmt.Errorf("%s: %w", from[lang][f], err)
			}
			return tt
		}
		t.subject, t.summary, t.text = parseText(fileSubject), parseText(fileSummary), parseText(fileText)
		if err == nil {
			t.html, err = htmltemplate.New(fileHTML).Funcs(funcs).Option("missingkey=error").Parse(files[fileHTML])
			if err != nil {
				err = fmt.Errorf("%s: %w", from[lang][fileHTML], err)
			}
		}
		if err != nil {
			return nil, err
		}
		out[lang] = t
	}
	return out, nil
}

func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// view is what the templates see. Every field is documented in the README
// (section Invitations) for template authors.
type view struct {
	Kind                   string // invite, update or cancel
	Invite, Update, Cancel bool
	Resend                 bool
	Test                   bool // a `teleconsult mail test` message
	Language               string
	Company                string
	LogoURL                string // absolute http(s) URL, or ""
	Accent                 string // #rrggbb, the button colour
	Link                   string // the personal link ("" for a cancellation)
	DeviceCheckURL         string
	Date                   string // "Monday 23 November 2026", in the recipient's zone and language
	DayMonth               string // "23 November"
	Start, End             string // "10:00", "10:30"
	OpensDate              string // "" when the link opens on the day of the visit, else like Date
	OpensTime              string // "09:50"
	TimeZone               string // IANA name, e.g. Europe/Rome
	Others                 []string
}

var (
	weekdays = map[string][7]string{
		"en": {"Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"},
		"it": {"domenica", "lunedì", "martedì", "mercoledì", "giovedì", "venerdì", "sabato"},
	}
	months = map[string][12]string{
		"en": {"January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"},
		"it": {"gennaio", "febbraio", "marzo", "aprile", "maggio", "giugno", "luglio", "agosto", "settembre", "ottobre", "novembre", "dicembre"},
	}
)

// dayMonth is "23 November" (English names for languages without a table).
func dayMonth(t time.Time, lang string) string {
	m, ok := months[lang]
	if !ok {
		m = months["en"]
	}
	return fmt.Sprintf("%d %s", t.Day(), m[t.Month()-1])
}

// longDate is "Monday 23 November 2026".
func longDate(t time.Time, lang string) string {
	w, ok := weekdays[lang]
	if !ok {
		w = weekdays["en"]
	}
	return fmt.Sprintf("%s %s %d", w[t.Weekday()], dayMonth(t, lang), t.Year())
}

// rendered is one message's parts.
type rendered struct {
	subject string
	text    string
	html    string
	ics     []byte
	method  string
}

// checkURL is the device check's link for a participant: the configured
// page (an absolute URL without a query) with ?lang= of the participant's
// language, or of the invitation's when the participant has none of the
// two-letter form, so that the page speaks the invitation's language.
func checkURL(page, participant, invitation string) string {
	if page == "" {
		return ""
	}
	lang := participant
	if !langRE.MatchString(lang) {
		lang = invitation
	}
	return page + "?lang=" + url.QueryEscape(lang)
}

// render fills the recipient's language templates for m.
func (ml *Mailer) render(m *teleconsult.Mail, test bool) (*rendered, error) {
	lang := m.Language
	t, ok := ml.templates[lang]
	if !ok {
		lang = DefaultLanguage
		t = ml.templates[lang]
	}
	loc := ml.defaultZone
	zone := ml.defaultZone.String()
	if m.TimeZone != "" {
		if l, err := time.LoadLocation(m.TimeZone); err == nil {
			loc, zone = l, m.TimeZone
		}
	}
	start, end, opens := m.Start.In(loc), m.End.In(loc), m.Opens.In(loc)
	if m.Opens.IsZero() {
		opens = start
	}
	v := view{
		Kind: m.Kind.String(), Invite: m.Kind == teleconsult.InvitationInvite,
		Update: m.Kind == teleconsult.InvitationUpdate, Cancel: m.Kind == teleconsult.InvitationCancel,
		Resend: m.Resend, Test: test, Language: lang,
		Company: ml.cfg.Company, LogoURL: ml.cfg.LogoURL, Accent: ml.cfg.Accent,
		Link: m.Link, DeviceCheckURL: checkURL(ml.cfg.DeviceCheckURL, m.Language, lang),
		Date: longDate(start, lang), DayMonth: dayMonth(start, lang),
		Start: start.Format("15:04"), End: end.Format("15:04"), OpensTime: opens.Format("15:04"),
		TimeZone: zone,
	}
	for _, name := range m.Others {
		v.Others = append(v.Others, oneLine(name, 200))
	}
	if y1, m1, d1 := opens.Date(); y1 != start.Year() || m1 != start.Month() || d1 != start.Day() {
		v.OpensDate = longDate(opens, lang)
	}
	if v.Cancel {
		v.Link = ""
	}
	var r rendered
	var buf bytes.Buffer
	var execErr error
	exec := func(name string, run func() error) string {
		buf.Reset()
		if err := run(); err != nil && execErr == nil {
			execErr = fmt.Errorf("%s/%s: %w", lang, name, err)
		}
		return buf.String()
	}
	r.subject = exec(fileSubject, func() error { return t.subject.Execute(&buf, v) })
	summary := exec(fileSummary, func() error { return t.summary.Execute(&buf, v) })
	r.text = exec(fileText, func() error { return t.text.Execute(&buf, v) })
	r.html = exec(fileHTML, func() error { return t.html.Execute(&buf, v) })
	if execErr != nil {
		return nil, execErr
	}
	r.subject = oneLine(r.subject, 200)
	if test {
		r.subject = "[Test] " + r.subject
	}
	r.method = "REQUEST"
	if v.Cancel {
		r.method = "CANCEL"
	}
	r.ics = writeICS(&event{
		Method: r.method, UID: m.UID, Sequence: m.Sequence, Stamp: m.Stamp,
		Start: m.Start, End: m.End, Summary: oneLine(summary, 200), Description: r.text,
		URL: v.Link, Organizer: ml.from.Address, OrgName: ml.from.Name, Attendee: m.To,
		Alarm: true,
	})
	return &r, nil
}

// oneLine turns s into one header-safe line: control characters and runs
// of white space become one space; at most max runes.
func oneLine(s string, max int) string {
	s = strings.Join(strings.Fields(strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == 0x2028 || r == 0x2029 {
			return ' '
		}
		return r
	}, strings.ToValidUTF8(s, ""))), " ")
	if utf8.RuneCountInString(s) > max {
		s = string([]rune(s)[:max])
	}
	return s
}
