package strictjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name string
		in   string
		o    Options
		want any
	}{
		{"object", `{"a": [1, "x", true, null], "b": {}}`, Options{},
			map[string]any{"a": []any{json.Number("1"), "x", true, nil}, "b": map[string]any{}}},
		{"scalar", ` 3.5e1 `, Options{}, json.Number("3.5e1")},
		{"at the depth limit", `[[{"a": []}]]`, Options{MaxDepth: 4}, []any{[]any{map[string]any{"a": []any{}}}}},
		{"at the key limit", `{"a": 1, "b": {"c": 1, "d": 2}}`, Options{MaxKeys: 2},
			map[string]any{"a": json.Number("1"), "b": map[string]any{"c": json.Number("1"), "d": json.Number("2")}}},
		{"duplicates allowed", `{"a": 1, "a": 2}`, Options{Duplicates: true}, map[string]any{"a": json.Number("2")}},
	}
	for _, tt := range tests {
		got, err := Parse([]byte(tt.in), tt.o)
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: got %#v, %v; want %#v", tt.name, got, err, tt.want)
		}
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name   string
		in     string
		o      Options
		kind   Kind
		path   string
		key    string
		offset int64 // checked when not 0
	}{
		{"empty", ``, Options{}, Syntax, "", "", 0},
		{"truncated", `{"a": [1,`, Options{}, Syntax, "", "", 0},
		{"bad syntax", `{"a" 1}`, Options{}, Syntax, "", "", 0},
		{"trailing value", `{} {}`, Options{}, Trailing, "", "", 0},
		{"trailing garbage", `1 x`, Options{}, Trailing, "", "", 0},
		{"too deep", `[[{"a": [1]}]]`, Options{MaxDepth: 3}, TooDeep, "[0][0].a", "", 0},
		{"too many keys", `{"o": {"a": 1, "b": 2, "c": 3}}`, Options{MaxKeys: 2}, TooManyKeys, "o", "c", 0},
		{"duplicate at the root", `{"a": 1, "a": 2}`, Options{}, DuplicateKey, "", "a", 12},
		{"duplicate nested", `{"p": [{}, {"x": 1, "x": 1}]}`, Options{}, DuplicateKey, "p[1]", "x", 0},
		{"duplicate before the key limit", `{"a": 1, "a": 2}`, Options{MaxKeys: 1}, DuplicateKey, "", "a", 0},
	}
	for _, tt := range tests {
		_, err := Parse([]byte(tt.in), tt.o)
		e, ok := errors.AsType[*Error](err)
		if !ok {
			t.Errorf("%s: got %v, want an *Error", tt.name, err)
			continue
		}
		if e.Kind != tt.kind || e.Path.String() != tt.path || e.Key != tt.key || tt.offset != 0 && e.Offset != tt.offset {
			t.Errorf("%s: got kind %d, path %q, key %q, offset %d; want %d, %q, %q", tt.name, e.Kind, e.Path, e.Key, e.Offset, tt.kind, tt.path, tt.key)
		}
	}
	// A syntax error keeps the decoder's error.
	_, err := Parse([]byte(`{"a" 1}`), Options{})
	if _, ok := errors.AsType[*json.SyntaxError](err); !ok {
		t.Errorf("syntax error %v does not wrap a *json.SyntaxError", err)
	}
	if _, err := Parse([]byte(`[`), Options{}); !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("truncated: %v does not wrap an EOF", err)
	}
}

// Ensure the Key callback sees every key in order, with its object's path.
func TestParseKeys(t *testing.T) {
	var got []string
	_, err := Parse([]byte(`{"a": {"b": [{"c": 1}], "a": 2}, "d": 3, "d": 4}`), Options{Duplicates: true,
		Key: func(parent Path, key string) { got = append(got, parent.String()+"|"+key) }})
	want := []string{"|a", "a|b", "a.b[0]|c", "a|a", "|d", "|d"}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("got %q, %v; want %q", got, err, want)
	}
}

// FuzzParse: Parse never panics; what it accepts is JSON that
// encoding/json reads the same, and its errors never hold a value of the
// document.
func FuzzParse(f *testing.F) {
	for _, s := range []string{`{"a": [1, {"b": null}]}`, `[[[[[]]]]]`, `{"a": 1, "a": 2}`, `"x" "y"`, `{"k": "secret value"`, `1e999`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := Parse(data, Options{MaxDepth: 8, MaxKeys: 8})
		if err != nil {
			e, ok := errors.AsType[*Error](err)
			if !ok {
				t.Fatalf("error %v is not an *Error", err)
			}
			if msg := e.Error(); strings.Contains(msg, `"`) {
				t.Fatalf("error message %q quotes the input", msg)
			}
			return
		}
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.UseNumber()
		var want any
		if err := dec.Decode(&want); err != nil {
			t.Fatalf("Parse accepted what encoding/json refuses (%v): %q", err, data)
		}
		if !reflect.DeepEqual(v, want) {
			t.Fatalf("Parse read %#v, encoding/json %#v", v, want)
		}
	})
}
