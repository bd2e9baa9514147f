// Small DOM helpers. The pages build every element with these, never from
// HTML strings: the Content-Security-Policy closes the HTML sinks with
// Trusted Types.

const SVG = 'http://www.w3.org/2000/svg';

// Properties set as properties rather than attributes.
const PROPS = new Set(['muted', 'autoplay', 'playsInline', 'srcObject', 'value', 'disabled', 'hidden', 'checked', 'tabIndex', 'download', 'href', 'multiple']);

// h makes an element: h('button', {class: 'x', onclick: f, 'aria-label': 'y'}, child, ...).
// Children are nodes, strings (text) or arrays of them; null and false are skipped.
export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (v == null || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k === 'text') el.textContent = v;
    else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (PROPS.has(k)) el[k] = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c == null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

// clear removes every child of el.
export function clear(el) {
  while (el.firstChild) el.firstChild.remove();
  return el;
}

// Icons: line drawings on a 24×24 grid, drawn with the text colour.
const ICONS = {
  mic: [['rect', { x: 9, y: 3, width: 6, height: 11, rx: 3 }], ['path', { d: 'M5 11a7 7 0 0 0 14 0M12 18v3M9 21h6' }]],
  micOff: [['rect', { x: 9, y: 3, width: 6, height: 11, rx: 3 }], ['path', { d: 'M5 11a7 7 0 0 0 14 0M12 18v3M9 21h6M3 3l18 18' }]],
  camera: [['rect', { x: 2, y: 6, width: 14, height: 12, rx: 2 }], ['path', { d: 'M16 10l6-3v10l-6-3z' }]],
  cameraOff: [['rect', { x: 2, y: 6, width: 14, height: 12, rx: 2 }], ['path', { d: 'M16 10l6-3v10l-6-3zM3 3l18 18' }]],
  screen: [['rect', { x: 2, y: 4, width: 20, height: 13, rx: 2 }], ['path', { d: 'M8 21h8M12 17v4M12 14V8M9 11l3-3 3 3' }]],
  present: [['path', { d: 'M3 4h18M5 4v10h14V4M12 14v4M8 21l4-3 4 3' }]],
  snapshot: [['path', { d: 'M4 7h3l2-3h6l2 3h3v13H4z' }], ['circle', { cx: 12, cy: 13, r: 4 }]],
  background: [['rect', { x: 3, y: 4, width: 18, height: 16, rx: 2 }], ['circle', { cx: 12, cy: 11, r: 3 }], ['path', { d: 'M6 20a6 6 0 0 1 12 0M3 9h3M18 9h3M3 14h2M19 14h2' }]],
  chat: [['path', { d: 'M4 5h16v11H9l-5 4z' }]],
  files: [['path', { d: 'M6 2h8l5 5v15H6zM14 2v5h5M9 13h6M9 17h6' }]],
  devices: [['path', { d: 'M4 6h9M17 6h3M4 12h3M11 12h9M4 18h11M19 18h1' }], ['circle', { cx: 15, cy: 6, r: 2 }], ['circle', { cx: 9, cy: 12, r: 2 }], ['circle', { cx: 17, cy: 18, r: 2 }]],
  leave: [['path', { d: 'M14 4h5v16h-5M10 8l-4 4 4 4M6 12h10' }]],
  close: [['path', { d: 'M6 6l12 12M18 6L6 18' }]],
  reconnect: [['path', { d: 'M20 12a8 8 0 1 1-2.4-5.7M20 4v5h-5' }]],
  download: [['path', { d: 'M12 4v11M7 10l5 5 5-5M5 20h14' }]],
  upload: [['path', { d: 'M12 16V5M7 10l5-5 5 5M5 20h14' }]],
  send: [['path', { d: 'M4 12l16-8-6 16-2-7z' }]],
  speaker: [['path', { d: 'M4 9h4l5-4v14l-5-4H4zM16 9a4 4 0 0 1 0 6M18.5 6.5a8 8 0 0 1 0 11' }]],
  clock: [['circle', { cx: 12, cy: 12, r: 9 }], ['path', { d: 'M12 7v5l3 2' }]],
  alert: [['path', { d: 'M12 3l10 18H2zM12 10v5M12 18v.5' }]],
  whiteboard: [['rect', { x: 3, y: 4, width: 18, height: 13, rx: 1 }], ['path', { d: 'M7 13c2-4 4 0 6-3s3 1 4 0M9 21l3-4 3 4' }]],
  pointer: [['path', { d: 'M5 3l14 7-6 2-2 6z' }]],
  tick: [['path', { d: 'M4 12.5l5 5L20 6.5' }]],
};

// icon returns the SVG icon name, hidden from assistive technology (the
// control around it carries the label).
export function icon(name) {
  const svg = document.createElementNS(SVG, 'svg');
  svg.setAttribute('viewBox', '0 0 24 24');
  svg.setAttribute('aria-hidden', 'true');
  svg.setAttribute('focusable', 'false');
  svg.setAttribute('class', 'icon');
  for (const [tag, attrs] of ICONS[name] || []) {
    const el = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
    svg.append(el);
  }
  return svg;
}

// mount shows a screen: it replaces the content of #app and moves the focus
// to the screen's heading, so that screen readers announce the change.
export function mount(screen, title) {
  const app = document.getElementById('app');
  clear(app).append(screen);
  if (title) document.title = title;
  const heading = screen.querySelector('h1');
  if (heading) {
    heading.tabIndex = -1;
    heading.focus({ preventScroll: true });
  }
}

// toast shows a short message for a few seconds and returns it (remove it
// to take it away sooner).
export function toast(text, kind = 'info') {
  const el = h('div', { class: 'toast ' + kind, text });
  const box = document.getElementById('toasts');
  if (!box) return el;
  box.append(el);
  while (box.children.length > 3) box.firstChild.remove();
  setTimeout(() => el.remove(), kind === 'error' ? 8000 : 4000);
  return el;
}

// initials of a display name, for a participant without video.
export function initials(name) {
  const parts = String(name || '?').trim().split(/\s+/).filter((p) => /\p{L}/u.test(p));
  const pick = parts.length > 1 ? [parts[0], parts[parts.length - 1]] : parts;
  return pick.map((p) => p.match(/\p{L}/u)[0].toUpperCase()).join('') || '?';
}
