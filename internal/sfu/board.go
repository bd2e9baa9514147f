package sfu

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"regexp"
	"strings"
	"unicode/utf8"
)

// The shared whiteboard (tools whiteboard and live_edit) and the live
// pointer (tool live_pointer): docs/signalling.md, "Whiteboard" and "Live
// pointer".
//
// The board is a list of items (strokes, shapes, texts) drawn in order
// over an optional background (an upload of the visit: an image, or a page
// of a PDF), in board units: BoardWidth × BoardHeight, origin top left.
// The server keeps it for the room's life, bounded by maxBoardItems and
// maxBoardBytes, and sends it to everyone who enters (a late joiner, a
// reconnect); it relays each change to the others as it is made.

// Board size in board units (16:9); every coordinate is an integer in
// [0, BoardWidth] × [0, BoardHeight].
const (
	BoardWidth  = 1600
	BoardHeight = 900
)

// Limits of the board.
const (
	// maxBoardItems bounds the items of a board.
	maxBoardItems = 2000
	// maxBoardBytes bounds the board's items, counted as encoded.
	maxBoardBytes = 512 << 10
	// maxStrokePoints bounds the points of one stroke (in all its parts).
	maxStrokePoints = 5000
	// maxMessagePoints bounds the points of one message.
	maxMessagePoints = 1000
	// maxBoardTextRunes bounds a text item.
	maxBoardTextRunes = 500
	maxBoardIDBytes   = 32
	minLineWidth      = 1
	maxLineWidth      = 64
	minTextSize       = 8
	maxTextSize       = 120
	// maxPDFPage bounds the page of a PDF opened on the board.
	maxPDFPage = 10000
	// Board messages per second per connection (bursts of boardBurst): a
	// page sends a stroke's points in parts of about 100 ms.
	boardRate, boardBurst = 12, 40
	// Pointer messages per second per connection (bursts of pointerBurst).
	pointerRate, pointerBurst = 10, 20
)

// Message types of the board and the pointer.
const (
	typeBoard      = "board"
	typeBoardState = "board-state"
	typePointer    = "pointer"
)

// Kinds of board operations (op.kind).
const (
	opStroke     = "stroke"
	opAppend     = "append"
	opShape      = "shape"
	opText       = "text"
	opBackground = "background"
	opErase      = "erase"
	opUndo       = "undo"
	opClear      = "clear"
)

// opFields lists the fields of each kind of board operation (kind
// included), in the order of docs/signalling.md.
var opFields = map[string][]string{
	opStroke:     {"kind", "id", "tool", "color", "width", "points"},
	opAppend:     {"kind", "id", "points"},
	opShape:      {"kind", "id", "tool", "color", "width", "points"},
	opText:       {"kind", "id", "color", "size", "points", "text"},
	opBackground: {"kind", "file", "page"},
	opErase:      {"kind", "id"},
	opUndo:       {"kind"},
	opClear:      {"kind"},
}

var (
	opKinds     = []string{opStroke, opAppend, opShape, opText, opBackground, opErase, opUndo, opClear}
	strokeTools = []string{"pen", "highlighter"}
	shapeTools  = []string{"line", "arrow", "rect", "ellipse"}
	sources     = []string{sourceCamera, sourceScreen}

	boardIDRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,32}$`)
	colorRE   = regexp.MustCompile(`^#[0-9a-f]{6}$`)
	// uploadIDRE is the form of an upload's id (see teleconsult.Upload).
	uploadIDRE = regexp.MustCompile(`^[0-9a-f]{32}$`)
)

func init() {
	for _, list := range opFields {
		for _, f := range list {
			fieldNames[f] = true
		}
	}
	for _, f := range pointerFields {
		fieldNames[f] = true
	}
}

// boardOp is one operation on the board, as the page sends it and as the
// server relays it. Only the fields of its kind are set.
type boardOp struct {
	Kind string `json:"kind"`
	// ID names an item (stroke, shape, text); chosen by the page, unique
	// on the board.
	ID string `json:"id,omitempty"`
	// Tool is pen or highlighter (stroke), line, arrow, rect or ellipse
	// (shape).
	Tool  string `json:"tool,omitempty"`
	Color string `json:"color,omitempty"`
	Width int    `json:"width,omitempty"`
	Size  int    `json:"size,omitempty"`
	// Points are x, y pairs in board units: a stroke's (or the part an
	// append adds), a shape's two corners or ends, a text's top left.
	Points []int  `json:"points,omitempty"`
	Text   string `json:"text,omitempty"`
	// File is the upload opened as the background; Page its page (from
	// 1) when it is a PDF, 0 for an image.
	File string `json:"file,omitempty"`
	Page *int   `json:"page,omitempty"`
}

// decodeBoardOp decodes the op of a board message strictly.
func decodeBoardOp(raw map[string]json.RawMessage) (*boardOp, error) {
	v, ok := raw["op"]
	if !ok {
		return nil, fmt.Errorf("%w: op", ErrMissingField)
	}
	var inner map[string]json.RawMessage
	if bytes.Equal(bytes.TrimSpace(v), []byte("null")) || json.Unmarshal(v, &inner) != nil {
		return nil, fmt.Errorf("%w: op must be an object", ErrBadField)
	}
	op := &boardOp{}
	var err error
	if op.Kind, err = stringField(inner, "kind", 16); err != nil {
		return nil, fmt.Errorf("op: %w", err)
	}
	allowed, ok := opFields[op.Kind]
	if !ok {
		return nil, fmt.Errorf("%w: op.kind must be one of %s", ErrBadField, strings.Join(opKinds, ", "))
	}
	if err := onlyFields(inner, allowed); err != nil {
		return nil, fmt.Errorf("op: %w", err)
	}
	for _, f := range allowed[1:] {
		if err == nil {
			err = op.decodeField(inner, f)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("op: %w", err)
	}
	if err := op.checkPoints(); err != nil {
		return nil, fmt.Errorf("op: %w", err)
	}
	return op, nil
}

// decodeField decodes and checks one field of op (every field of a kind
// is required).
func (op *boardOp) decodeField(inner map[string]json.RawMessage, name string) error {
	var err error
	switch name {
	case "id":
		op.ID, err = stringField(inner, name, maxBoardIDBytes)
		if err == nil && !boardIDRE.MatchString(op.ID) {
			err = fmt.Errorf("%w: id must be 1 to 32 letters, digits, - or _", ErrBadField)
		}
	case "tool":
		op.Tool, err = stringField(inner, name, 16)
		tools := strokeTools
		if op.Kind == opShape {
			tools = shapeTools
		}
		if err == nil && !oneOf(op.Tool, tools) {
			err = fmt.Errorf("%w: tool must be one of %s", ErrBadField, strings.Join(tools, ", "))
		}
	case "color":
		op.Color, err = stringField(inner, name, 7)
		if err == nil && !colorRE.MatchString(op.Color) {
			err = fmt.Errorf("%w: color must be #rrggbb (lower case)", ErrBadField)
		}
	case "width":
		op.Width, err = intField(inner, name, minLineWidth, maxLineWidth)
	case "size":
		op.Size, err = intField(inner, name, minTextSize, maxTextSize)
	case "page":
		var p int
		p, err = intField(inner, name, 0, maxPDFPage)
		op.Page = &p
	case "file":
		op.File, err = stringField(inner, name, 32)
		if err == nil && !uploadIDRE.MatchString(op.File) {
			err = fmt.Errorf("%w: file must be the id of a file of this visit", ErrBadField)
		}
	case "text":
		op.Text, err = stringField(inner, name, 4*maxBoardTextRunes)
		if err == nil {
			err = checkBoardText(op.Text)
		}
	case "points":
		v, ok := inner[name]
		if !ok {
			return fmt.Errorf("%w: points", ErrMissingField)
		}
		if bytes.Equal(bytes.TrimSpace(v), []byte("null")) || json.Unmarshal(v, &op.Points) != nil {
			return fmt.Errorf("%w: points must be an array of integers", ErrBadField)
		}
	}
	return err
}

// checkPoints checks the number of points for the kind and that each is
// on the board.
func (op *boardOp) checkPoints() error {
	n := len(op.Points)
	if n%2 != 0 {
		return fmt.Errorf("%w: points must be x, y pairs", ErrBadField)
	}
	want := -1 // any number from 1 to maxMessagePoints
	switch op.Kind {
	case opShape:
		want = 2
	case opText:
		want = 1
	case opStroke, opAppend:
	default:
		return nil
	}
	switch {
	case want > 0 && n/2 != want:
		return fmt.Errorf("%w: points must have %d pairs for a %s", ErrBadField, want, op.Kind)
	case n == 0:
		return fmt.Errorf("%w: points", ErrMissingField)
	case n/2 > maxMessagePoints:
		return fmt.Errorf("%w: points has more than %d pairs", ErrBadField, maxMessagePoints)
	}
	for i := 0; i < n; i += 2 {
		if x, y := op.Points[i], op.Points[i+1]; x < 0 || x > BoardWidth || y < 0 || y > BoardHeight {
			return fmt.Errorf("%w: points must be within %d × %d", ErrBadField, BoardWidth, BoardHeight)
		}
	}
	return nil
}

// checkBoardText enforces 1–500 characters of text, no control characters
// but line breaks.
func checkBoardText(s string) error {
	for _, r := range s {
		if r < 0x20 && r != '\n' || r == 0x7f {
			return fmt.Errorf("%w: text has control characters", ErrBadField)
		}
	}
	if strings.TrimSpace(s) == "" {
		return fmt.Errorf("%w: text", ErrMissingField)
	}
	if utf8.RuneCountInString(s) > maxBoardTextRunes {
		return fmt.Errorf("%w: text is longer than %d characters", ErrBadField, maxBoardTextRunes)
	}
	return nil
}

// intField returns a required integer field within [lo, hi].
func intField(raw map[string]json.RawMessage, name string, lo, hi int) (int, error) {
	v, ok := raw[name]
	if !ok {
		return 0, fmt.Errorf("%w: %s", ErrMissingField, name)
	}
	var n int
	if bytes.Equal(bytes.TrimSpace(v), []byte("null")) || json.Unmarshal(v, &n) != nil {
		return 0, fmt.Errorf("%w: %s must be an integer", ErrBadField, name)
	}
	if n < lo || n > hi {
		return 0, fmt.Errorf("%w: %s must be from %d to %d", ErrBadField, name, lo, hi)
	}
	return n, nil
}

func oneOf(s string, list []string) bool {
	for _, x := range list {
		if s == x {
			return true
		}
	}
	return false
}

// pointerFields are the fields of a pointer message (type included).
var pointerFields = []string{"type", "on", "of", "source", "x", "y"}

// pointerMsg is a live pointer: on, over the video of participant Of
// (their camera or screen) at X, Y (fractions of the picture's width and
// height from its top left); or off.
type pointerMsg struct {
	On     bool
	Of     string
	Source string
	X, Y   float64
}

// decodePointer decodes a pointer message: {on: true, of, source, x, y}
// or {on: false} alone.
func decodePointer(raw map[string]json.RawMessage) (*pointerMsg, error) {
	v, ok := raw["on"]
	if !ok {
		return nil, fmt.Errorf("%w: on", ErrMissingField)
	}
	p := &pointerMsg{}
	var err error
	if p.On, err = boolField(v, "on"); err != nil {
		return nil, err
	}
	if !p.On {
		if len(raw) != 2 {
			return nil, fmt.Errorf("%w; expected type, on (false) alone", ErrUnknownField)
		}
		return p, nil
	}
	if p.Of, err = stringField(raw, "of", maxParticipantIDBytes); err != nil {
		return nil, err
	}
	if p.Source, err = stringField(raw, "source", 16); err != nil {
		return nil, err
	}
	if !oneOf(p.Source, sources) {
		return nil, fmt.Errorf("%w: source must be one of %s", ErrBadField, strings.Join(sources, ", "))
	}
	if p.X, err = fractionField(raw, "x"); err != nil {
		return nil, err
	}
	if p.Y, err = fractionField(raw, "y"); err != nil {
		return nil, err
	}
	return p, nil
}

// fractionField returns a required number field within [0, 1], rounded
// to 4 decimals.
func fractionField(raw map[string]json.RawMessage, name string) (float64, error) {
	v, ok := raw[name]
	if !ok {
		return 0, fmt.Errorf("%w: %s", ErrMissingField, name)
	}
	var f float64
	if bytes.Equal(bytes.TrimSpace(v), []byte("null")) || json.Unmarshal(v, &f) != nil || !(f >= 0 && f <= 1) {
		return 0, fmt.Errorf("%w: %s must be a number from 0 to 1", ErrBadField, name)
	}
	return math.Round(f*1e4) / 1e4, nil
}

// Refusals of board and pointer messages, shown to the sender.
var (
	errBoardNotAllowed    = errors.New("the whiteboard is not allowed for you")
	errLiveEditNotAllowed = errors.New("live edit is not allowed for you")
	errPointerNotAllowed  = errors.New("the live pointer is not allowed for you")
	errBoardFlood         = errors.New("too many board messages: slow down")
	errPointerFlood       = errors.New("too many pointer messages: slow down")
	errBoardFull          = errors.New("the board is full: erase or clear something first")
	errStrokeTooLong      = fmt.Errorf("a stroke has at most %d points: start a new one", maxStrokePoints)
	errBoardIDTaken       = errors.New("a board item with this id exists")
	errNoOwnStroke        = errors.New("no stroke of yours with this id")
	errNoBoardItem        = errors.New("no board item with this id")
	errNothingToUndo      = errors.New("nothing of yours to undo")
	errNoSuchFile         = errors.New("no image or PDF file of this visit has this id")
	errPointerTarget      = errors.New("nobody with this participantId is in the call")
)

// board is a room's board. Guarded by the room's mu.
type board struct {
	items []*boardItem
	byID  map[string]*boardItem
	bytes int
	// background is the upload opened on the board, if any.
	background *boardOp
}

// boardItem is one item of the board: the operation that made it (a
// stroke with the points of its appends) and who made it.
type boardItem struct {
	from  string
	op    *boardOp
	bytes int
}

// itemBytes is what an item counts towards maxBoardBytes: its encoding in
// board-state.
func itemBytes(from string, op *boardOp) int {
	b, _ := json.Marshal(boardEntry{From: from, Op: op})
	return len(b)
}

// remove takes an item off the board.
func (b *board) remove(it *boardItem) {
	for i, x := range b.items {
		if x == it {
			b.items = append(b.items[:i:i], b.items[i+1:]...)
			break
		}
	}
	delete(b.byID, it.op.ID)
	b.bytes -= it.bytes
}

// boardEntry is an item in board-state and the envelope of a relayed op.
type boardEntry struct {
	From string   `json:"from"`
	Op   *boardOp `json:"op"`
}

// outBoard relays one operation.
type outBoard struct {
	Type string   `json:"type"`
	From string   `json:"from"`
	Op   *boardOp `json:"op"`
}

// outBoardState is the whole board, sent to whoever enters the call while
// the board is not empty.
type outBoardState struct {
	Type       string       `json:"type"`
	Background *boardOp     `json:"background"`
	Items      []boardEntry `json:"items"`
}

// outPointer relays a live pointer.
type outPointer struct {
	Type   string   `json:"type"`
	From   string   `json:"from"`
	Name   string   `json:"name"`
	On     bool     `json:"on"`
	Of     string   `json:"of,omitempty"`
	Source string   `json:"source,omitempty"`
	X      *float64 `json:"x,omitempty"`
	Y      *float64 `json:"y,omitempty"`
}

// boardLimits are a connection's rate limits for the board and the
// pointer (run loop only).
type boardLimits struct {
	started        bool
	board, pointer bucket
}

func (l *boardLimits) allow(pointer bool) bool {
	if !l.started {
		l.started = true
		l.board, l.pointer = newBucket(boardRate, boardBurst), newBucket(pointerRate, pointerBurst)
	}
	if pointer {
		return l.pointer.allow()
	}
	return l.board.allow()
}

// boardOp applies a board operation from the page: the tools, the rate,
// then the board's own checks.
func (c *conn) boardOp(op *boardOp) {
	tools := c.adm.Tools
	if op.Kind == opBackground && !tools.LiveEdit {
		c.refuse(errLiveEditNotAllowed.Error())
		return
	}
	if !tools.Whiteboard && !tools.LiveEdit {
		c.refuse(errBoardNotAllowed.Error())
		return
	}
	if !c.limits.allow(false) {
		c.refuse(errBoardFlood.Error())
		return
	}
	if op.Kind == opBackground {
		if err := c.checkBackground(op); err != nil {
			c.refuse(err.Error())
			return
		}
	}
	if err := c.room.applyBoard(c.pid, tools.Whiteboard, op); err != nil {
		c.refuse(err.Error())
	}
}

// checkBackground checks that the background's file is an image or a PDF
// uploaded to this visit.
func (c *conn) checkBackground(op *boardOp) error {
	if c.svc.Uploads == nil {
		return errNoSuchFile
	}
	u, err := c.svc.Uploads.FindUpload(c.p.ctx, c.adm.TeleconsultationID, op.File)
	if err != nil {
		c.log.Info("board background refused", "err", err)
		return errNoSuchFile
	}
	pdf := u.ContentType == "application/pdf"
	if !pdf && !strings.HasPrefix(u.ContentType, "image/") {
		return errNoSuchFile
	}
	if pdf != (*op.Page > 0) {
		return fmt.Errorf("%w: page must be from 1 for a PDF file, 0 for an image", ErrBadField)
	}
	return nil
}

// applyBoard applies op from participant pid to the board and relays it.
// whiteboard says whether pid holds the whiteboard tool: without it (with
// live_edit) they may only annotate a background. Refused, nothing
// changes.
func (r *room) applyBoard(pid string, whiteboard bool, op *boardOp) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.board == nil {
		r.board = &board{byID: map[string]*boardItem{}}
	}
	b := r.board
	if !whiteboard && b.background == nil && op.Kind != opBackground {
		return errBoardNotAllowed
	}
	out := outBoard{Type: typeBoard, From: pid, Op: op}
	except := pid
	switch op.Kind {
	case opStroke, opShape, opText:
		if b.byID[op.ID] != nil {
			return errBoardIDTaken
		}
		n := itemBytes(pid, op)
		if len(b.items) >= maxBoardItems || b.bytes+n > maxBoardBytes {
			return errBoardFull
		}
		it := &boardItem{from: pid, op: op, bytes: n}
		b.items = append(b.items, it)
		b.byID[op.ID] = it
		b.bytes += n
	case opAppend:
		it := b.byID[op.ID]
		if it == nil || it.from != pid || it.op.Kind != opStroke {
			return errNoOwnStroke
		}
		if (len(it.op.Points)+len(op.Points))/2 > maxStrokePoints {
			return errStrokeTooLong
		}
		n := itemBytes(pid, &boardOp{Points: op.Points}) - itemBytes(pid, &boardOp{})
		if b.bytes+n > maxBoardBytes {
			return errBoardFull
		}
		it.op.Points = append(it.op.Points, op.Points...)
		it.bytes += n
		b.bytes += n
	case opErase:
		it := b.byID[op.ID]
		if it == nil {
			return errNoBoardItem
		}
		b.remove(it)
	case opUndo:
		var last *boardItem
		for i := len(b.items) - 1; i >= 0 && last == nil; i-- {
			if b.items[i].from == pid {
				last = b.items[i]
			}
		}
		if last == nil {
			return errNothingToUndo
		}
		b.remove(last)
		// Everyone, the sender included, learns which item went.
		out.Op, except = &boardOp{Kind: opErase, ID: last.op.ID}, ""
	case opClear:
		r.board = &board{byID: map[string]*boardItem{}}
	case opBackground:
		b.background = op
	}
	msg, _ := json.Marshal(out)
	for _, m := range r.members {
		if m.conn != nil && m.pid != except {
			m.conn.sendRaw(msg)
		}
	}
	return nil
}

// boardState returns the board-state message for a participant entering
// the call, or nil while the board is empty.
func (r *room) boardState() []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	b := r.board
	if b == nil || len(b.items) == 0 && b.background == nil {
		return nil
	}
	out := outBoardState{Type: typeBoardState, Background: b.background, Items: make([]boardEntry, 0, len(b.items))}
	for _, it := range b.items {
		out.Items = append(out.Items, boardEntry{From: it.from, Op: it.op})
	}
	msg, _ := json.Marshal(out)
	return msg
}

// pointer relays a live pointer to the others.
func (c *conn) pointer(p *pointerMsg) {
	if !c.adm.Tools.LivePointer {
		c.refuse(errPointerNotAllowed.Error())
		return
	}
	if !c.limits.allow(true) {
		c.refuse(errPointerFlood.Error())
		return
	}
	out := outPointer{Type: typePointer, From: c.pid, Name: c.adm.DisplayName, On: p.On}
	if p.On {
		out.Of, out.Source, out.X, out.Y = p.Of, p.Source, &p.X, &p.Y
	}
	msg, _ := json.Marshal(out)
	r := c.room
	r.mu.Lock()
	if m := r.members[p.Of]; p.On && (m == nil || m.conn == nil) {
		r.mu.Unlock()
		c.refuse(errPointerTarget.Error())
		return
	}
	for _, m := range r.members {
		if m.conn != nil && m.pid != c.pid {
			m.conn.sendRaw(msg)
		}
	}
	r.mu.Unlock()
}
