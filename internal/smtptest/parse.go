package smtptest

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"strings"
)

// Parsed is a received message taken apart with the standard library's
// MIME readers (net/mail, mime, mime/multipart), as a mail client would.
type Parsed struct {
	Header  mail.Header
	Subject string // decoded (RFC 2047)
	// Structure lists the media types in document order, nested ones
	// indented by two spaces per level.
	Structure []string
	Text      string // the text/plain part, decoded
	HTML      string // the text/html part, decoded
	// Calendar is the text/calendar part, decoded; CalendarParams its
	// Content-Type parameters (method, charset, name) and
	// CalendarDisposition its Content-Disposition.
	Calendar            []byte
	CalendarParams      map[string]string
	CalendarDisposition string
}

// Parse takes a message apart. It fails on anything a strict reader would.
func Parse(data []byte) (*Parsed, error) {
	msg, err := mail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	p := &Parsed{Header: msg.Header}
	dec := new(mime.WordDecoder)
	if p.Subject, err = dec.DecodeHeader(msg.Header.Get("Subject")); err != nil {
		return nil, fmt.Errorf("subject: %w", err)
	}
	if err := p.walk(msg.Header.Get("Content-Type"), "", msg.Header.Get("Content-Transfer-Encoding"), msg.Body, 0); err != nil {
		return nil, err
	}
	return p, nil
}

func (p *Parsed) walk(ctype, disposition, cte string, body io.Reader, depth int) error {
	if depth > 5 {
		return errors.New("too deep")
	}
	media, params, err := mime.ParseMediaType(ctype)
	if err != nil {
		return fmt.Errorf("content type %q: %w", ctype, err)
	}
	p.Structure = append(p.Structure, strings.Repeat("  ", depth)+media)
	if strings.HasPrefix(media, "multipart/") {
		mr := multipart.NewReader(body, params["boundary"])
		for {
			part, err := mr.NextRawPart()
			if err == io.EOF {
				return nil
			} else if err != nil {
				return err
			}
			if err := p.walk(part.Header.Get("Content-Type"), part.Header.Get("Content-Disposition"),
				part.Header.Get("Content-Transfer-Encoding"), part, depth+1); err != nil {
				return err
			}
		}
	}
	raw, err := io.ReadAll(decoder(cte, body))
	if err != nil {
		return fmt.Errorf("%s: %w", media, err)
	}
	switch media {
	case "text/plain":
		p.Text = string(raw)
	case "text/html":
		p.HTML = string(raw)
	case "text/calendar":
		p.Calendar, p.CalendarParams, p.CalendarDisposition = raw, params, disposition
	}
	return nil
}

// decoder undoes a Content-Transfer-Encoding.
func decoder(cte string, r io.Reader) io.Reader {
	switch strings.ToLower(strings.TrimSpace(cte)) {
	case "quoted-printable":
		return quotedprintable.NewReader(r)
	case "base64":
		return base64.NewDecoder(base64.StdEncoding, r)
	}
	return r
}
