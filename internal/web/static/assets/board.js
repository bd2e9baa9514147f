// The shared whiteboard (tools whiteboard and live_edit) and the live
// pointer (tool live_pointer) of the call page; the messages are in
// docs/signalling.md ("Whiteboard", "Live pointer").
//
// The drawing part is ours, not a library's: the board is a list of
// strokes, shapes and texts replayed onto one 2D canvas, and every item
// must round-trip through the server's strict messages (integer board
// units, a few kinds). The drawing libraries of the npm registry
// (Fabric.js, Konva, Excalidraw, tldraw) bring their own scene models,
// serialisation and, for the last two, React and a build step; mapping
// them onto these messages would take more code than drawing the few
// kinds ourselves (about the size of this file).

import { h, icon, toast } from './dom.js';
import { t } from './i18n.js';
import { listUploads, root } from './api.js';

// Board units (the server's BoardWidth × BoardHeight, internal/sfu/board.go).
export const W = 1600;
export const H = 900;
const SEND_EVERY = 100; // ms between the parts of a stroke
// The page keeps under the server's limit of board messages (12 a second,
// bursts of 40): past it, messages wait their turn, and the parts of a
// stroke that wait together go as one.
const RATE = 10;
const BURST = 30;
const MAX_PART = 1000; // points in one message
const MAX_STROKE = 5000; // points in one stroke
const COLORS = ['#111827', '#dc2626', '#2563eb', '#16a34a', '#ea580c', '#9333ea'];
const TOOLS = ['pen', 'highlighter', 'line', 'arrow', 'rect', 'ellipse', 'text', 'eraser'];
const SHAPES = ['line', 'arrow', 'rect', 'ellipse'];
const WIDTH = { pen: 4, highlighter: 24, line: 4, arrow: 4, rect: 4, ellipse: 4 };
const TEXT_SIZE = 36;

const newID = () => {
  const b = new Uint8Array(9);
  crypto.getRandomValues(b);
  return btoa(String.fromCharCode(...b)).replace(/\+/g, '-').replace(/\//g, '_');
};
const clamp = (v, lo, hi) => Math.max(lo, Math.min(hi, v));

// drawItem draws one board item on a context scaled to board units.
function drawItem(g, op) {
  g.save();
  g.strokeStyle = g.fillStyle = op.color || '#111827';
  g.lineWidth = op.width || 1;
  g.lineCap = g.lineJoin = 'round';
  const p = op.points || [];
  if (op.kind === 'stroke') {
    if (op.tool === 'highlighter') {
      g.globalAlpha = 0.35;
      g.lineCap = 'butt';
    }
    g.beginPath();
    g.moveTo(p[0], p[1]);
    if (p.length === 2) g.lineTo(p[0] + 0.01, p[1]);
    for (let i = 2; i < p.length; i += 2) g.lineTo(p[i], p[i + 1]);
    g.stroke();
  } else if (op.kind === 'shape') {
    const [x1, y1, x2, y2] = p;
    g.beginPath();
    if (op.tool === 'rect') {
      g.rect(Math.min(x1, x2), Math.min(y1, y2), Math.abs(x2 - x1), Math.abs(y2 - y1));
    } else if (op.tool === 'ellipse') {
      g.ellipse((x1 + x2) / 2, (y1 + y2) / 2, Math.abs(x2 - x1) / 2, Math.abs(y2 - y1) / 2, 0, 0, 2 * Math.PI);
    } else {
      g.moveTo(x1, y1);
      g.lineTo(x2, y2);
      if (op.tool === 'arrow') {
        const a = Math.atan2(y2 - y1, x2 - x1);
        const len = 14 + 3 * g.lineWidth;
        for (const d of [-0.45, 0.45]) {
          g.moveTo(x2, y2);
          g.lineTo(x2 - len * Math.cos(a + d), y2 - len * Math.sin(a + d));
        }
      }
    }
    g.stroke();
  } else if (op.kind === 'text') {
    g.font = `${op.size}px system-ui, sans-serif`;
    g.textBaseline = 'top';
    (op.text || '').split('\n').forEach((line, i) => g.fillText(line, p[0], p[1] + i * op.size * 1.2));
  }
  g.restore();
}

// distance from (x, y) to the segment a–b.
function segDist(x, y, ax, ay, bx, by) {
  const dx = bx - ax;
  const dy = by - ay;
  const len = dx * dx + dy * dy;
  const k = len ? clamp(((x - ax) * dx + (y - ay) * dy) / len, 0, 1) : 0;
  return Math.hypot(x - ax - k * dx, y - ay - k * dy);
}

// hits reports whether (x, y) is on item op (within tol board units).
function hits(g, op, x, y, tol) {
  const p = op.points || [];
  const near = tol + (op.width || 0) / 2;
  if (op.kind === 'stroke') {
    if (p.length === 2) return Math.hypot(x - p[0], y - p[1]) <= near;
    for (let i = 2; i < p.length; i += 2) if (segDist(x, y, p[i - 2], p[i - 1], p[i], p[i + 1]) <= near) return true;
    return false;
  }
  if (op.kind === 'shape') {
    const [x1, y1, x2, y2] = p;
    if (op.tool === 'line' || op.tool === 'arrow') return segDist(x, y, x1, y1, x2, y2) <= near;
    const l = Math.min(x1, x2) - near;
    const r = Math.max(x1, x2) + near;
    const tp = Math.min(y1, y2) - near;
    const b = Math.max(y1, y2) + near;
    return x >= l && x <= r && y >= tp && y <= b;
  }
  if (op.kind === 'text') {
    g.font = `${op.size}px system-ui, sans-serif`;
    const lines = (op.text || '').split('\n');
    const w = Math.max(...lines.map((l) => g.measureText(l).width));
    return x >= p[0] - tol && x <= p[0] + w + tol && y >= p[1] - tol && y <= p[1] + lines.length * op.size * 1.2 + tol;
  }
  return false;
}

// Board is the whiteboard of one call: its items as the server keeps
// them, the canvas they are drawn on, and (for the tools' holders) the
// drawing tools.
export class Board {
  // opts: call, session, tools, me, nameOf(pid), share(blob, name) →
  // Promise<file|null> (an upload; null without file_upload),
  // capture() → Promise<Blob|null> (a frame of the featured video).
  constructor(opts) {
    this.o = opts;
    this.call = opts.call;
    const tools = opts.tools;
    this.mayDraw = !!tools.whiteboard;
    this.mayEdit = !!tools.live_edit;
    this.items = new Map(); // id → {from, op}, in drawing order
    this.background = null; // {file, page}
    this.bgImage = null; // what is drawn for it (an ImageBitmap or a canvas)
    this.tool = 'pen';
    this.color = COLORS[1];
    this.live = null; // the stroke or shape being drawn here
    this.queue = []; // board operations waiting to be sent (send)
    this.tokens = BURST;
    this.tokensAt = Date.now();
    this.canvas = h('canvas', {
      class: 'board-canvas', 'data-testid': 'board', role: 'img', 'aria-label': t('board.label'),
      width: W, height: H,
    });
    this.g = this.canvas.getContext('2d');
    this.textBox = null;
    this.bgNote = h('p', { class: 'board-note', 'data-testid': 'board-note', hidden: true, role: 'status' });
    this.surface = h('div', { class: 'board-surface' }, this.canvas, this.bgNote);
    this.toolbar = this.makeToolbar();
    this.el = h('section', { class: 'board', hidden: true, 'aria-label': t('whiteboard') }, this.toolbar, this.surface);
    this.listen();
    this.load(this.call.boardState);
    this.resize = new ResizeObserver(() => this.fit());
    this.resize.observe(this.surface);
  }

  // send sends a board operation now, or queued when the page has sent
  // its share for the moment.
  send(op) {
    const q = this.queue;
    const last = q[q.length - 1];
    if (op.kind === 'append' && last && last.kind === 'append' && last.id === op.id && last.points.length + op.points.length <= 2 * MAX_PART) {
      last.points = last.points.concat(op.points);
    } else {
      q.push(op);
    }
    this.drain();
  }

  drain() {
    const now = Date.now();
    this.tokens = Math.min(BURST, this.tokens + ((now - this.tokensAt) / 1000) * RATE);
    this.tokensAt = now;
    while (this.queue.length && this.tokens >= 1) {
      this.tokens--;
      this.call.board(this.queue.shift());
    }
    clearTimeout(this.drainTimer);
    if (this.queue.length) this.drainTimer = setTimeout(() => this.drain(), 1000 / RATE);
  }

  // canDraw: the whiteboard, or live_edit over an opened file.
  canDraw() {
    return this.mayDraw || (this.mayEdit && !!this.background);
  }

  makeToolbar() {
    const bar = h('div', { class: 'board-tools', role: 'toolbar', 'aria-label': t('board.tools') });
    this.toolButtons = {};
    this.drawTools = h('div', { class: 'board-group' });
    for (const name of TOOLS) {
      const b = h('button', {
        type: 'button', class: 'board-btn', 'data-tool': name, 'aria-pressed': String(name === this.tool),
        title: t('board.' + name), onclick: () => this.setTool(name),
      }, t('board.' + name));
      this.toolButtons[name] = b;
      this.drawTools.append(b);
    }
    this.colorButtons = COLORS.map((c, i) => h('button', {
      type: 'button', class: 'board-color', 'data-color': c,
      'aria-label': t('board.color' + i), title: t('board.color' + i), 'aria-pressed': String(c === this.color),
      onclick: () => {
        this.color = c;
        for (const x of this.colorButtons) x.setAttribute('aria-pressed', String(x.dataset.color === c));
      },
    }));
    // Set through the CSSOM: the page's policy has no inline styles.
    for (const b of this.colorButtons) b.style.setProperty('--swatch', b.dataset.color);
    this.colors = h('div', { class: 'board-group' }, this.colorButtons);
    this.edits = h('div', { class: 'board-group' },
      h('button', { type: 'button', class: 'board-btn', 'data-testid': 'board-undo', onclick: () => this.send({ kind: 'undo' }) }, t('board.undo')),
      h('button', { type: 'button', class: 'board-btn', 'data-testid': 'board-clear', onclick: () => this.clear() }, t('board.clear')));
    this.openGroup = h('div', { class: 'board-group' });
    if (this.mayEdit) {
      this.openMenu = h('div', { class: 'board-menu', hidden: true, role: 'menu' });
      this.pageBox = h('span', { class: 'board-pages', hidden: true },
        h('button', { type: 'button', class: 'board-btn', 'data-testid': 'board-prev-page', 'aria-label': t('board.prevPage'), onclick: () => this.turn(-1) }, '‹'),
        h('span', { class: 'board-page' }),
        h('button', { type: 'button', class: 'board-btn', 'data-testid': 'board-next-page', 'aria-label': t('board.nextPage'), onclick: () => this.turn(1) }, '›'));
      this.openGroup.append(
        h('button', { type: 'button', class: 'board-btn', 'data-testid': 'board-open', 'aria-haspopup': 'menu', onclick: () => this.toggleOpenMenu() }, t('board.open')),
        this.openMenu, this.pageBox);
    }
    const exportBtn = h('button', { type: 'button', class: 'board-btn', 'data-testid': 'board-export', onclick: () => this.exportPNG() }, icon('download'), t('board.export'));
    bar.append(this.drawTools, this.colors, this.edits, this.openGroup, exportBtn);
    if (!this.mayDraw && !this.mayEdit) bar.append(h('p', { class: 'board-readonly', text: t('board.readOnly') }));
    this.updateTools();
    return bar;
  }

  // updateTools shows the drawing tools while this participant may draw.
  updateTools() {
    const may = this.canDraw();
    this.drawTools.hidden = this.colors.hidden = this.edits.hidden = !may;
    this.canvas.classList.toggle('drawable', may);
    this.canvas.dataset.tool = may ? this.tool : '';
    if (this.pageBox) {
      const pdf = this.background && this.background.page > 0;
      this.pageBox.hidden = !pdf;
      if (pdf) this.pageBox.querySelector('.board-page').textContent = t('board.page', { n: String(this.background.page) });
    }
  }

  setTool(name) {
    this.tool = name;
    for (const [n, b] of Object.entries(this.toolButtons)) b.setAttribute('aria-pressed', String(n === name));
    this.canvas.dataset.tool = name;
  }

  listen() {
    const c = this.call;
    this.onBoard = (e) => this.apply(e.detail.from, e.detail.op);
    this.onState = (e) => this.load(e.detail);
    this.onReconnected = () => this.load(null);
    c.addEventListener('board', this.onBoard);
    c.addEventListener('boardstate', this.onState);
    c.addEventListener('reconnected', this.onReconnected);
    const cv = this.canvas;
    cv.addEventListener('pointerdown', (e) => this.down(e));
    cv.addEventListener('pointermove', (e) => this.move(e));
    cv.addEventListener('pointerup', (e) => this.up(e));
    cv.addEventListener('pointercancel', (e) => this.up(e));
  }

  destroy() {
    const c = this.call;
    c.removeEventListener('board', this.onBoard);
    c.removeEventListener('boardstate', this.onState);
    c.removeEventListener('reconnected', this.onReconnected);
    this.resize.disconnect();
    clearTimeout(this.flushTimer);
    clearTimeout(this.drainTimer);
  }

  // load replaces the board by a board-state (null: empty).
  load(state) {
    this.items.clear();
    this.setBackground(null);
    if (state) {
      for (const it of state.items || []) this.items.set(it.op.id, { from: it.from, op: it.op });
      if (state.background) this.setBackground(state.background);
    }
    this.draw();
  }

  // apply applies an operation relayed by the server.
  apply(from, op) {
    switch (op.kind) {
      case 'stroke':
      case 'shape':
      case 'text':
        this.items.set(op.id, { from, op });
        break;
      case 'append': {
        const it = this.items.get(op.id);
        if (it) it.op.points = it.op.points.concat(op.points);
        break;
      }
      case 'erase':
        this.items.delete(op.id);
        break;
      case 'clear':
        this.items.clear();
        this.setBackground(null);
        break;
      case 'background':
        this.setBackground(op);
        break;
      default:
    }
    if (from !== this.o.me && op.kind !== 'erase') this.el.dispatchEvent(new CustomEvent('remotedraw', { detail: { from } }));
    this.draw();
  }

  // fit sizes the canvas's pixels to its box (sharp on any screen).
  fit() {
    const box = this.surface.getBoundingClientRect();
    if (!box.width) return;
    const w = Math.min(box.width, (box.height * W) / H) || box.width;
    const ratio = window.devicePixelRatio || 1;
    this.canvas.style.width = `${w}px`;
    this.canvas.style.height = `${(w * H) / W}px`;
    const px = Math.round(w * ratio);
    if (this.canvas.width !== px) {
      this.canvas.width = px;
      this.canvas.height = Math.round((px * H) / W);
      this.draw();
    }
  }

  // draw draws the whole board: white, the background, the items, and
  // what is being drawn here.
  draw() {
    const g = this.g;
    const k = this.canvas.width / W;
    g.setTransform(1, 0, 0, 1, 0, 0);
    g.fillStyle = '#ffffff';
    g.fillRect(0, 0, this.canvas.width, this.canvas.height);
    g.setTransform(k, 0, 0, k, 0, 0);
    if (this.bgImage) {
      const img = this.bgImage;
      const s = Math.min(W / img.width, H / img.height);
      g.drawImage(img, (W - img.width * s) / 2, (H - img.height * s) / 2, img.width * s, img.height * s);
    }
    for (const { op } of this.items.values()) drawItem(g, op);
    if (this.live && this.live.op.kind === 'shape') drawItem(g, this.live.op);
  }

  // at converts a pointer event to board units.
  at(e) {
    const r = this.canvas.getBoundingClientRect();
    return [
      Math.round(clamp(((e.clientX - r.left) / r.width) * W, 0, W)),
      Math.round(clamp(((e.clientY - r.top) / r.height) * H, 0, H)),
    ];
  }

  down(e) {
    if (!this.canDraw() || e.button > 0) return;
    e.preventDefault();
    const [x, y] = this.at(e);
    if (this.tool === 'text') {
      this.startText(x, y);
      return;
    }
    this.canvas.setPointerCapture(e.pointerId);
    if (this.tool === 'eraser') {
      this.live = { eraser: true, op: {} };
      this.erase(x, y);
      return;
    }
    const id = newID();
    if (SHAPES.includes(this.tool)) {
      this.live = { op: { kind: 'shape', id, tool: this.tool, color: this.color, width: WIDTH[this.tool], points: [x, y, x, y] } };
    } else {
      this.startStroke({ kind: 'stroke', id, tool: this.tool, color: this.color, width: WIDTH[this.tool], points: [x, y] });
    }
    this.draw();
  }

  move(e) {
    if (!this.live) return;
    const events = e.getCoalescedEvents ? e.getCoalescedEvents() : [e];
    for (const ev of events.length ? events : [e]) {
      const [x, y] = this.at(ev);
      const op = this.live.op;
      if (this.live.eraser) {
        this.erase(x, y);
      } else if (op.kind === 'shape') {
        op.points[2] = x;
        op.points[3] = y;
      } else {
        const p = op.points;
        if (Math.hypot(x - p[p.length - 2], y - p[p.length - 1]) < 2) continue;
        if (this.live.total >= MAX_STROKE) {
          // A stroke has at most MAX_STROKE points: go on with a new one.
          this.flush();
          this.startStroke({ ...op, id: newID(), points: p.slice(-2) });
        }
        this.live.op.points.push(x, y);
        this.live.total++;
      }
    }
    if (!this.live.eraser) this.draw();
    if (this.live.op.kind === 'stroke' && !this.flushTimer) this.flushTimer = setTimeout(() => this.flush(), SEND_EVERY);
  }

  up() {
    const live = this.live;
    if (!live) return;
    if (!live.eraser && live.op.kind === 'stroke') this.flush();
    this.live = null;
    if (live.eraser) return;
    if (live.op.kind === 'shape') {
      this.send(live.op);
      this.items.set(live.op.id, { from: this.o.me, op: live.op });
    }
    this.draw();
  }

  // startStroke starts a stroke from (x, y): it is on the board (drawn
  // with the others) and its beginning is sent at once, the rest by
  // flush.
  startStroke(op) {
    this.live = { op, sent: 2, total: op.points.length / 2 };
    this.items.set(op.id, { from: this.o.me, op });
    this.send({ ...op, points: op.points.slice(0, 2) });
  }

  // flush sends the points of the stroke being drawn not sent yet.
  flush() {
    clearTimeout(this.flushTimer);
    this.flushTimer = 0;
    const live = this.live;
    if (!live || live.eraser || live.op.kind !== 'stroke') return;
    const p = live.op.points;
    while (live.sent < p.length) {
      const part = p.slice(live.sent, live.sent + 2 * MAX_PART);
      this.send({ kind: 'append', id: live.op.id, points: part });
      live.sent += part.length;
    }
  }

  // erase erases the topmost item under (x, y), once.
  erase(x, y) {
    const list = [...this.items.values()].reverse();
    const hit = list.find((it) => hits(this.g, it.op, x, y, 10));
    if (!hit) return;
    this.items.delete(hit.op.id);
    this.send({ kind: 'erase', id: hit.op.id });
    this.draw();
  }

  // startText opens a text box at (x, y); Enter or leaving it adds the text.
  startText(x, y) {
    if (this.textBox) this.textBox.blur();
    const r = this.canvas.getBoundingClientRect();
    const s = this.surface.getBoundingClientRect();
    const k = r.width / W;
    const input = h('input', {
      type: 'text', class: 'board-text', 'data-testid': 'board-text', maxlength: '500', 'aria-label': t('board.textLabel'),
    });
    Object.assign(input.style, { left: `${r.left - s.left + x * k}px`, top: `${r.top - s.top + y * k}px`, fontSize: `${TEXT_SIZE * k}px`, color: this.color });
    let done = false;
    const commit = () => {
      if (done) return;
      done = true;
      const text = input.value.trim();
      input.remove();
      this.textBox = null;
      if (!text) return;
      const op = { kind: 'text', id: newID(), color: this.color, size: TEXT_SIZE, points: [x, y], text: text.slice(0, 500) };
      this.items.set(op.id, { from: this.o.me, op });
      this.send(op);
      this.draw();
    };
    input.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && !e.isComposing) commit();
      if (e.key === 'Escape') {
        input.value = '';
        commit();
      }
    });
    input.addEventListener('blur', commit);
    this.surface.append(input);
    this.textBox = input;
    input.focus();
  }

  clear() {
    this.items.clear();
    this.setBackground(null);
    this.send({ kind: 'clear' });
    this.draw();
  }

  // setBackground shows an upload of the visit behind the items: an image,
  // or a page of a PDF rendered by PDF.js.
  async setBackground(bg) {
    this.background = bg ? { file: bg.file, page: bg.page || 0 } : null;
    this.bgImage = null;
    this.bgNote.hidden = true;
    this.updateTools();
    this.draw();
    if (!bg) return;
    const want = this.background;
    this.bgNote.textContent = t('board.opening');
    this.bgNote.hidden = false;
    try {
      const resp = await this.o.session.fetch('uploads/' + encodeURIComponent(bg.file));
      if (!resp.ok) throw new Error('HTTP ' + resp.status);
      const blob = await resp.blob();
      const img = blob.type === 'application/pdf' ? await renderPDFPage(blob, bg.page) : await createImageBitmap(blob);
      if (this.background !== want) return;
      this.bgImage = img;
      this.bgNote.hidden = true;
      this.draw();
    } catch (err) {
      if (this.background !== want) return;
      this.bgNote.textContent = t(err && err.name === 'PDFPageError' ? 'board.noPage' : 'board.cannotOpen');
    }
  }

  toggleOpenMenu() {
    const menu = this.openMenu;
    if (!menu.hidden) {
      menu.hidden = true;
      return;
    }
    const item = (label, testid, action) => h('button', {
      type: 'button', role: 'menuitem', class: 'board-menu-item', 'data-testid': testid,
      onclick: () => {
        menu.hidden = true;
        action();
      },
    }, label);
    menu.replaceChildren(item(t('board.openSnapshot'), 'board-open-snapshot', () => this.openSnapshot()));
    menu.hidden = false;
    listUploads(this.o.session).then((files) => {
      for (const f of files.filter((x) => /^image\/|^application\/pdf$/.test(x.contentType || ''))) {
        menu.append(item(f.name, 'board-open-file', () => this.open(f.id, f.contentType === 'application/pdf' ? 1 : 0)));
      }
    }).catch(() => {});
  }

  // open opens an upload on the board for everyone.
  open(file, page) {
    const op = { kind: 'background', file, page };
    this.send(op);
    this.setBackground(op);
  }

  turn(delta) {
    if (!this.background || !this.background.page) return;
    this.open(this.background.file, Math.max(1, this.background.page + delta));
  }

  // openSnapshot shares a frame of the featured video as a file and
  // opens it on the board.
  async openSnapshot() {
    const blob = await this.o.capture();
    if (!blob) {
      toast(t('snapshot.none'));
      return;
    }
    const f = await this.o.share(blob, `snapshot-${Date.now()}.png`);
    if (f) this.open(f.id, 0);
  }

  // exportPNG shares the board as a PNG file where uploads are allowed,
  // else saves it here.
  async exportPNG() {
    const out = h('canvas', { width: W, height: H });
    const g = out.getContext('2d');
    g.fillStyle = '#ffffff';
    g.fillRect(0, 0, W, H);
    g.drawImage(this.canvas, 0, 0, W, H);
    const blob = await new Promise((resolve) => out.toBlob(resolve, 'image/png'));
    const d = new Date();
    const two = (n) => String(n).padStart(2, '0');
    const name = `board-${d.getFullYear()}-${two(d.getMonth() + 1)}-${two(d.getDate())}-${two(d.getHours())}${two(d.getMinutes())}${two(d.getSeconds())}.png`;
    if (this.o.tools.file_upload) {
      if (await this.o.share(blob, name)) toast(t('board.shared'));
    } else {
      this.o.save(blob, name);
      toast(t('board.saved'));
    }
  }
}

// renderPDFPage renders page n of a PDF with PDF.js (vendored by
// scripts/vendor-pdfjs.sh), on this page's thread: the policy of the page
// (Trusted Types) does not let it start a worker from a script URL.
let pdfjs = null;
async function renderPDFPage(blob, n) {
  if (!pdfjs) {
    const base = new URL('assets/', root).href;
    pdfjs = import(base + 'pdfjs.js').then(async (lib) => {
      globalThis.pdfjsWorker = await import(base + 'pdfjs-worker.js');
      return lib;
    });
  }
  const lib = await pdfjs;
  const task = lib.getDocument({ data: new Uint8Array(await blob.arrayBuffer()), isEvalSupported: false, enableXfa: false });
  try {
    const doc = await task.promise;
    if (n < 1 || n > doc.numPages) {
      const err = new Error('no such page');
      err.name = 'PDFPageError';
      throw err;
    }
    const page = await doc.getPage(n);
    const base = page.getViewport({ scale: 1 });
    const viewport = page.getViewport({ scale: Math.min(2 * W / base.width, 2 * H / base.height) });
    const canvas = h('canvas', { width: Math.ceil(viewport.width), height: Math.ceil(viewport.height) });
    await page.render({ canvas, canvasContext: canvas.getContext('2d'), viewport }).promise;
    return canvas;
  } finally {
    task.destroy();
  }
}

// Pointer is the live pointer: the pointers of the others over the
// videos they point at, and, for a holder of live_pointer, a control that
// sends this participant's pointer over the remote videos.
export class Pointer {
  // opts: call, tools, me, root (the element holding the tiles),
  // selfTile.
  constructor(opts) {
    this.o = opts;
    this.call = opts.call;
    this.on = false;
    this.shown = new Map(); // participantId → {el, timer}
    this.lastSent = 0;
    this.pending = null;
    this.onPointer = (e) => this.show(e.detail);
    this.onPeers = (e) => {
      if (e.detail.left) this.hide(e.detail.left.participantId);
    };
    this.call.addEventListener('pointer', this.onPointer);
    this.call.addEventListener('peers', this.onPeers);
    this.control = null;
    if (opts.tools.live_pointer) {
      this.control = h('button', {
        type: 'button', class: 'ctl', 'data-testid': 'tool-pointer', 'aria-pressed': 'false',
        'aria-label': t('pointer'), title: t('pointer'), onclick: () => this.toggle(),
      }, icon('pointer'), h('span', { class: 'ctl-label', text: t('pointer') }));
      this.onMove = (e) => this.move(e);
      this.onLeaveVideo = (e) => {
        if (e.target.matches && e.target.matches('video')) this.send({ on: false });
      };
      opts.root.addEventListener('pointermove', this.onMove);
      opts.root.addEventListener('pointerout', this.onLeaveVideo);
    }
  }

  destroy() {
    this.call.removeEventListener('pointer', this.onPointer);
    this.call.removeEventListener('peers', this.onPeers);
    if (this.onMove) {
      this.o.root.removeEventListener('pointermove', this.onMove);
      this.o.root.removeEventListener('pointerout', this.onLeaveVideo);
    }
    clearTimeout(this.timer);
  }

  toggle() {
    this.on = !this.on;
    this.control.setAttribute('aria-pressed', String(this.on));
    this.o.root.classList.toggle('pointing', this.on);
    if (!this.on) this.send({ on: false });
  }

  // move sends where the pointer is over a remote video, at most every
  // 120 ms (the server allows 10 a second).
  move(e) {
    if (!this.on) return;
    const video = e.target.closest && e.target.closest('.tile.remote video');
    if (!video) return;
    const tile = video.closest('.tile');
    const r = contentRect(video);
    const x = (e.clientX - r.left) / r.width;
    const y = (e.clientY - r.top) / r.height;
    if (x < 0 || x > 1 || y < 0 || y > 1 || !tile.dataset.participant) return;
    this.send({ on: true, of: tile.dataset.participant, source: tile.dataset.source || 'camera', x: Math.round(x * 1e4) / 1e4, y: Math.round(y * 1e4) / 1e4 });
  }

  send(p) {
    if (!p.on && !this.sentOn) return;
    this.pending = p;
    const wait = this.lastSent + 120 - Date.now();
    if (wait > 0) {
      if (!this.timer) this.timer = setTimeout(() => this.flush(), wait);
      return;
    }
    this.flush();
  }

  flush() {
    this.timer = 0;
    if (!this.pending) return;
    this.call.pointer(this.pending);
    this.sentOn = this.pending.on;
    this.pending = null;
    this.lastSent = Date.now();
  }

  // show places the pointer of m.from over the video it points at.
  show(m) {
    if (!m.on) {
      this.hide(m.from);
      return;
    }
    const self = m.of === this.o.me;
    const tile = self
      ? (m.source === 'camera' ? this.o.selfTile : null)
      : this.o.root.querySelector(`.tile.remote[data-participant="${CSS.escape(m.of)}"][data-source="${CSS.escape(m.source)}"]`);
    const video = tile && tile.querySelector('video');
    if (!video) {
      this.hide(m.from);
      return;
    }
    let s = this.shown.get(m.from);
    if (!s) {
      const el = h('div', { class: 'live-pointer', 'data-testid': 'live-pointer', 'data-from': m.from },
        h('span', { class: 'live-pointer-dot' }), h('span', { class: 'live-pointer-name', text: m.name || '' }));
      s = { el, timer: 0 };
      this.shown.set(m.from, s);
    }
    if (s.el.parentNode !== tile) tile.append(s.el);
    const r = contentRect(video);
    const box = tile.getBoundingClientRect();
    // Our own picture is shown mirrored.
    const x = self ? 1 - m.x : m.x;
    s.el.style.left = `${r.left - box.left + x * r.width}px`;
    s.el.style.top = `${r.top - box.top + m.y * r.height}px`;
    clearTimeout(s.timer);
    s.timer = setTimeout(() => this.hide(m.from), 5000);
  }

  hide(pid) {
    const s = this.shown.get(pid);
    if (!s) return;
    clearTimeout(s.timer);
    s.el.remove();
    this.shown.delete(pid);
  }
}

// contentRect is where a video's picture is on the screen, within its
// element (object-fit contain or cover).
function contentRect(video) {
  const r = video.getBoundingClientRect();
  const vw = video.videoWidth;
  const vh = video.videoHeight;
  if (!vw || !vh) return r;
  const fit = getComputedStyle(video).objectFit;
  const s = fit === 'cover' ? Math.max(r.width / vw, r.height / vh) : Math.min(r.width / vw, r.height / vh);
  const w = vw * s;
  const hh = vh * s;
  return { left: r.left + (r.width - w) / 2, top: r.top + (r.height - hh) / 2, width: w, height: hh };
}
