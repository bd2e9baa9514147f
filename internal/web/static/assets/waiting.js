// The waiting room as those who admit see it (docs/signalling.md, Waiting
// room): who waits and since when, with Admit and Decline, the option
// "admit automatically from the appointment start", and a sound and a
// spoken, visible notice when someone arrives.

import { h } from './dom.js';
import { t, formatClock } from './i18n.js';
import { audioContext } from './media.js';

// chime plays a short two-note sound, if the page may play sound (a
// click on the page unlocked it).
function chime() {
  const ctx = audioContext();
  if (!ctx || ctx.state !== 'running') return false;
  const now = ctx.currentTime;
  [[660, 0], [880, 0.18]].forEach(([f, at]) => {
    const osc = ctx.createOscillator();
    const gain = ctx.createGain();
    osc.frequency.value = f;
    gain.gain.setValueAtTime(0.0001, now + at);
    gain.gain.exponentialRampToValueAtTime(0.25, now + at + 0.02);
    gain.gain.exponentialRampToValueAtTime(0.0001, now + at + 0.3);
    osc.connect(gain).connect(ctx.destination);
    osc.start(now + at);
    osc.stop(now + at + 0.32);
  });
  return true;
}

// minutesSince says how long ago a time was, in whole minutes.
function minutesSince(iso, now) {
  return Math.max(0, Math.floor((now - Date.parse(iso)) / 60000));
}

// waitingPanel returns the panel of call's waiting room, updated as the
// server's waiting-list messages come, and a destroy function.
export function waitingPanel(call, session) {
  const notice = h('p', { class: 'waiting-notice', 'data-testid': 'waiting-notice', role: 'status', 'aria-live': 'polite' });
  const list = h('ul', { class: 'waiting-list', 'data-testid': 'waiting-list', 'aria-label': t('lobby.list') });
  const empty = h('p', { class: 'empty', text: t('lobby.empty') });
  const auto = h('input', {
    type: 'checkbox', id: 'auto-admit', 'data-testid': 'auto-admit',
    onchange: () => call.autoAdmit(auto.checked),
  });
  const title = h('h2', { id: 'lobby-title', tabindex: '-1', text: t('lobby.title') });
  const el = h('section', { class: 'waiting-panel card', 'aria-labelledby': 'lobby-title' },
    title,
    notice, empty, list,
    h('p', { class: 'auto' }, auto, ' ', h('label', { for: 'auto-admit', text: t('lobby.auto') })));
  let known = null; // participant ids already shown
  const sinces = []; // [span, iso] of the list shown
  const tick = () => {
    const now = session.now();
    for (const [span, iso] of sinces) {
      span.textContent = t('lobby.since', { time: formatClock(new Date(iso)), minutes: String(minutesSince(iso, now)) });
    }
  };
  const render = () => {
    const m = call.waitingList;
    const waiting = (m && Array.isArray(m.waiting)) ? m.waiting : [];
    auto.checked = !!(m && m.autoAdmit);
    const arrived = known ? waiting.filter((w) => !known.has(w.participantId)) : [];
    known = new Set(waiting.map((w) => w.participantId));
    // Keep the keyboard focus in the list when the button it was on goes.
    const focusIn = list.contains(document.activeElement);
    sinces.length = 0;
    list.replaceChildren(...waiting.map((w) => {
      const since = h('span', { class: 'since' });
      sinces.push([since, w.since]);
      return h('li', { class: 'waiting-person', 'data-participant': w.participantId },
        h('span', { class: 'who', text: w.name }),
        since,
        h('span', { class: 'buttons' },
          h('button', {
            type: 'button', class: 'btn primary small', 'data-testid': 'admit',
            'aria-label': t('lobby.admitName', { name: w.name }), onclick: () => call.admit(w.participantId),
          }, t('lobby.admit')),
          h('button', {
            type: 'button', class: 'btn small', 'data-testid': 'decline',
            'aria-label': t('lobby.declineName', { name: w.name }), onclick: () => call.decline(w.participantId),
          }, t('lobby.decline'))));
    }));
    tick();
    if (focusIn) (list.querySelector('[data-testid="admit"]') || title).focus();
    empty.hidden = waiting.length > 0;
    el.classList.toggle('someone', waiting.length > 0);
    if (arrived.length) {
      notice.textContent = arrived.length === 1
        ? t('lobby.arrived', { name: arrived[0].name })
        : t('lobby.arrivedMany', { n: String(arrived.length) });
      chime();
    } else if (!waiting.length) {
      notice.textContent = '';
    }
    el.dispatchEvent(new CustomEvent('change', { detail: { count: waiting.length } }));
  };
  render();
  call.addEventListener('waitinglist', render);
  const timer = setInterval(tick, 30000);
  return {
    el,
    destroy() {
      call.removeEventListener('waitinglist', render);
      clearInterval(timer);
    },
  };
}
