// Pieces shared by the call page and the check page: screens with their
// timers, the header, the theme, message pages.

import { h, icon, mount } from './dom.js';
import { t } from './i18n.js';

let timers = [];
let cleanups = [];
let building = false;

function teardown() {
  for (const id of timers) clearTimeout(id);
  timers = [];
  const old = cleanups;
  cleanups = [];
  for (const f of old) f();
}

// begin starts building a new screen: the current one's timers and
// listeners stop, and those registered from now on belong to the new one.
export function begin() {
  teardown();
  building = true;
}

// show replaces the current screen (stopping its timers and listeners
// unless begin did already).
export function show(node, title) {
  if (!building) teardown();
  building = false;
  mount(node, title ? title + ' · ' + t('appName') : t('appName'));
}

// every and after run f for the current screen only.
export function every(f, ms) {
  timers.push(setInterval(f, ms));
}

export function after(f, ms) {
  timers.push(setTimeout(f, ms));
}

// onLeave runs f when the current screen is replaced.
export function onLeave(f) {
  cleanups.push(f);
}

// header is the top bar: the company logo (or the app's mark) and name.
export function header(logoURL, ...extra) {
  const mark = logoURL
    ? h('img', { class: 'logo', src: logoURL, alt: t('logo'), onerror: (e) => e.target.remove() })
    : h('span', { class: 'mark' }, icon('camera'));
  return h('header', { class: 'topbar' }, mark, h('span', { class: 'brand', text: t('appName') }), h('span', { class: 'spacer' }), ...extra);
}

// page wraps a screen's main element with the header.
export function page(logoURL, main, ...headerExtra) {
  return h('div', { class: 'page' }, header(logoURL, ...headerExtra), main);
}

// messageScreen is a page that says one thing: a title, a text, maybe
// actions. name goes to data-screen (what tests look for).
export function messageScreen({ name, title, text, detail, actions, tone = 'info', iconName, logoURL }) {
  const main = h('main', { class: 'screen center', 'data-screen': name },
    h('section', { class: 'card message ' + tone },
      h('span', { class: 'message-icon' }, icon(iconName || (tone === 'info' ? 'clock' : 'alert'))),
      h('h1', { text: title }),
      text ? h('p', { class: 'text', text }) : null,
      detail ? h('p', { class: 'detail', text: detail }) : null,
      actions && actions.length ? h('div', { class: 'actions' }, actions) : null,
    ),
  );
  return page(logoURL, main);
}

const COLOR = /^#([0-9a-f]{3}|[0-9a-f]{4}|[0-9a-f]{6}|[0-9a-f]{8})$/i;

// textOn returns black or white, whichever reads better on colour hex.
function textOn(hex) {
  let s = hex.slice(1);
  if (s.length <= 4) s = [...s].map((c) => c + c).join('');
  const lin = (i) => {
    const c = parseInt(s.slice(i, i + 2), 16) / 255;
    return c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  };
  const L = 0.2126 * lin(0) + 0.7152 * lin(2) + 0.0722 * lin(4);
  return (L + 0.05) / 0.05 > 1.05 / (L + 0.05) ? '#111111' : '#ffffff';
}

// applyTheme sets the configured colours (light and dark) as CSS
// variables; the style sheet picks them by prefers-color-scheme.
export function applyTheme(theme) {
  const style = document.documentElement.style;
  for (const mode of ['light', 'dark']) {
    const c = theme && theme[mode];
    if (!c) continue;
    for (const [name, value] of [['primary', c.primaryColor], ['accent', c.accentColor]]) {
      if (typeof value !== 'string' || !COLOR.test(value)) continue;
      style.setProperty(`--${mode}-${name}`, value);
      style.setProperty(`--${mode}-on-${name}`, textOn(value));
    }
  }
}
