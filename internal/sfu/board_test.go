package sfu

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/teleconsult/teleconsult/internal/teleconsult"
)

// ops decodes the op of a board message.
func opOf(tb testing.TB, m msg) map[string]any {
	tb.Helper()
	op, ok := m.m["op"].(map[string]any)
	if !ok {
		tb.Fatalf("board message without op: %s", m.raw)
	}
	return op
}

func stroke(id string, points ...int) map[string]any {
	return map[string]any{"type": "board", "op": map[string]any{"kind": "stroke", "id": id, "tool": "pen", "color": "#e11d48", "width": 4, "points": points}}
}

// The board is relayed to the others as it is drawn (never to the
// sender), and whoever enters later (a late joiner, a reconnect) gets it
// whole, appends merged into their stroke; erase, undo and clear change it
// for everyone.
func TestBoardRelayAndState(t *testing.T) {
	e := newEnv(t)
	id, tokens := e.visit(3)
	doc := e.join(id, tokens[0], clientOptions{noMedia: true})
	pat := e.join(id, tokens[1], clientOptions{noMedia: true})

	doc.send(stroke("s1", 10, 10, 20, 20))
	doc.send(map[string]any{"type": "board", "op": map[string]any{"kind": "append", "id": "s1", "points": []int{30, 30, 40, 45}}})
	doc.send(map[string]any{"type": "board", "op": map[string]any{"kind": "shape", "id": "r1", "tool": "rect", "color": "#2563eb", "width": 3, "points": []int{100, 100, 300, 200}}})
	pat.send(map[string]any{"type": "board", "op": map[string]any{"kind": "text", "id": "t1", "color": "#111827", "size": 32, "points": []int{500, 400}, "text": "Ecco qui"}})
	for _, want := range []string{"stroke", "append", "shape"} {
		m := pat.waitFor("board")
		if op := opOf(t, m); op["kind"] != want || m.str("from") != doc.pid() {
			t.Fatalf("patient got %s, want a %s from the doctor", m.raw, want)
		}
	}
	if m := doc.waitFor("board"); opOf(t, m)["text"] != "Ecco qui" || m.str("from") != pat.pid() {
		t.Fatalf("doctor got %s", m.raw)
	}
	doc.send(map[string]any{"type": "ping"})
	doc.waitFor("pong")
	if n := len(doc.seen("board")); n != 1 {
		t.Errorf("the doctor got %d board messages, want only the patient's (no echo)", n)
	}

	// A late joiner gets the board whole, before the first offer.
	late := e.dial(id, tokens[2], clientOptions{noMedia: true, raw: true})
	late.waitFor("welcome")
	state := late.waitFor("board-state")
	late.waitFor("offer")
	var got struct {
		Background any
		Items      []struct {
			From string
			Op   boardOp
		}
	}
	if err := json.Unmarshal(state.raw, &got); err != nil {
		t.Fatal(err)
	}
	if got.Background != nil || len(got.Items) != 3 {
		t.Fatalf("board-state %s", state.raw)
	}
	byID := map[string]int{}
	for i, it := range got.Items {
		byID[it.Op.ID] = i
	}
	if s := got.Items[byID["s1"]]; s.From != doc.pid() || s.Op.ID != "s1" || fmt.Sprint(s.Op.Points) != "[10 10 20 20 30 30 40 45]" {
		t.Errorf("stroke in board-state: %+v", s)
	}
	if s := got.Items[byID["t1"]]; s.From != pat.pid() || s.Op.Kind != opText || s.Op.Text != "Ecco qui" {
		t.Errorf("text in board-state: %+v", s)
	}

	// Undo takes back the sender's own last item, for everyone.
	doc.send(map[string]any{"type": "board", "op": map[string]any{"kind": "undo"}})
	for _, c := range []*client{doc, pat, late} {
		m := c.waitFor("board")
		if op := opOf(t, m); op["kind"] != "erase" || op["id"] != "r1" {
			t.Errorf("undo seen as %s", m.raw)
		}
	}
	// Erase removes anyone's item.
	pat.send(map[string]any{"type": "board", "op": map[string]any{"kind": "erase", "id": "s1"}})
	if op := opOf(t, doc.waitFor("board")); op["kind"] != "erase" || op["id"] != "s1" {
		t.Errorf("erase seen as %v", op)
	}
	pat.send(map[string]any{"type": "board", "op": map[string]any{"kind": "erase", "id": "s1"}})
	if m := pat.waitFor("error"); m.str("message") != errNoBoardItem.Error() {
		t.Errorf("second erase: %s", m.raw)
	}
	room := e.room(id)
	if st := room.boardState(); !strings.Contains(string(st), `"t1"`) || strings.Contains(string(st), `"s1"`) || strings.Contains(string(st), `"r1"`) {
		t.Errorf("board after undo and erase: %s", st)
	}

	// Clear: the board is empty, and a reconnect gets no board-state.
	doc.send(map[string]any{"type": "board", "op": map[string]any{"kind": "clear"}})
	if op := opOf(t, pat.waitFor("board")); op["kind"] != "clear" {
		t.Errorf("clear seen as %v", op)
	}
	pat.send(map[string]any{"type": "board", "op": map[string]any{"kind": "undo"}})
	if m := pat.waitFor("error"); m.str("message") != errNothingToUndo.Error() {
		t.Errorf("undo after clear: %s", m.raw)
	}
	if st := room.boardState(); st != nil {
		t.Errorf("board after clear: %s", st)
	}
	again := e.dial(id, tokens[2], clientOptions{noMedia: true, raw: true})
	again.waitFor("welcome")
	again.waitFor("offer")
	if n := len(again.seen("board-state")); n != 0 {
		t.Errorf("a reconnect after clear got %d board-state messages", n)
	}
}

// room returns the live room of teleconsultation id.
func (e *env) room(id string) *room {
	e.t.Helper()
	e.prov.mu.Lock()
	defer e.prov.mu.Unlock()
	for k, r := range e.prov.rooms {
		if k.tc == id {
			return r
		}
	}
	e.t.Fatalf("no room for %s", id)
	return nil
}

// Board messages from a participant without the tool are refused and
// relayed to nobody; with live_edit alone a participant may open a file
// of the visit as the background and annotate it, not draw on a blank
// board.
func TestBoardNeedsTheTool(t *testing.T) {
	uploads := &uploadRecords{}
	e := newEnv(t, withoutTools(func(t *teleconsult.Tools) { t.Whiteboard, t.LiveEdit = false, false }))
	e.svc.Uploads = uploads
	id, tokens := e.visit(2)
	doc := e.join(id, tokens[0], clientOptions{noMedia: true})
	pat := e.join(id, tokens[1], clientOptions{noMedia: true})
	for _, op := range []map[string]any{
		stroke("p1", 1, 1),
		{"type": "board", "op": map[string]any{"kind": "clear"}},
		{"type": "board", "op": map[string]any{"kind": "undo"}},
	} {
		pat.send(op)
		if m := pat.waitFor("error"); m.str("message") != errBoardNotAllowed.Error() {
			t.Errorf("error = %s", m.raw)
		}
	}
	pat.send(map[string]any{"type": "board", "op": map[string]any{"kind": "background", "file": strings.Repeat("a", 32), "page": 0}})
	if m := pat.waitFor("error"); m.str("message") != errLiveEditNotAllowed.Error() {
		t.Errorf("error = %s", m.raw)
	}
	pat.send(map[string]any{"type": "ping"})
	pat.waitFor("pong")
	doc.send(map[string]any{"type": "ping"})
	doc.waitFor("pong")
	if n := len(doc.seen("board")); n != 0 {
		t.Errorf("the doctor got %d board messages from a patient without the tool", n)
	}
	if st := e.room(id).boardState(); st != nil {
		t.Errorf("board changed: %s", st)
	}

	// live_edit without whiteboard.
	e2 := newEnv(t, withoutTools(func(t *teleconsult.Tools) { t.Whiteboard = false }))
	e2.svc.Uploads = uploads
	id2, tokens2 := e2.visit(2)
	doc = e2.join(id2, tokens2[0], clientOptions{noMedia: true})
	pat = e2.join(id2, tokens2[1], clientOptions{noMedia: true})
	pat.send(stroke("p1", 1, 1))
	if m := pat.waitFor("error"); m.str("message") != errBoardNotAllowed.Error() {
		t.Errorf("drawing on a blank board with live_edit alone: %s", m.raw)
	}
	image, pdf, text := uploads.add(id2, "image/png"), uploads.add(id2, "application/pdf"), uploads.add(id2, "text/plain")
	other := uploads.add("another-visit", "image/png")
	for _, bad := range []struct {
		file string
		page int
		want string
	}{
		{text, 0, errNoSuchFile.Error()},
		{other, 0, errNoSuchFile.Error()},
		{strings.Repeat("b", 32), 0, errNoSuchFile.Error()},
		{image, 1, "page must be"},
		{pdf, 0, "page must be"},
	} {
		pat.send(map[string]any{"type": "board", "op": map[string]any{"kind": "background", "file": bad.file, "page": bad.page}})
		if m := pat.waitFor("error"); !strings.Contains(m.str("message"), bad.want) {
			t.Errorf("background %s page %d: %s", bad.file, bad.page, m.raw)
		}
	}
	pat.send(map[string]any{"type": "board", "op": map[string]any{"kind": "background", "file": pdf, "page": 2}})
	if op := opOf(t, doc.waitFor("board")); op["kind"] != "background" || op["file"] != pdf || op["page"] != 2.0 {
		t.Errorf("background seen as %v", op)
	}
	pat.send(stroke("p1", 1, 1))
	if op := opOf(t, doc.waitFor("board")); op["id"] != "p1" {
		t.Errorf("annotation seen as %v", op)
	}
	late := e2.dial(id2, tokens2[0], clientOptions{noMedia: true, raw: true})
	st := late.waitFor("board-state")
	if bg, _ := st.m["background"].(map[string]any); bg["file"] != pdf || bg["page"] != 2.0 {
		t.Errorf("board-state %s", st.raw)
	}
}

// uploadRecords is a teleconsult.UploadStore over a map, for the
// background checks (the SQL store is tested in its own package).
type uploadRecords struct {
	mu   sync.Mutex
	list []teleconsult.Upload
}

func (s *uploadRecords) add(tc, contentType string) string {
	s.mu.Lock()
	u := teleconsult.Upload{ID: fmt.Sprintf("%032x", len(s.list)+1), TeleconsultationID: tc, ContentType: contentType}
	s.mu.Unlock()
	_ = s.AddUpload(context.Background(), &u)
	return u.ID
}

func (s *uploadRecords) AddUpload(_ context.Context, u *teleconsult.Upload) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.list = append(s.list, *u)
	return nil
}

func (s *uploadRecords) Uploads(_ context.Context, tc string) ([]teleconsult.Upload, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []teleconsult.Upload
	for _, u := range s.list {
		if u.TeleconsultationID == tc {
			out = append(out, u)
		}
	}
	return out, nil
}

func (s *uploadRecords) FindUpload(ctx context.Context, tc, id string) (*teleconsult.Upload, error) {
	list, _ := s.Uploads(ctx, tc)
	for _, u := range list {
		if u.ID == id {
			return &u, nil
		}
	}
	return nil, teleconsult.Errorf(teleconsult.ENOTFOUND, "file not found")
}

func (s *uploadRecords) DeleteUploads(ctx context.Context, tc string) ([]teleconsult.Upload, error) {
	gone, _ := s.Uploads(ctx, tc)
	s.mu.Lock()
	defer s.mu.Unlock()
	kept := s.list[:0]
	for _, u := range s.list {
		if u.TeleconsultationID != tc {
			kept = append(kept, u)
		}
	}
	s.list = kept
	return gone, nil
}

func (s *uploadRecords) UploadIDs(context.Context) (map[string]bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ids := map[string]bool{}
	for _, u := range s.list {
		ids[u.ID] = true
	}
	return ids, nil
}

// Malformed, oversized and too frequent board messages are refused with
// an error and change nothing; so is an item that would grow the board
// past its limits, or a stroke past its points.
func TestBoardBadInputAndLimits(t *testing.T) {
	e := newEnv(t)
	id, tokens := e.visit(2)
	doc := e.join(id, tokens[0], clientOptions{noMedia: true})
	pat := e.join(id, tokens[1], clientOptions{noMedia: true})
	many := make([]int, 2*(maxMessagePoints+1))
	bad := []string{
		`{"type":"board"}`,
		`{"type":"board","op":null}`,
		`{"type":"board","op":[]}`,
		`{"type":"board","op":{"kind":"paint"}}`,
		`{"type":"board","op":{"kind":"stroke","id":"a","tool":"pen","color":"#000000","width":4}}`,
		`{"type":"board","op":{"kind":"stroke","id":"a","tool":"pen","color":"#000000","width":4,"points":[1]}}`,
		`{"type":"board","op":{"kind":"stroke","id":"a","tool":"pen","color":"#000000","width":4,"points":[1.5,2]}}`,
		`{"type":"board","op":{"kind":"stroke","id":"a","tool":"pen","color":"#000000","width":4,"points":[1601,2]}}`,
		`{"type":"board","op":{"kind":"stroke","id":"a","tool":"pen","color":"#000000","width":4,"points":[-1,2]}}`,
		`{"type":"board","op":{"kind":"stroke","id":"a","tool":"pen","color":"#000000","width":4,"points":[]}}`,
		`{"type":"board","op":{"kind":"stroke","id":"a","tool":"pen","color":"red","width":4,"points":[1,2]}}`,
		`{"type":"board","op":{"kind":"stroke","id":"a","tool":"brush","color":"#000000","width":4,"points":[1,2]}}`,
		`{"type":"board","op":{"kind":"stroke","id":"a b","tool":"pen","color":"#000000","width":4,"points":[1,2]}}`,
		`{"type":"board","op":{"kind":"stroke","id":"a","tool":"pen","color":"#000000","width":0,"points":[1,2]}}`,
		`{"type":"board","op":{"kind":"stroke","id":"a","tool":"pen","color":"#000000","width":4,"points":[1,2],"from":"u_x"}}`,
		`{"type":"board","op":{"kind":"stroke","id":"a","id":"b","tool":"pen","color":"#000000","width":4,"points":[1,2]}}`,
		`{"type":"board","op":{"kind":"stroke","id":"a","tool":"pen","color":"#000000","width":4,"points":` + mustJSON(many) + `}}`,
		`{"type":"board","op":{"kind":"shape","id":"a","tool":"rect","color":"#000000","width":4,"points":[1,2]}}`,
		`{"type":"board","op":{"kind":"shape","id":"a","tool":"pen","color":"#000000","width":4,"points":[1,2,3,4]}}`,
		`{"type":"board","op":{"kind":"text","id":"a","color":"#000000","size":20,"points":[1,2],"text":"   "}}`,
		`{"type":"board","op":{"kind":"text","id":"a","color":"#000000","size":20,"points":[1,2],"text":"a\u0007"}}`,
		`{"type":"board","op":{"kind":"text","id":"a","color":"#000000","size":20,"points":[1,2],"text":"` + strings.Repeat("x", maxBoardTextRunes+1) + `"}}`,
		`{"type":"board","op":{"kind":"undo","id":"a"}}`,
		`{"type":"board","op":{"kind":"background","file":"../../etc/passwd","page":0}}`,
		`{"type":"board","op":{"kind":"clear"},"teleconsultationId":"x"}`,
	}
	for i, b := range bad {
		// A fresh connection now and then: each refusal counts as a bad
		// message, and more than 10 close the socket.
		if i%8 == 7 {
			pat = e.join(id, tokens[1], clientOptions{noMedia: true})
		}
		pat.sendRaw([]byte(b))
		if m := pat.waitFor("error"); m.str("message") == "" {
			t.Errorf("%s: error = %s", b, m.raw)
		}
	}
	doc.send(map[string]any{"type": "ping"})
	doc.waitFor("pong")
	if n := len(doc.seen("board")); n != 0 {
		t.Errorf("the doctor got %d board messages from bad input", n)
	}
	if st := e.room(id).boardState(); st != nil {
		t.Errorf("board changed by bad input: %s", st)
	}

	// Ids are unique; appends only extend one's own stroke, up to the
	// limit of points.
	pat = e.join(id, tokens[1], clientOptions{noMedia: true})
	doc.send(stroke("d1", 1, 1))
	pat.waitFor("board")
	pat.send(stroke("d1", 2, 2))
	if m := pat.waitFor("error"); m.str("message") != errBoardIDTaken.Error() {
		t.Errorf("taken id: %s", m.raw)
	}
	pat.send(map[string]any{"type": "board", "op": map[string]any{"kind": "append", "id": "d1", "points": []int{3, 3}}})
	if m := pat.waitFor("error"); m.str("message") != errNoOwnStroke.Error() {
		t.Errorf("append to another's stroke: %s", m.raw)
	}
	full := make([]int, 2*maxMessagePoints)
	for range maxStrokePoints / maxMessagePoints {
		doc.send(map[string]any{"type": "board", "op": map[string]any{"kind": "append", "id": "d1", "points": full}})
	}
	if m := doc.waitFor("error"); m.str("message") != errStrokeTooLong.Error() {
		t.Errorf("stroke past its points: %s", m.raw)
	}

	// The board's limits: filled to maxBoardItems, one more is refused.
	r := e.room(id)
	r.mu.Lock()
	for i := len(r.board.items); i < maxBoardItems; i++ {
		op := &boardOp{Kind: opShape, ID: fmt.Sprintf("f%d", i), Tool: "line", Color: "#000000", Width: 1, Points: []int{0, 0, 1, 1}}
		it := &boardItem{from: doc.pid(), op: op, bytes: itemBytes(doc.pid(), op)}
		r.board.items, r.board.byID[op.ID], r.board.bytes = append(r.board.items, it), it, r.board.bytes+it.bytes
	}
	before := r.board.bytes
	r.mu.Unlock()
	pat = e.join(id, tokens[1], clientOptions{noMedia: true})
	pat.send(stroke("p1", 1, 1))
	if m := pat.waitFor("error"); m.str("message") != errBoardFull.Error() {
		t.Errorf("past maxBoardItems: %s", m.raw)
	}
	r.mu.Lock()
	if len(r.board.items) != maxBoardItems || r.board.bytes != before {
		t.Errorf("board changed when full: %d items", len(r.board.items))
	}
	// And by bytes: few items, but large ones.
	r.board = &board{byID: map[string]*boardItem{}, bytes: maxBoardBytes - 10}
	r.mu.Unlock()
	pat.send(stroke("p2", 1, 1))
	if m := pat.waitFor("error"); m.str("message") != errBoardFull.Error() {
		t.Errorf("past maxBoardBytes: %s", m.raw)
	}

	// Too frequent: past the burst, refused (and counted as bad).
	r.mu.Lock()
	r.board = nil
	r.mu.Unlock()
	pat = e.join(id, tokens[1], clientOptions{noMedia: true})
	for i := range boardBurst + 5 {
		pat.send(stroke(fmt.Sprintf("q%d", i), 1, 1))
	}
	if m := pat.waitFor("error"); m.str("message") != errBoardFlood.Error() {
		t.Errorf("flood: %s", m.raw)
	}
	pat.send(map[string]any{"type": "ping"})
	pat.waitFor("pong")
	if n := strings.Count(string(e.room(id).boardState()), `"id":"q`); n >= boardBurst+5 {
		t.Errorf("all %d strokes kept: none refused", n)
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// The live pointer is relayed, with the holder's name, to the others
// only; a participant without live_pointer is refused, as is a pointer
// over someone who is not in the call, or too many.
func TestLivePointer(t *testing.T) {
	e := newEnv(t, withoutTools(func(t *teleconsult.Tools) { t.LivePointer = false }))
	id, tokens := e.visit(2)
	doc := e.join(id, tokens[0], clientOptions{noMedia: true})
	pat := e.join(id, tokens[1], clientOptions{noMedia: true})

	doc.send(map[string]any{"type": "pointer", "on": true, "of": pat.pid(), "source": "screen", "x": 0.25, "y": 0.123456})
	m := pat.waitFor("pointer")
	if m.str("from") != doc.pid() || m.str("name") != "Dr. Anna Verdi" || m.str("of") != pat.pid() || m.str("source") != "screen" ||
		m.m["x"] != 0.25 || m.m["y"] != 0.1235 || m.m["on"] != true {
		t.Errorf("pointer = %s", m.raw)
	}
	doc.send(map[string]any{"type": "pointer", "on": false})
	if m := pat.waitFor("pointer"); m.m["on"] != false || m.m["x"] != nil {
		t.Errorf("pointer off = %s", m.raw)
	}

	pat.send(map[string]any{"type": "pointer", "on": true, "of": doc.pid(), "source": "camera", "x": 0.5, "y": 0.5})
	if m := pat.waitFor("error"); m.str("message") != errPointerNotAllowed.Error() {
		t.Errorf("without the tool: %s", m.raw)
	}
	for _, b := range []string{
		`{"type":"pointer","on":true,"of":"u_nobody","source":"camera","x":0.5,"y":0.5}`,
		`{"type":"pointer","on":true,"of":"` + pat.pid() + `","source":"camera","x":1.5,"y":0.5}`,
		`{"type":"pointer","on":true,"of":"` + pat.pid() + `","source":"board","x":0.5,"y":0.5}`,
		`{"type":"pointer","on":true,"of":"` + pat.pid() + `","source":"camera","x":0.5}`,
		`{"type":"pointer","on":false,"x":0.5}`,
	} {
		doc.sendRaw([]byte(b))
		if m := doc.waitFor("error"); m.str("message") == "" {
			t.Errorf("%s: %s", b, m.raw)
		}
	}
	pat.send(map[string]any{"type": "ping"})
	pat.waitFor("pong")
	if n := len(pat.seen("pointer")); n != 2 {
		t.Errorf("patient got %d pointer messages, want 2", n)
	}
	if n := len(doc.seen("pointer")); n != 0 {
		t.Errorf("the doctor got %d pointer messages (own echo, or the patient's)", n)
	}

	doc = e.join(id, tokens[0], clientOptions{noMedia: true})
	for range pointerBurst + 5 {
		doc.send(map[string]any{"type": "pointer", "on": true, "of": pat.pid(), "source": "camera", "x": 0.5, "y": 0.5})
	}
	if m := doc.waitFor("error"); m.str("message") != errPointerFlood.Error() {
		t.Errorf("flood: %s", m.raw)
	}
}
