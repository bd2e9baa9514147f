package mail

import (
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// event is what the iCalendar part says (RFC 5545 content, RFC 5546 iTIP
// method). Times are written in UTC, so no VTIMEZONE is needed.
type event struct {
	Method      string // REQUEST or CANCEL
	UID         string
	Sequence    int
	Stamp       time.Time
	Start, End  time.Time
	Summary     string
	Description string
	URL         string // the personal link; "" for a cancellation
	Organizer   string // address
	OrgName     string
	Attendee    string // address: the recipient only
	Alarm       bool   // a reminder 15 minutes before
}

const icsTime = "20060102T150405Z"

// writeICS renders ev as an iCalendar object: CRLF line ends, lines folded
// at 75 octets without splitting a UTF-8 sequence, TEXT values escaped and
// stripped of control characters, so that no value can start a property
// of its own.
func writeICS(ev *event) []byte {
	var b strings.Builder
	line := func(name, value string) { fold(&b, name+":"+value) }
	line("BEGIN", "VCALENDAR")
	line("PRODID", "-//Teleconsult//Invitations//EN")
	line("VERSION", "2.0")
	line("CALSCALE", "GREGORIAN")
	line("METHOD", ev.Method)
	line("BEGIN", "VEVENT")
	line("UID", icsText(ev.UID))
	line("SEQUENCE", strconv.Itoa(ev.Sequence))
	line("DTSTAMP", ev.Stamp.UTC().Format(icsTime))
	line("DTSTART", ev.Start.UTC().Format(icsTime))
	line("DTEND", ev.End.UTC().Format(icsTime))
	line("SUMMARY", icsText(ev.Summary))
	if ev.Description != "" {
		line("DESCRIPTION", icsText(ev.Description))
	}
	if ev.URL != "" {
		line("LOCATION", icsText(ev.URL))
		line("URL", icsURI(ev.URL))
	}
	fold(&b, "ORGANIZER;CN="+icsParam(ev.OrgName)+":mailto:"+icsURI(ev.Organizer))
	fold(&b, "ATTENDEE;ROLE=REQ-PARTICIPANT;PARTSTAT=NEEDS-ACTION;RSVP=FALSE:mailto:"+icsURI(ev.Attendee))
	if ev.Method == "CANCEL" {
		line("STATUS", "CANCELLED")
	} else {
		line("STATUS", "CONFIRMED")
	}
	line("TRANSP", "OPAQUE")
	line("CLASS", "PRIVATE")
	if ev.Alarm && ev.Method != "CANCEL" {
		line("BEGIN", "VALARM")
		line("ACTION", "DISPLAY")
		line("DESCRIPTION", icsText(ev.Summary))
		line("TRIGGER", "-PT15M")
		line("END", "VALARM")
	}
	line("END", "VEVENT")
	line("END", "VCALENDAR")
	return []byte(b.String())
}

// fold writes one content line, folded (RFC 5545 section 3.1).
func fold(b *strings.Builder, s string) {
	const max = 75
	n := 0
	for len(s) > 0 {
		_, size := utf8.DecodeRuneInString(s)
		if n+size > max {
			b.WriteString("\r\n ")
			n = 1
		}
		b.WriteString(s[:size])
		n += size
		s = s[size:]
	}
	b.WriteString("\r\n")
}

// stripControls drops control characters (CR, LF, NUL, …), keeping tabs
// as spaces.
func stripControls(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r == '\t':
			return ' '
		case r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == 0x2028 || r == 0x2029 || r == utf8.RuneError:
			return -1
		}
		return r
	}, s)
}

// icsText escapes a TEXT value: backslash, semicolon, comma and newlines;
// other control characters are dropped.
func icsText(s string) string {
	lines := strings.Split(strings.ReplaceAll(s, "\r\n", "\n"), "\n")
	for i, l := range lines {
		l = stripControls(l)
		l = strings.NewReplacer(`\`, `\\`, `;`, `\;`, `,`, `\,`).Replace(l)
		lines[i] = l
	}
	return strings.Join(lines, `\n`)
}

// icsURI writes a URI or address value: control characters and spaces
// dropped (they cannot be part of one).
func icsURI(s string) string {
	return strings.Map(func(r rune) rune {
		if r <= ' ' || r == 0x7f {
			return -1
		}
		return r
	}, stripControls(s))
}

// icsParam writes a parameter value: quoted, without DQUOTE or controls.
func icsParam(s string) string {
	s = strings.ReplaceAll(stripControls(s), `"`, "'")
	return `"` + s + `"`
}
