package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"
)

// boardRect is where the board's canvas is on the tab's screen.
type boardRect struct{ Left, Top, Width, Height float64 }

// drag draws on the tab's board with the mouse through the points, given in
// board units (1600 × 900).
func (tt *tab) drag(points ...[2]float64) {
	tt.tb.Helper()
	r := eval[boardRect](tt, `(() => { const r = document.querySelector('[data-testid="board"]').getBoundingClientRect(); return {left: r.left, top: r.top, width: r.width, height: r.height}; })()`)
	at := func(p [2]float64) (float64, float64) { return r.Left + p[0]/1600*r.Width, r.Top + p[1]/900*r.Height }
	held := func(p *input.DispatchMouseEventParams) {
		p.Button, p.Buttons, p.ClickCount = input.MouseButtonLeft, 1, 1
	}
	x, y := at(points[0])
	actions := []chromedp.Action[chromedp.Void]{chromedp.MouseEvent(chromedp.MouseMoved, x, y), chromedp.MouseEvent(chromedp.MousePressed, x, y, held)}
	for _, p := range points[1:] {
		x, y = at(p)
		actions = append(actions, chromedp.MouseEvent(chromedp.MouseMoved, x, y, held), chromedp.Sleep(30*time.Millisecond))
	}
	actions = append(actions, chromedp.MouseEvent(chromedp.MouseReleased, x, y, held))
	tt.do(actions...)
}

// boardHas reports whether the tab's board shows, within 4 board units of
// (x, y), a pixel that matches the JavaScript predicate on r, g, b.
func boardHas(x, y int, predicate string) string {
	return fmt.Sprintf(`(() => {
		const c = document.querySelector('[data-testid="board"]');
		if (!c || c.closest('[hidden]')) return false;
		const k = c.width / 1600;
		const d = Math.max(2, Math.round(4 * k));
		const px = c.getContext('2d').getImageData(Math.round(%d * k) - d, Math.round(%d * k) - d, 2 * d + 1, 2 * d + 1).data;
		for (let i = 0; i < px.length; i += 4) { const r = px[i], g = px[i + 1], b = px[i + 2]; if (%s) return true; }
		return false;
	})()`, x, y, predicate)
}

const (
	isRed   = `r > 170 && g < 90 && b < 90`
	isWhite = `r > 250 && g > 250 && b > 250`
)

// Ensure the whiteboard: the doctor draws and the patient sees the pixels
// (the board opens by itself); a reload (a late joiner) gets the board from
// the server; undo takes the doctor's stroke back for both; the board is
// shared as a PNG file; a snapshot opened on the board shows for the
// other; and the doctor's live pointer shows with their name over the
// patient's own picture.
func TestCallWhiteboard(t *testing.T) {
	s := startServer(t, nil)
	v := openVisit(t, s, 30*time.Minute)
	doc := openTab(t, "doctor")
	pat := openTab(t, "patient")
	doc.viewport(false)
	pat.viewport(false)
	joinCall(t, doc, v.Doctor, false, true)
	joinCall(t, pat, v.Patient, false, true)
	doc.waitVideoOf(patientName, 15*time.Second)
	pat.waitVideoOf(doctorName, 15*time.Second)

	doc.click("tool-whiteboard")
	doc.waitFor("the board", `!document.querySelector('[data-testid="board"]').closest('[hidden]')`, 5*time.Second)
	// The red pen is the default tool.
	doc.drag([2]float64{300, 300}, [2]float64{500, 300}, [2]float64{700, 300}, [2]float64{900, 300})
	doc.waitFor("the stroke on the doctor's board", boardHas(600, 300, isRed), 5*time.Second)
	pat.waitFor("the doctor's stroke on the patient's board", boardHas(600, 300, isRed), 10*time.Second)
	pat.waitFor("the end of the stroke", boardHas(890, 300, isRed), 10*time.Second)
	if eval[bool](pat, boardHas(600, 600, `!(`+isWhite+`)`)) {
		t.Error("the patient's board has marks where nobody drew")
	}
	pat.screenshot("call-whiteboard-desktop.png")

	// A reload of the patient's page (a late joiner): the board comes
	// from the server.
	pat.do(chromedp.Reload())
	pat.waitScreen("call", 15*time.Second)
	pat.waitFor("the stroke after the reload", boardHas(600, 300, isRed), 10*time.Second)

	// Undo: gone for both.
	doc.click("board-undo")
	pat.waitFor("the stroke undone at the patient", `!`+boardHas(600, 300, isRed), 10*time.Second)
	doc.waitFor("the stroke undone at the doctor", `!`+boardHas(600, 300, isRed), 10*time.Second)

	// A rectangle and a text, then the board as a PNG in Files.
	doc.do(chromedp.Evaluate[chromedp.Void](`document.querySelector('[data-tool="rect"]').click()`))
	doc.drag([2]float64{200, 200}, [2]float64{400, 300}, [2]float64{600, 400})
	pat.waitFor("the rectangle", boardHas(200, 300, isRed), 10*time.Second)
	doc.click("board-export")
	doc.click("files")
	pat.click("files")
	pat.waitFor("the board shared as a file", `[...document.querySelectorAll('[data-testid="file-item"]')].some((f) => /board-.*\.png/.test(f.textContent))`, 10*time.Second)
	doc.click("files")
	pat.click("files")

	// Live edit: a snapshot of the patient's video opened on the board
	// shows behind the drawing at the patient's.
	if !eval[bool](pat, boardHas(800, 60, isWhite)) {
		t.Fatal("the top of the patient's board is not white before the snapshot")
	}
	doc.click("board-open")
	doc.click("board-open-snapshot")
	pat.waitFor("the snapshot on the patient's board", `!`+boardHas(800, 60, isWhite), 15*time.Second)
	pat.waitFor("the rectangle over the snapshot", boardHas(200, 300, isRed), 5*time.Second)
	pat.screenshot("call-whiteboard-live-edit.png")

	// Live pointer: the doctor points at the patient's video; the
	// patient sees it over their own picture, with the doctor's name.
	doc.click("tool-whiteboard") // close the board: the videos large again
	doc.click("tool-pointer")
	box := eval[boardRect](doc, `(() => { const r = document.querySelector('.tile.remote video').getBoundingClientRect(); return {left: r.left, top: r.top, width: r.width, height: r.height}; })()`)
	for i := range 5 {
		x, y := box.Left+box.Width*(0.4+0.04*float64(i)), box.Top+box.Height/2
		doc.do(chromedp.MouseEvent(chromedp.MouseMoved, x, y), chromedp.Sleep(150*time.Millisecond))
	}
	pat.waitFor("the doctor's pointer", `(() => { const p = document.querySelector('[data-testid="self-tile"] [data-testid="live-pointer"]'); return !!p && p.textContent.includes(`+jsString(doctorName)+`); })()`, 10*time.Second)
	pat.screenshot("call-live-pointer.png")
	doc.click("tool-pointer")
	pat.waitFor("the pointer to go", `!document.querySelector('[data-testid="live-pointer"]')`, 10*time.Second)

	// On a phone the board is above the videos, whole.
	pat.viewport(true)
	pat.waitFor("the board fitted to the phone", `(() => { const r = document.querySelector('[data-testid="board"]').getBoundingClientRect(); return r.width > 200 && r.right <= window.innerWidth && r.bottom <= window.innerHeight; })()`, 5*time.Second)
	pat.waitFor("the rectangle on the phone", boardHas(200, 300, isRed), 5*time.Second)
	pat.screenshot("call-whiteboard-phone.png")
}

// boardForgeries are board and pointer messages a page without the tools
// might send on its own connection.
var boardForgeries = []string{
	`{type: 'board', op: {kind: 'stroke', id: 'forged', tool: 'pen', color: '#dc2626', width: 40, points: [100, 450, 1500, 450]}}`,
	`{type: 'board', op: {kind: 'clear'}}`,
	`{type: 'pointer', on: false}`,
}

// forgeBoard sends the forgeries on the tab's open sockets and waits for
// the server's refusals.
func forgeBoard(tt *tab) {
	tt.tb.Helper()
	tt.do(chromedp.Evaluate[chromedp.Void](`window.__sockets.filter((s) => s.readyState === 1).forEach((s) => { for (const m of [` +
		strings.Join(boardForgeries, ", ") + `]) s.send(JSON.stringify(m)); })`))
	tt.waitFor("the server's refusals", `window.__received.filter((m) => { const j = JSON.parse(m); return j.type === 'error' && /whiteboard|pointer/.test(j.message); }).length === 3`, 5*time.Second)
}

// testPDF is a PDF of 1600 × 900 point pages, one a content stream.
func testPDF(pages ...string) []byte {
	var b bytes.Buffer
	var offsets []int
	obj := func(body string) {
		offsets = append(offsets, b.Len())
		fmt.Fprintf(&b, "%d 0 obj\n%s\nendobj\n", len(offsets), body)
	}
	b.WriteString("%PDF-1.4\n")
	kids := make([]string, len(pages))
	for i := range pages {
		kids[i] = fmt.Sprintf("%d 0 R", 3+2*i)
	}
	obj("<< /Type /Catalog /Pages 2 0 R >>")
	obj(fmt.Sprintf("<< /Type /Pages /Kids [%s] /Count %d >>", strings.Join(kids, " "), len(pages)))
	for i, content := range pages {
		obj(fmt.Sprintf("<< /Type /Page /Parent 2 0 R /MediaBox [0 0 1600 900] /Contents %d 0 R /Resources << >> >>", 4+2*i))
		obj(fmt.Sprintf("<< /Length %d >>\nstream\n%s\nendstream", len(content), content))
	}
	xref := b.Len()
	fmt.Fprintf(&b, "xref\n0 %d\n0000000000 65535 f \n", len(offsets)+1)
	for _, o := range offsets {
		fmt.Fprintf(&b, "%010d 00000 n \n", o)
	}
	fmt.Fprintf(&b, "trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n", len(offsets)+1, xref)
	return b.Bytes()
}

const (
	isBlue  = `b > 200 && r < 60 && g < 60`
	isGreen = `g > 120 && r < 60 && b < 60`
)

// Ensure live edit of a PDF: the doctor opens a PDF shared in the visit on
// the board, its pages rendered by PDF.js for both, and turns the page; a
// PDF that PDF.js cannot open gets a message and leaves the call as it
// was.
func TestCallWhiteboardPDF(t *testing.T) {
	s := startServer(t, nil)
	v := openVisit(t, s, 30*time.Minute)
	doc := openTab(t, "doctor")
	pat := openTab(t, "patient")
	doc.viewport(false)
	pat.viewport(false)
	joinCall(t, doc, v.Doctor, false, true)
	joinCall(t, pat, v.Patient, false, true)
	pat.waitVideoOf(doctorName, 15*time.Second)

	dir := t.TempDir()
	good := filepath.Join(dir, "esami.pdf")
	bad := filepath.Join(dir, "rotto.pdf")
	// Page 1: a blue rectangle over the middle; page 2: a green one.
	if err := os.WriteFile(good, testPDF("0 0 1 rg 400 200 800 500 re f", "0 0.6 0 rg 400 200 800 500 re f"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bad, []byte("%PDF-1.4\nthis is not a PDF after all\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	doc.click("files")
	for i, f := range []string{good, bad} {
		doc.do(chromedp.SetUploadFiles(chromedp.CSS(`[data-testid="file-input"]`), []string{f}))
		doc.waitFor("the file shared", fmt.Sprintf(`document.querySelectorAll('[data-testid="file-item"]').length === %d`, i+1), 10*time.Second)
	}
	doc.click("files")

	openFile := func(name string) {
		t.Helper()
		doc.click("board-open")
		doc.waitFor("the file in the menu", `[...document.querySelectorAll('[data-testid="board-open-file"]')].some((b) => b.textContent === `+jsString(name)+`)`, 5*time.Second)
		doc.do(chromedp.Evaluate[chromedp.Void](`[...document.querySelectorAll('[data-testid="board-open-file"]')].find((b) => b.textContent === ` + jsString(name) + `).click()`))
	}
	doc.click("tool-whiteboard")
	openFile("esami.pdf")
	pat.waitFor("page 1 on the patient's board", boardHas(800, 450, isBlue), 20*time.Second)
	doc.waitFor("page 1 on the doctor's board", boardHas(800, 450, isBlue), 10*time.Second)
	if !eval[bool](pat, boardHas(100, 100, isWhite)) {
		t.Error("the page's margin is not white")
	}
	doc.drag([2]float64{500, 450}, [2]float64{800, 450}, [2]float64{1100, 450})
	pat.waitFor("the annotation over the page", boardHas(800, 450, isRed), 10*time.Second)
	pat.screenshot("call-whiteboard-pdf.png")
	doc.click("board-next-page")
	pat.waitFor("page 2 on the patient's board", boardHas(700, 300, isGreen), 20*time.Second)

	openFile("rotto.pdf")
	for _, tt := range []*tab{doc, pat} {
		tt.allowConsole("Invalid PDF", "PDF")
		tt.waitFor("the message", `(() => { const n = document.querySelector('[data-testid="board-note"]'); return !n.hidden && /cannot be opened|non si può aprire/.test(n.textContent); })()`, 20*time.Second)
	}
	if eval[bool](pat, boardHas(700, 300, isGreen)) {
		t.Error("the old page is still shown")
	}
	pat.waitVideoOf(doctorName, 5*time.Second)
	doc.waitVideoOf(patientName, 5*time.Second)
}
