// Package strictjson parses JSON strictly: exactly one value, nesting and
// object sizes bounded, each object key once (two parsers could otherwise
// read different values from the same document).
//
// Its errors say what went wrong and where, for the caller to word its own
// message: an [Error] holds the path of keys and indexes that leads to the
// problem, never a value. A caller that must not repeat its input names
// only the keys it knows.
package strictjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Kind says what is wrong with a document.
type Kind int

// Kinds of [Error].
const (
	// Syntax: not JSON, or it ends too early. Error.Err is the decoder's
	// error (a *json.SyntaxError, io.EOF or io.ErrUnexpectedEOF).
	Syntax Kind = iota + 1
	// Trailing: something follows the value.
	Trailing
	// TooDeep: a container nested deeper than Options.MaxDepth.
	TooDeep
	// TooManyKeys: an object with more than Options.MaxKeys keys.
	TooManyKeys
	// DuplicateKey: an object key given twice in one object.
	DuplicateKey
)

// Step is one step of a [Path]: an object key, or an array index when
// Index >= 0.
type Step struct {
	Key   string
	Index int
}

// Path leads from the root of a document to a value.
type Path []Step

// String formats p as keys joined by dots and indexes in brackets:
// participants.data[0].userId. It repeats every key: use it only where the
// keys may be shown.
func (p Path) String() string {
	var b strings.Builder
	for _, s := range p {
		if s.Index >= 0 {
			b.WriteString("[" + strconv.Itoa(s.Index) + "]")
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(s.Key)
	}
	return b.String()
}

// Error is why [Parse] refused a document.
type Error struct {
	Kind Kind
	// Path is the object of a DuplicateKey or TooManyKeys, the container
	// of a TooDeep; nil otherwise.
	Path Path
	// Key is the DuplicateKey or the key that made TooManyKeys.
	Key string
	// Offset is the byte offset the decoder had reached.
	Offset int64
	// Err is the decoder's error of a Syntax error.
	Err error
}

func (e *Error) Error() string {
	switch e.Kind {
	case Syntax:
		return "malformed JSON"
	case Trailing:
		return "malformed JSON: trailing data after the JSON value"
	case TooDeep:
		return "malformed JSON: nested too deep"
	case TooManyKeys:
		return "malformed JSON: too many keys in an object"
	}
	return fmt.Sprintf("malformed JSON: duplicate key before byte %d", e.Offset)
}

// Unwrap returns the decoder's error of a Syntax error.
func (e *Error) Unwrap() error { return e.Err }

// Options bound what [Parse] accepts.
type Options struct {
	// MaxDepth, if positive, is how many containers may nest: the root
	// object or array is at depth 1.
	MaxDepth int
	// MaxKeys, if positive, is how many keys one object may have.
	MaxKeys int
	// Duplicates accepts a key given twice (the last value wins), for a
	// caller that only walks the keys.
	Duplicates bool
	// Key, if set, is called for every object key in document order, with
	// the path of its object.
	Key func(parent Path, key string)
}

// Parse parses data as exactly one JSON value: objects become
// map[string]any, arrays []any, numbers json.Number, and strings, booleans
// and null their Go values. Errors are *[Error].
func Parse(data []byte, o Options) (any, error) {
	p := &parser{dec: json.NewDecoder(bytes.NewReader(data)), o: o}
	p.dec.UseNumber()
	v, err := p.value(nil)
	if err != nil {
		return nil, err
	}
	if _, err := p.dec.Token(); err != io.EOF {
		return nil, &Error{Kind: Trailing, Offset: p.dec.InputOffset()}
	}
	return v, nil
}

type parser struct {
	dec *json.Decoder
	o   Options
}

func (p *parser) syntax(err error) error {
	return &Error{Kind: Syntax, Offset: p.dec.InputOffset(), Err: err}
}

// value parses the value at path.
func (p *parser) value(path Path) (any, error) {
	tok, err := p.dec.Token()
	if err != nil {
		return nil, p.syntax(err)
	}
	d, ok := tok.(json.Delim)
	if !ok {
		return tok, nil // string, json.Number, bool or nil
	}
	if p.o.MaxDepth > 0 && len(path) >= p.o.MaxDepth {
		return nil, &Error{Kind: TooDeep, Path: path, Offset: p.dec.InputOffset()}
	}
	switch d {
	case '{':
		m := map[string]any{}
		for p.dec.More() {
			kt, err := p.dec.Token()
			if err != nil {
				return nil, p.syntax(err)
			}
			k, ok := kt.(string)
			if !ok {
				return nil, p.syntax(errors.New("object key is not a string"))
			}
			if _, dup := m[k]; dup && !p.o.Duplicates {
				return nil, &Error{Kind: DuplicateKey, Path: path, Key: k, Offset: p.dec.InputOffset()}
			}
			if _, dup := m[k]; !dup && p.o.MaxKeys > 0 && len(m) >= p.o.MaxKeys {
				return nil, &Error{Kind: TooManyKeys, Path: path, Key: k, Offset: p.dec.InputOffset()}
			}
			if p.o.Key != nil {
				p.o.Key(path, k)
			}
			if m[k], err = p.value(append(path[:len(path):len(path)], Step{Key: k, Index: -1})); err != nil {
				return nil, err
			}
		}
		if _, err := p.dec.Token(); err != nil {
			return nil, p.syntax(err)
		}
		return m, nil
	case '[':
		a := []any{}
		for i := 0; p.dec.More(); i++ {
			v, err := p.value(append(path[:len(path):len(path)], Step{Index: i}))
			if err != nil {
				return nil, err
			}
			a = append(a, v)
		}
		if _, err := p.dec.Token(); err != nil {
			return nil, p.syntax(err)
		}
		return a, nil
	}
	return nil, p.syntax(fmt.Errorf("unexpected %q", string(d)))
}
