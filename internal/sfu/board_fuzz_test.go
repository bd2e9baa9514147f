package sfu

import (
	"encoding/json"
	"testing"
	"unicode/utf8"
)

// FuzzDecodeBoard feeds the decoder board and pointer messages. Whatever it
// accepts is within the protocol's bounds, and encoding an accepted op
// and decoding it again gives the same op (what the server relays and
// keeps is what it checked).
//
//	go test -run '^$' -fuzz FuzzDecodeBoard -fuzztime 60s ./internal/sfu
func FuzzDecodeBoard(f *testing.F) {
	for _, s := range []string{
		`{"type":"board","op":{"kind":"stroke","id":"s1","tool":"pen","color":"#e11d48","width":4,"points":[10,10,20,20]}}`,
		`{"type":"board","op":{"kind":"append","id":"s1","points":[30,30]}}`,
		`{"type":"board","op":{"kind":"shape","id":"r1","tool":"ellipse","color":"#2563eb","width":3,"points":[100,100,300,200]}}`,
		`{"type":"board","op":{"kind":"text","id":"t1","color":"#111827","size":32,"points":[5,4],"text":"Ecco\nqui"}}`,
		`{"type":"board","op":{"kind":"background","file":"0123456789abcdef0123456789abcdef","page":3}}`,
		`{"type":"board","op":{"kind":"erase","id":"s1"}}`,
		`{"type":"board","op":{"kind":"undo"}}`,
		`{"type":"board","op":{"kind":"clear"}}`,
		`{"type":"board","op":{"kind":"stroke","id":"s1","tool":"pen","color":"#e11d48","width":4,"points":[1e3,2]}}`,
		`{"type":"board","op":{"kind":"text","id":"t1","color":"#111827","size":32,"points":[5,4],"text":"\u0000"}}`,
		`{"type":"pointer","on":true,"of":"u_1","source":"screen","x":0.5,"y":1}`,
		`{"type":"pointer","on":false}`,
		`{"type":"pointer","on":true,"of":"u_1","source":"camera","x":-0,"y":1e-9}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := decodeMessage(b)
		if err != nil {
			if m.Board != nil || m.Pointer != nil {
				t.Fatalf("refused but decoded: %v", err)
			}
			if !utf8.ValidString(describeDecodeError(err)) {
				t.Fatalf("error message not UTF-8")
			}
			return
		}
		switch m.Type {
		case typeBoard:
			op := m.Board
			if op == nil {
				t.Fatal("board without op")
			}
			checkOpBounds(t, op)
			enc, err := json.Marshal(map[string]any{"type": typeBoard, "op": op})
			if err != nil {
				t.Fatal(err)
			}
			again, err := decodeMessage(enc)
			if err != nil {
				t.Fatalf("re-encoded op %s refused: %v", enc, err)
			}
			enc2, _ := json.Marshal(map[string]any{"type": typeBoard, "op": again.Board})
			if string(enc) != string(enc2) {
				t.Fatalf("op changed by a round trip: %s, %s", enc, enc2)
			}
		case typePointer:
			p := m.Pointer
			if p == nil {
				t.Fatal("pointer without fields")
			}
			if p.On && (p.X < 0 || p.X > 1 || p.Y < 0 || p.Y > 1 || !oneOf(p.Source, sources) || p.Of == "") {
				t.Fatalf("pointer out of bounds: %+v", p)
			}
		}
	})
}

func checkOpBounds(t *testing.T, op *boardOp) {
	t.Helper()
	if _, ok := opFields[op.Kind]; !ok {
		t.Fatalf("kind %q accepted", op.Kind)
	}
	if len(op.Points)%2 != 0 || len(op.Points)/2 > maxMessagePoints {
		t.Fatalf("%d points accepted", len(op.Points))
	}
	for i := 0; i+1 < len(op.Points); i += 2 {
		if op.Points[i] < 0 || op.Points[i] > BoardWidth || op.Points[i+1] < 0 || op.Points[i+1] > BoardHeight {
			t.Fatalf("point %d,%d accepted", op.Points[i], op.Points[i+1])
		}
	}
	if op.ID != "" && !boardIDRE.MatchString(op.ID) || op.Color != "" && !colorRE.MatchString(op.Color) {
		t.Fatalf("id %q or color %q accepted", op.ID, op.Color)
	}
	if op.Width != 0 && (op.Width < minLineWidth || op.Width > maxLineWidth) || op.Size != 0 && (op.Size < minTextSize || op.Size > maxTextSize) {
		t.Fatalf("width %d or size %d accepted", op.Width, op.Size)
	}
	if op.Kind == opText && checkBoardText(op.Text) != nil {
		t.Fatalf("text %q accepted", op.Text)
	}
}
