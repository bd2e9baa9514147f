// The call page, opened from a personal link /join/<code>: waiting room,
// pre-join screen, the call, and the pages for every way it can end.

import { h, icon, initials, toast } from './dom.js';
import { t, chooseLanguage, formatClock, formatDay, formatDuration, formatList, formatSize, sameDay } from './i18n.js';
import { Session, upload, listUploads, download, saveBlob, root } from './api.js';
import { LocalMedia, supported, canShareScreen, devicePanel, audioContext } from './media.js';
import { deviceCheck, checkPath } from './devicecheck.js';
import { Call } from './call.js';
import { Background, backgroundToggle } from './background.js';
import { waitingPanel } from './waiting.js';
import { Board, Pointer } from './board.js';
import { tileModeration, moderationNotice } from './moderate.js';
import { begin, show, every, after, onLeave, page, messageScreen, applyTheme } from './ui.js';

// The code is the last segment of the path; it is only ever sent in the
// body of POST /sessions. Once the service has answered for it, the page
// moves to ./visit (history.replaceState), so that the code leaves the
// address bar and the history, and keeps it in this tab's sessionStorage
// for a reload: a reload of ./visit trades it again.
const VISIT = 'visit';
const stored = {
  get(key) {
    try {
      return sessionStorage.getItem('teleconsult.' + key) || '';
    } catch {
      return ''; // storage off: no reload without the link
    }
  },
  set(key, value) {
    try {
      if (value) sessionStorage.setItem('teleconsult.' + key, value);
      else sessionStorage.removeItem('teleconsult.' + key);
      return true;
    } catch {
      return false;
    }
  },
};
const code = (() => {
  const last = location.pathname.split('/').filter(Boolean).pop() || '';
  if (last === VISIT) return stored.get('code');
  let c = last;
  try {
    c = decodeURIComponent(last);
  } catch {
    // not a code we made: the server says so
  }
  // Opening a link starts afresh; only a reload of ./visit goes straight
  // back into a call.
  stored.set('code', c);
  stored.set('inCall', '');
  stored.set('media', '');
  return c;
})();
const session = new Session(code);
const media = new LocalMedia();
let offlineAttempts = 0;

// hideCode replaces /join/<code> by /join/visit in the address bar and the
// history, when the code is kept for a reload.
function hideCode() {
  if (!code || stored.get('code') !== code) return;
  const u = new URL(VISIT, location.href);
  u.search = location.search;
  if (u.pathname !== location.pathname) history.replaceState(null, '', u.href);
}

chooseLanguage(null);
if (!window.isSecureContext) {
  show(messageScreen({ name: 'insecure', tone: 'error', title: t('insecure.title'), text: t('insecure.text') }));
} else if (!supported()) {
  show(messageScreen({ name: 'unsupported', tone: 'error', title: t('unsupported.title'), text: t('unsupported.text') }));
} else if (!code) {
  show(messageScreen({ name: 'nolink', tone: 'error', title: t('nolink.title'), text: t('nolink.text') }));
} else {
  load();
}

function logo() {
  return (session.data && session.data.companyLogo && session.data.companyLogo.url) || '';
}

function checkLink() {
  const u = new URL('check', root);
  u.searchParams.set('lang', document.documentElement.lang);
  return h('a', { class: 'link', href: u.href, target: '_blank', rel: 'noopener' }, t('checkDevices'));
}

// load trades the code for a session and shows what follows.
async function load() {
  show(page('', h('main', { class: 'screen center', 'data-screen': 'loading' }, h('p', { class: 'loading', role: 'status', text: t('loading') }))));
  route(await session.exchange());
}

// route shows the screen for the result of an exchange.
function route(r) {
  if (r.status !== 401 && r.status !== 0) hideCode();
  if (r.status === 201) {
    offlineAttempts = 0;
    chooseLanguage(r.body.language);
    applyTheme(r.body.theme);
    return enter(r.body.join || { provider: 'builtin' });
  }
  if (r.status === 403 && r.body.opensAt) return showWaiting(r.body);
  if (r.status === 403) return showRetry('notready', 30000);
  if (r.status === 401) stored.set('code', '');
  if (r.status === 401) return show(messageScreen({ name: 'unknown', tone: 'error', title: t('unknown.title'), text: t('unknown.text') }));
  if (r.status === 410) return showGone(r.body.error || '', r.body.reason);
  if (r.status === 429) return showRetry('toomany', Math.max(1000, r.retryAfter));
  offlineAttempts++;
  return showRetry('offline', Math.min(30000, 1000 * 2 ** offlineAttempts));
}

// enter goes where the visit runs (join of the session): the built-in
// call on this page, the Daily call in a frame of this page, or on to the
// participant's own Kaleyra link. After a reload during the call it goes
// straight back in.
function enter(j) {
  const again = stored.get('inCall') === j.provider;
  if (j.provider === 'builtin') {
    useBackground();
    // A participant who waits goes straight to the waiting room (where
    // the doctor is told at once), also after a reload there.
    if (!again && waitingRoom().waits) return join(null);
    if (!again) return showPrejoin();
    const wants = stored.get('media');
    media.set('audio', wants.includes('a'));
    media.set('video', wants.includes('v'));
    return join(null);
  }
  const url = providerURL(j.url);
  if (j.provider === 'daily' && url && typeof j.token === 'string' && j.token) {
    url.searchParams.set('t', j.token);
    return again ? showDaily(url) : showHostedPrejoin(url, Date.parse(j.expiresAt || ''));
  }
  if (j.provider === 'kaleyra' && url) return showOnTo(url);
  return show(messageScreen({ name: 'join-unknown', tone: 'error', title: t('joinUnknown.title'), text: t('joinUnknown.text'), detail: t('closeHint') }));
}

// The session's virtual background (groupsWithBackgroundList or
// useBackground=true): every camera track goes through it; bg is null
// without one.
let bg = null;
function useBackground() {
  const config = session.data && session.data.background;
  if (!config || bg) return;
  bg = new Background(config);
  media.setVideoProcessor(bg, !config.canTurnOff);
}

// bgToggle is the background's switch, where the participant may turn it
// off.
function bgToggle(withLabel) {
  const config = session.data && session.data.background;
  return bg && config.canTurnOff ? backgroundToggle(media, bg, withLabel) : null;
}

// providerURL is the provider's URL of a join, if it is one the page may
// open: https, or http on this computer (a test provider).
function providerURL(raw) {
  let u;
  try {
    u = new URL(String(raw || ''));
  } catch {
    return null;
  }
  const local = ['127.0.0.1', 'localhost', '[::1]'].includes(u.hostname);
  return u.protocol === 'https:' || (u.protocol === 'http:' && local) ? u : null;
}

// showHostedPrejoin is the pre-join screen of a call run by Daily: who
// joins, with whom, when; the camera and microphone are chosen in Daily's
// own screen. A meeting token that stops letting the participant in
// within two minutes (expires, in ms) is traded for a new one on joining.
function showHostedPrejoin(url, expires) {
  const s = session.data;
  const go = () => {
    if (expires - session.now() > 120000) return showDaily(url);
    stored.set('inCall', 'daily');
    return load();
  };
  const joinBtn = h('button', { type: 'button', class: 'btn primary big', 'data-testid': 'join', onclick: go }, t('join'));
  const main = h('main', { class: 'screen center', 'data-screen': 'prejoin', 'data-provider': 'daily' },
    h('section', { class: 'card info hosted' },
      h('h1', { text: t('prejoin.title') }),
      h('p', { class: 'as' }, t('prejoin.as'), ' ', h('strong', { 'data-testid': 'own-name', text: s.displayName })),
      s.participants && s.participants.length
        ? h('p', { class: 'others', 'data-testid': 'others', text: t('prejoin.with', { names: formatList(s.participants) }) })
        : null,
      scheduledLine(s.window),
      h('p', { class: 'hint', text: t('hosted.hint') }),
      joinBtn,
      h('div', { class: 'actions' }, checkLink()),
    ));
  show(page(logo(), main), t('prejoin.title'));
}

// showDaily is the Daily call (Daily Prebuilt) in a frame of this page,
// with the participant's meeting token. The page stays around it: its
// header with a leave button, and the end pages (when the participant
// leaves here, and when a limited window ends).
function showDaily(url) {
  begin();
  stored.set('inCall', 'daily');
  const frame = h('iframe', {
    class: 'provider-frame',
    'data-testid': 'provider-frame',
    src: url.href,
    allow: 'camera; microphone; display-capture; fullscreen; autoplay',
    allowfullscreen: true,
    referrerpolicy: 'no-referrer',
    title: t('hosted.frameTitle'),
  });
  const leave = h('button', {
    type: 'button', class: 'btn danger small', 'data-testid': 'leave',
    onclick: () => showEnd('left'),
  }, icon('leave'), t('leave'));
  const w = session.data.window || {};
  if (w.limited && w.endDate) {
    const left = Date.parse(w.endDate) - session.now();
    if (left > 0 && left < 2 ** 31) after(() => showEnd('expired'), left);
  }
  const ends = w.limited && w.endDate ? h('span', { class: 'ends', text: t('endsAt', { time: formatClock(new Date(w.endDate)) }) }) : null;
  const main = h('main', { class: 'hosted-call', 'data-screen': 'daily' }, h('h1', { class: 'visually-hidden', text: t('appName') }), frame);
  show(page(logo(), main, ends, leave), t('appName'));
}

// showOnTo sends the participant on to their own Kaleyra link (composed
// by the service with the link options), replacing this page in the
// history.
function showOnTo(url) {
  stored.set('inCall', '');
  show(messageScreen({
    name: 'provider-redirect', tone: 'info', iconName: 'camera',
    title: t('onTo.title'), text: t('onTo.text'),
    actions: [h('a', { class: 'btn primary', 'data-testid': 'provider-link', href: url.href, rel: 'noreferrer' }, t('onTo.link'))],
    logoURL: logo(),
  }), t('onTo.title'));
  location.replace(url.href);
}

// goneReasons are the reasons of a 410 that have their own page: the
// reasons table (internal/teleconsult/reason.go) gives every 410 a reason,
// so the page never reads the message to tell them apart.
const goneReasons = ['revoked', 'changed', 'cancelled', 'rescheduled', 'ended'];

// showGone shows the page of a 410's reason; a reason this page does not
// know (a newer service) gets a generic page with the service's message.
function showGone(message, reason) {
  stored.set('inCall', '');
  const kind = goneReasons.includes(reason) ? reason : 'other';
  show(messageScreen({
    name: 'gone-' + kind,
    tone: 'error',
    title: t('gone.' + kind + '.title'),
    text: kind === 'other' ? message : t('gone.' + kind + '.text'),
  }));
}

// showRetry explains a temporary refusal and tries again after delay.
function showRetry(kind, delay) {
  const until = Date.now() + delay;
  const text = h('p', { class: 'text' });
  const tick = () => {
    const left = until - Date.now();
    if (left <= 0) return load();
    if (kind !== 'notready') text.textContent = t(kind + '.text', { time: formatDuration(left) });
  };
  if (kind === 'notready') text.textContent = t('notready.text');
  const actions = kind === 'toomany' ? [] : [h('button', { type: 'button', class: 'btn', onclick: load }, t('retryNow'))];
  const screen = messageScreen({ name: kind, tone: 'error', title: t(kind + '.title'), actions });
  screen.querySelector('h1').after(text);
  show(screen);
  tick();
  every(tick, 1000);
}

// showWaiting is the waiting room: when the visit starts, a countdown to
// when it can be joined, and a new try at that moment.
function showWaiting(body) {
  let opensAt = Date.parse(body.opensAt);
  let start = Date.parse(body.startDate || body.opensAt);
  const title = h('h1');
  const opens = h('p', { class: 'text' });
  const countdown = h('span', { class: 'countdown', 'data-testid': 'countdown', role: 'timer', 'aria-live': 'off' });
  const render = () => {
    const s = new Date(start);
    title.textContent = sameDay(s, new Date())
      ? t('waiting.title', { time: formatClock(s) })
      : t('waiting.titleDay', { date: formatDay(s), time: formatClock(s) });
    opens.textContent = start - opensAt >= 60000 ? t('waiting.opensAt', { time: formatClock(new Date(opensAt)) }) : '';
    opens.hidden = !opens.textContent;
  };
  render();
  const main = h('main', { class: 'screen center', 'data-screen': 'waiting' },
    h('section', { class: 'card message info' },
      h('span', { class: 'message-icon' }, icon('clock')),
      title,
      opens,
      h('p', { class: 'countdown-line' }, h('span', { text: t('waiting.countdown') }), ' ', countdown),
      h('p', { class: 'detail', text: t('waiting.keepOpen') }),
      h('div', { class: 'actions' }, checkLink()),
    ));
  show(page('', main), t('appName'));
  let busy = false;
  let attempts = 0;
  let nextTry = 0;
  let lastCheck = Date.now();
  const attempt = async () => {
    busy = true;
    lastCheck = Date.now();
    const r = await session.exchange();
    busy = false;
    if (r.status === 403 && r.body.opensAt) {
      opensAt = Date.parse(r.body.opensAt);
      start = Date.parse(r.body.startDate || r.body.opensAt);
      render();
      if (opensAt <= session.now()) {
        // Our clock runs ahead of the service's: try again shortly.
        attempts++;
        nextTry = Date.now() + Math.min(30000, 1000 * 2 ** attempts);
      }
      return;
    }
    route(r);
  };
  const tick = () => {
    const left = opensAt - session.now();
    countdown.textContent = formatDuration(left);
    if (busy) return;
    // At the opening, and every five minutes meanwhile (the visit may have
    // been moved or cancelled).
    if ((left <= 0 && Date.now() >= nextTry) || Date.now() - lastCheck > 300000) attempt();
  };
  tick();
  every(tick, 500);
}

// toggle is an on/off button for the microphone or the camera.
function toggle(kind, testid, withLabel) {
  const label = t(kind === 'audio' ? 'microphone' : 'camera');
  const btn = h('button', {
    type: 'button',
    class: withLabel ? 'ctl' : 'toggle',
    'data-testid': testid,
    'aria-label': label,
    title: label,
    onclick: () => {
      audioContext();
      media.touched[kind] = true;
      media.set(kind, !media.want[kind]);
    },
  });
  let shown = '';
  const update = () => {
    const on = media.want[kind] || !!media[kind];
    btn.setAttribute('aria-pressed', String(on));
    btn.classList.toggle('off', !on);
    const name = kind === 'audio' ? (on ? 'mic' : 'micOff') : on ? 'camera' : 'cameraOff';
    if (name === shown) return;
    shown = name;
    btn.replaceChildren(icon(name), withLabel ? h('span', { class: 'ctl-label', text: label }) : '');
  };
  update();
  media.addEventListener('change', update);
  onLeave(() => media.removeEventListener('change', update));
  return btn;
}

// notices explains a microphone or camera that could not be used.
function notices() {
  const box = h('div', { class: 'notices' });
  const update = () => {
    box.replaceChildren(...['audio', 'video'].filter((k) => media.error[k]).map((k) =>
      h('p', { class: 'notice', 'data-testid': 'notice-' + k }, icon('alert'), h('span', { text: t(`dev.${media.error[k]}.${k}`) }))));
  };
  update();
  media.addEventListener('change', update);
  onLeave(() => media.removeEventListener('change', update));
  return box;
}

// selfVideo shows the local camera in a video element (mirrored).
function selfVideo(onLive) {
  const video = h('video', { class: 'mirror', muted: true, autoplay: true, playsInline: true, 'aria-hidden': 'true' });
  let shown = null;
  const update = () => {
    if (media.video === shown) return;
    shown = media.video;
    video.srcObject = shown ? new MediaStream([shown]) : null;
    onLive(!!shown);
  };
  update();
  media.addEventListener('change', update);
  onLeave(() => {
    media.removeEventListener('change', update);
    video.srcObject = null;
  });
  return video;
}

// waitingRoom is the participant's part in the waiting room: {waits, admits}.
function waitingRoom() {
  return (session.data && session.data.waitingRoom) || {};
}

function showPrejoin() {
  begin();
  const s = session.data;
  // Someone who admits sees the waiting room from here: the call's socket
  // is held before the call until Join.
  const lobby = waitingRoom().admits ? newCall({ lobby: true }) : null;
  let panel = null;
  if (lobby) {
    panel = waitingPanel(lobby, session);
    onLeave(() => panel.destroy());
    lobby.start();
  }
  const preview = h('div', { class: 'preview' });
  const video = selfVideo((live) => preview.classList.toggle('live', live));
  preview.append(
    h('div', { class: 'placeholder' }, h('span', { class: 'avatar', text: initials(s.displayName) }), h('span', { class: 'off-label', text: t('cameraOff') })),
    video,
    h('div', { class: 'preview-controls' }, toggle('audio', 'prejoin-mic'), toggle('video', 'prejoin-camera'), bgToggle(false)),
  );
  const devices = devicePanel(media, 'pre');
  onLeave(() => devices.destroy());
  const check = prejoinCheck(media, devices, video);
  const hint = h('p', { class: 'hint', text: t('prejoin.hintOff') });
  const updateHint = () => {
    hint.hidden = media.want.audio || media.want.video;
  };
  updateHint();
  media.addEventListener('change', updateHint);
  onLeave(() => media.removeEventListener('change', updateHint));
  const scheduled = scheduledLine(s.window);
  const joinBtn = h('button', { type: 'button', class: 'btn primary big', 'data-testid': 'join', onclick: () => join(joinBtn, lobby) }, t('join'));
  const main = h('main', { class: 'screen prejoin', 'data-screen': 'prejoin' },
    panel ? panel.el : null,
    preview,
    h('section', { class: 'card info' },
      h('h1', { text: t('prejoin.title') }),
      h('p', { class: 'as' }, t('prejoin.as'), ' ', h('strong', { 'data-testid': 'own-name', text: s.displayName })),
      s.participants && s.participants.length
        ? h('p', { class: 'others', 'data-testid': 'others', text: t('prejoin.with', { names: formatList(s.participants) }) })
        : null,
      scheduled,
      hint,
      notices(),
      joinBtn,
      h('h2', { class: 'sub', text: t('prejoin.devices') }),
      devices.el,
      check,
    ),
  );
  show(page(logo(), main), t('prejoin.title'));
}

// prejoinCheck is the device and connection check of the built-in pre-join
// screen (devicecheck.js), behind a button.
function prejoinCheck(media, devices, video) {
  const u = new URL(checkPath, root);
  u.protocol = u.protocol === 'https:' ? 'wss:' : 'ws:';
  const check = deviceCheck(media, { meter: devices.meter, video, checkURL: u.href });
  onLeave(() => check.destroy());
  check.el.hidden = true;
  const start = h('button', { type: 'button', class: 'btn', 'data-testid': 'start-check', onclick: () => {
    audioContext();
    start.hidden = true;
    check.el.hidden = false;
    check.start();
  } }, t('prejoin.check'));
  return h('div', { class: 'prejoin-check' }, start, check.el);
}

// scheduledLine says when the visit is, from the session's window.
function scheduledLine(w) {
  if (!w || !w.startDate || !w.endDate) return null;
  const a = new Date(w.startDate);
  const b = new Date(w.endDate);
  const when = (sameDay(a, new Date()) ? '' : formatDay(a) + ', ') + formatClock(a);
  return h('p', { class: 'scheduled' }, icon('clock'), t('prejoin.scheduled', { start: when, end: formatClock(b) }));
}

// newCall makes the built-in call and wires its screens: the waiting
// room, the call, the end.
function newCall(opts) {
  const call = new Call(session, media, opts);
  call.addEventListener('welcome', () => {
    stored.set('inCall', 'builtin');
    showCall(call);
  });
  call.addEventListener('waiting', () => {
    if (!call.waitingShown) showWaitingRoom(call);
  });
  call.addEventListener('end', (e) => showEnd(e.detail.reason, e.detail.message));
  call.addEventListener('sessionfailed', (e) => {
    media.stopAll();
    route(e.detail);
  });
  call.addEventListener('reconnecting', () => {
    if (!call.welcome && !call.waiting && !call.lobby) toast(t('reconnecting'));
  });
  return call;
}

// join starts the built-in call, from the join button (btn) or, after a
// reload during the call (or to wait in the waiting room), by itself (btn
// null). lobby is the call already held on the pre-join screen, if any.
function join(btn, lobby) {
  if (btn) {
    btn.disabled = true;
    btn.textContent = t('joining');
  } else {
    show(page('', h('main', { class: 'screen center', 'data-screen': 'rejoining' }, h('p', { class: 'loading', role: 'status', text: t('joining') }))));
  }
  audioContext(); // unlocked by this click, for the meters and the sound
  if (lobby) {
    lobby.enter();
    return;
  }
  newCall().start();
}

// showWaitingRoom is the waiting room of a participant who waits: when the
// appointment is, that the doctor was told, the doctor's state, the
// expected start, and a preview with the device check. The call goes on by
// itself when the participant is let in.
function showWaitingRoom(call) {
  begin();
  call.waitingShown = true;
  onLeave(() => {
    call.waitingShown = false;
  });
  const s = session.data;
  const preview = h('div', { class: 'preview' });
  const video = selfVideo((live) => preview.classList.toggle('live', live));
  preview.append(
    h('div', { class: 'placeholder' }, h('span', { class: 'avatar', text: initials(s.displayName) }), h('span', { class: 'off-label', text: t('cameraOff') })),
    video,
    h('div', { class: 'preview-controls' }, toggle('audio', 'prejoin-mic'), toggle('video', 'prejoin-camera')),
  );
  const devices = devicePanel(media, 'pre');
  onLeave(() => devices.destroy());
  const when = h('p', { class: 'scheduled', 'data-testid': 'waiting-appointment' });
  const told = h('p', { class: 'told', 'data-testid': 'waiting-told' });
  const host = h('p', { class: 'host', 'data-testid': 'waiting-host' });
  const expected = h('p', { class: 'expected', 'data-testid': 'waiting-expected' });
  const render = () => {
    const m = call.waiting || {};
    const start = new Date((m.window && m.window.startDate) || (s.window && s.window.startDate) || Date.now());
    when.replaceChildren(icon('clock'), t('lobby.appointment', {
      when: (sameDay(start, new Date()) ? '' : formatDay(start) + ', ') + formatClock(start),
    }));
    told.textContent = m.told ? t('lobby.told') : t('lobby.notTold');
    if (m.host === 'in-call') host.textContent = t('lobby.hostInCall');
    else if (m.lateMinutes > 0) host.textContent = t('lobby.late', { n: String(m.lateMinutes) });
    else if (m.host === 'connected') host.textContent = t('lobby.hostConnected');
    else host.textContent = t('lobby.hostAbsent');
    const est = Date.parse(m.estimatedStart || '');
    expected.textContent = Number.isFinite(est) && est - 60000 > session.now()
      ? t('lobby.expected', { time: formatClock(new Date(est)) })
      : t('lobby.expectedSoon');
  };
  render();
  call.addEventListener('waiting', render);
  onLeave(() => call.removeEventListener('waiting', render));
  const leave = h('button', {
    type: 'button', class: 'btn', 'data-testid': 'leave-waiting',
    onclick: () => {
      call.leave();
      showEnd('left');
    },
  }, t('lobby.leave'));
  const main = h('main', { class: 'screen prejoin', 'data-screen': 'waiting-room', 'data-testid': 'waiting' },
    preview,
    h('section', { class: 'card info' },
      h('h1', { text: t('lobby.waitTitle') }),
      h('p', { class: 'as' }, t('prejoin.as'), ' ', h('strong', { 'data-testid': 'own-name', text: s.displayName })),
      when,
      h('div', { class: 'status-lines', role: 'status', 'aria-live': 'polite' }, told, host, expected),
      h('p', { class: 'detail', text: t('lobby.keepOpen') }),
      notices(),
      leave,
      h('h2', { class: 'sub', text: t('prejoin.devices') }),
      devices.el,
    ),
  );
  show(page(logo(), main), t('lobby.waitTitle'));
}

// showEnd is the page after the call, for the end's reason.
function showEnd(reason, message) {
  media.stopAll();
  stored.set('inCall', '');
  const known = ['expired', 'revoked', 'cancelled', 'call-ended', 'replaced', 'left', 'declined', 'removed'];
  const key = known.includes(reason) ? reason : 'other';
  const actions = [];
  if (reason === 'replaced') {
    actions.push(h('button', { type: 'button', class: 'btn primary', 'data-testid': 'continue-here', onclick: load }, t('continueHere')));
  } else if (reason === 'removed' && session.windowOpen()) {
    actions.push(h('button', { type: 'button', class: 'btn primary', 'data-testid': 'wait-again', onclick: load }, t('end.removed.again')));
  } else if ((reason === 'call-ended' || reason === 'left') && session.windowOpen()) {
    actions.push(h('button', { type: 'button', class: 'btn primary', 'data-testid': 'reenter', onclick: load }, t('reenter')));
  }
  show(messageScreen({
    name: 'end-' + key,
    tone: key === 'left' || key === 'call-ended' || key === 'expired' ? 'info' : 'error',
    iconName: key === 'left' || key === 'call-ended' ? 'leave' : undefined,
    title: t(`end.${key}.title`),
    text: key === 'other' ? message : t(`end.${key}.text`),
    detail: actions.length ? '' : t('closeHint'),
    actions,
    logoURL: logo(),
  }), t(`end.${key}.title`));
}

function stamp(d = new Date()) {
  const two = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${two(d.getMonth() + 1)}-${two(d.getDate())}-${two(d.getHours())}${two(d.getMinutes())}${two(d.getSeconds())}`;
}

// showCall is the call screen: videos, controls, chat, files, devices.
function showCall(call) {
  begin();
  const tools = call.tools;
  const me = call.participantId;
  const myName = call.welcome.name || session.data.displayName;
  const nameOf = (pid) => (pid === me ? t('you') : call.peers.get(pid) || '');

  // The stage: one tile per participant (their camera, or their initials),
  // one per shared screen, and our own picture.
  const tilesEl = h('div', { class: 'tiles' });
  const alone = h('p', { class: 'alone', text: t('alone') });
  const presenting = h('p', { class: 'pill', hidden: true, role: 'status' });
  const selfTile = h('figure', { class: 'tile self', 'data-testid': 'self-tile' });
  selfTile.append(
    h('div', { class: 'avatar', text: initials(myName) }),
    selfVideo((live) => selfTile.classList.toggle('live', live)),
    h('figcaption', { text: t('youName', { name: myName }) }),
  );
  const stage = h('section', { class: 'stage', 'aria-label': t('videos') }, tilesEl, alone, presenting, selfTile);
  const audios = h('div', { class: 'audios' });
  const tiles = new Map(); // key → {el, caption, video, track}
  // Moderation: buttons on the tiles for those who may moderate, and the
  // notice of the one moderated.
  const mod = waitingRoom().admits ? tileModeration(call) : null;
  if (mod) onLeave(() => mod.destroy());
  const modNotice = moderationNotice(call, media);
  onLeave(() => modNotice.destroy());
  const sounds = new Map(); // mid → {el, track}

  const makeTile = () => {
    const caption = h('figcaption');
    const avatar = h('div', { class: 'avatar' });
    const el = h('figure', { class: 'tile remote' }, avatar, caption);
    return { el, caption, avatar, video: null, track: null, receiver: null, frames: 0, seen: 0, flowing: false };
  };

  // A track stays in the call when its sender turns it off (no
  // renegotiation), so whether a picture is live is read from the frames
  // decoded: a camera that stops shows the initials again, a screen that
  // stops goes away.
  const setFlowing = (tile, flowing) => {
    const changed = tile.flowing !== flowing;
    tile.flowing = flowing;
    tile.el.classList.toggle('live', flowing);
    const screen = tile.el.dataset.source === 'screen';
    if (screen) tile.el.hidden = !flowing;
    return changed && screen;
  };
  const watchFrames = async () => {
    let moved = false;
    for (const tile of tiles.values()) {
      if (!tile.receiver) continue;
      let frames = 0;
      try {
        (await tile.receiver.getStats()).forEach((r) => {
          if (r.type === 'inbound-rtp') frames = r.framesDecoded || 0;
        });
      } catch {
        continue;
      }
      if (frames !== tile.frames) {
        tile.frames = frames;
        tile.seen = Date.now();
      }
      moved = setFlowing(tile, Date.now() - tile.seen < 2000) || moved;
    }
    if (moved) layout();
  };
  every(watchFrames, 700);

  const renderRemotes = () => {
    const want = new Map();
    for (const [pid, name] of call.peers) want.set('p:' + pid, { pid, name, source: 'camera', remote: null });
    for (const r of call.remotes.values()) {
      if (r.kind !== 'video') continue;
      const name = r.name || call.peers.get(r.participantId) || '';
      if (r.source === 'screen') {
        want.set('s:' + r.mid, { pid: r.participantId, name, source: 'screen', remote: r });
      } else {
        const key = 'p:' + (r.participantId || r.mid);
        const w = want.get(key) || { pid: r.participantId, name, source: 'camera' };
        w.remote = r;
        want.set(key, w);
      }
    }
    for (const [key, tile] of tiles) {
      if (!want.has(key)) {
        tile.el.remove();
        tiles.delete(key);
      }
    }
    for (const [key, w] of want) {
      let tile = tiles.get(key);
      if (!tile) {
        tile = makeTile();
        tiles.set(key, tile);
        tilesEl.append(tile.el);
      }
      tile.el.dataset.participant = w.pid || '';
      tile.el.dataset.source = w.source;
      tile.caption.textContent = w.source === 'screen' ? t('screenOf', { name: w.name }) : w.name;
      tile.avatar.textContent = initials(w.name);
      if (mod && w.source === 'camera' && w.pid) mod.attach(tile.el, w.pid, w.name);
      const track = w.remote ? w.remote.track : null;
      if (tile.track !== track) {
        if (tile.video) {
          tile.video.srcObject = null;
          tile.video.remove();
          tile.video = null;
        }
        tile.track = track;
        tile.receiver = w.remote ? w.remote.receiver : null;
        tile.frames = 0;
        setFlowing(tile, false);
        if (track) {
          const tl = tile;
          tile.video = h('video', {
            'data-testid': 'remote-video',
            muted: true,
            autoplay: true,
            playsInline: true,
            'aria-label': tile.caption.textContent,
            onloadeddata: () => {
              tl.seen = Date.now();
              if (setFlowing(tl, true)) layout();
            },
          });
          tile.video.srcObject = new MediaStream([track]);
          tile.el.insertBefore(tile.video, tile.caption);
        }
      }
    }
    // Sound: one audio element per remote microphone, on the chosen speaker.
    const heard = new Map([...call.remotes.values()].filter((r) => r.kind === 'audio').map((r) => [r.mid, r]));
    for (const [mid, s] of sounds) {
      if (heard.get(mid) && heard.get(mid).track === s.track) continue;
      media.removeSink(s.el);
      s.el.srcObject = null;
      s.el.remove();
      sounds.delete(mid);
    }
    for (const [mid, r] of heard) {
      if (sounds.has(mid)) continue;
      const el = h('audio', { autoplay: true, 'data-testid': 'remote-audio', 'data-participant': r.participantId || '' });
      el.srcObject = new MediaStream([r.track]);
      audios.append(el);
      media.addSink(el);
      el.play().catch(() => {});
      sounds.set(mid, { el, track: r.track });
    }
    layout();
  };

  // layout puts the presenter (or a shared screen) large for everyone.
  const layout = () => {
    let featured = null;
    if (call.presenter === me) {
      featured = selfTile;
    } else if (call.presenter) {
      const screenTile = [...tiles.entries()].find(([k, tl]) => k.startsWith('s:') && tl.el.dataset.participant === call.presenter);
      featured = (screenTile && screenTile[1].flowing && screenTile[1].el) || (tiles.get('p:' + call.presenter) || {}).el || null;
    } else {
      const screenTile = [...tiles.entries()].find(([k, tl]) => k.startsWith('s:') && tl.flowing);
      featured = screenTile ? screenTile[1].el : null;
    }
    // Our own picture floats in a corner, or joins the strip under a
    // featured picture.
    if (featured) {
      if (selfTile.parentNode !== tilesEl) tilesEl.append(selfTile);
    } else if (selfTile.parentNode !== stage) {
      stage.append(selfTile);
    }
    for (const el of tilesEl.children) el.classList.toggle('featured', el === featured);
    tilesEl.classList.toggle('spotlight', !!featured);
    tilesEl.dataset.count = String([...tilesEl.children].filter((el) => !el.hidden).length);
    alone.hidden = call.peers.size > 0;
    if (call.presenter) {
      presenting.textContent = call.presenter === me ? t('present.you') : t('present.other', { name: nameOf(call.presenter) });
      presenting.hidden = false;
    } else {
      presenting.hidden = true;
    }
    if (presentCtl) {
      presentCtl.setAttribute('aria-pressed', String(call.presenter === me));
    }
  };

  // The side panel: chat, files, devices (one at a time).
  const panelTitle = h('h2');
  const panelBody = h('div', { class: 'panel-body' });
  const panel = h('aside', { class: 'panel', hidden: true, id: 'call-panel', 'aria-labelledby': 'panel-title' },
    h('div', { class: 'panel-head' }, panelTitle,
      h('button', { type: 'button', class: 'icon-btn', 'aria-label': t('close'), title: t('close'), onclick: () => openPanel(null) }, icon('close'))),
    panelBody);
  panelTitle.id = 'panel-title';
  panel.addEventListener('keydown', (e) => {
    if (e.key === 'Escape') openPanel(null);
  });
  const sections = {};
  const panelButtons = {};
  let openName = null;
  const openPanel = (name) => {
    const from = openName;
    openName = name === openName ? null : name;
    panel.hidden = !openName;
    callEl.classList.toggle('with-panel', !!openName);
    for (const [n, sec] of Object.entries(sections)) sec.hidden = n !== openName;
    for (const [n, b] of Object.entries(panelButtons)) b.setAttribute('aria-expanded', String(n === openName));
    if (openName) {
      panelTitle.textContent = t(openName);
      if (openName === 'chat') {
        unread = 0;
        updateBadge();
        chatInput.focus();
      }
    } else if (from && panelButtons[from]) {
      panelButtons[from].focus();
    }
  };

  // Chat.
  let unread = 0;
  let chatInput = null;
  const badge = h('span', { class: 'badge', hidden: true });
  const updateBadge = () => {
    badge.hidden = unread === 0;
    badge.textContent = String(unread);
  };
  if (tools.chat) {
    const list = h('ol', { class: 'messages', 'aria-live': 'polite', 'aria-label': t('chat') });
    const empty = h('p', { class: 'empty', text: t('chat.empty') });
    chatInput = h('input', {
      type: 'text', id: 'chat-input', 'data-testid': 'chat-input', maxlength: '2000', autocomplete: 'off',
      placeholder: t('chat.placeholder'), enterkeyhint: 'send',
    });
    const send = () => {
      const text = chatInput.value.trim();
      if (!text) return;
      call.chat(text.slice(0, 2000));
      chatInput.value = '';
    };
    chatInput.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && !e.isComposing) {
        e.preventDefault();
        send();
      }
    });
    sections.chat = h('section', { class: 'chat', hidden: true },
      empty, list,
      h('div', { class: 'composer' },
        h('label', { for: 'chat-input', class: 'visually-hidden', text: t('chat.label') }),
        chatInput,
        h('button', { type: 'button', class: 'icon-btn accent', 'aria-label': t('chat.send'), title: t('chat.send'), onclick: send }, icon('send'))));
    call.addEventListener('chat', (e) => {
      const m = e.detail;
      const mine = m.from === me;
      const at = new Date(m.at || Date.now());
      empty.hidden = true;
      list.append(h('li', { class: 'msg' + (mine ? ' mine' : ''), 'data-testid': 'chat-message' },
        h('span', { class: 'who', text: mine ? t('you') : m.name || nameOf(m.from) }),
        ' ',
        h('time', { datetime: at.toISOString(), text: formatClock(at) }),
        h('p', { text: m.text })));
      list.lastChild.scrollIntoView({ block: 'end' });
      if (openName !== 'chat' && !mine) {
        unread++;
        updateBadge();
        toast(t('newMessage', { name: m.name || nameOf(m.from) }));
      }
    });
  }

  // Files.
  const fileItems = new Map();
  let fileList = null;
  let filesEmpty = null;
  const addFile = (f, fromName) => {
    if (!fileList || fileItems.has(f.id)) return;
    filesEmpty.hidden = true;
    const meta = [formatSize(f.size || 0), fromName].filter(Boolean).join(' · ');
    const li = h('li', { class: 'file', 'data-testid': 'file-item', 'data-file-id': f.id },
      h('span', { class: 'file-name', text: f.name }),
      h('span', { class: 'file-meta', text: meta }),
      h('button', {
        type: 'button', class: 'icon-btn', 'data-testid': 'download',
        'aria-label': t('files.downloadName', { name: f.name }), title: t('files.download'),
        onclick: () => download(session, f).catch(() => toast(t('files.downloadFailed'), 'error')),
      }, icon('download')));
    fileItems.set(f.id, li);
    fileList.append(li);
  };
  const share = async (file, name) => {
    const note = toast(t('files.uploading', { name: name || file.name }));
    try {
      const f = await upload(session, file, name);
      addFile(f, t('you'));
      return f;
    } catch (err) {
      toast(err.status === 413 ? t('files.tooLarge') : t('files.failed') + (err.message ? ' ' + err.message : ''), 'error');
      return null;
    } finally {
      note.remove();
    }
  };
  const loadFiles = () => {
    if (!tools.file_upload) return;
    listUploads(session).then((files) => files.forEach((f) => addFile(f, nameOf(f.uploadedBy)))).catch(() => {});
  };
  if (tools.file_upload) {
    const input = h('input', {
      type: 'file', id: 'file-input', class: 'visually-hidden', 'data-testid': 'file-input', tabindex: '-1', 'aria-hidden': 'true',
      onchange: () => {
        for (const f of input.files) share(f);
        input.value = '';
      },
    });
    fileList = h('ul', { class: 'file-list', 'data-testid': 'file-list' });
    filesEmpty = h('p', { class: 'empty', text: t('files.empty') });
    sections.files = h('section', { class: 'files', hidden: true },
      h('button', { type: 'button', class: 'btn', 'data-testid': 'upload', onclick: () => input.click() }, icon('upload'), t('files.upload')),
      input, filesEmpty, fileList);
    call.addEventListener('upload', (e) => {
      const m = e.detail;
      if (!m.file) return;
      addFile(m.file, m.from === me ? t('you') : m.name);
      if (m.from !== me) toast(t('files.shared', { name: m.name || nameOf(m.from) }));
    });
    loadFiles();
  }

  // Devices.
  const devices = devicePanel(media, 'call');
  onLeave(() => devices.destroy());
  sections.devices = h('section', { class: 'devices-panel', hidden: true }, devices.el);
  panelBody.append(...Object.values(sections));

  // Controls, for the participant's tools only.
  const ctl = (name, iconName, label, onclick, extra = {}) => h('button', {
    type: 'button', class: 'ctl', 'data-testid': name, 'aria-label': label, title: label, onclick, ...extra,
  }, icon(iconName), h('span', { class: 'ctl-label', text: label }));
  const panelCtl = (name, iconName) => {
    const b = ctl(name, iconName, t(name), () => openPanel(name), { 'aria-controls': 'call-panel', 'aria-expanded': 'false' });
    panelButtons[name] = b;
    return b;
  };
  let screenCtl = null;
  if (tools.screen_sharing && canShareScreen()) {
    screenCtl = ctl('screen', 'screen', t('screen'), async () => {
      if (media.screen) {
        media.setScreen(null);
        return;
      }
      try {
        const stream = await navigator.mediaDevices.getDisplayMedia({ video: { frameRate: { ideal: 15 } }, audio: false });
        const track = stream.getVideoTracks()[0];
        track.contentHint = 'detail';
        media.setScreen(track);
      } catch (err) {
        if (err && err.name !== 'NotAllowedError' && err.name !== 'AbortError') toast(t('screen.failed'), 'error');
      }
    }, { 'aria-pressed': 'false' });
  }
  const updateScreen = (e) => {
    if (screenCtl) screenCtl.setAttribute('aria-pressed', String(!!media.screen));
    // A camera or microphone that cannot start during the call.
    const kind = e && e.detail && e.detail.kind;
    if ((kind === 'audio' || kind === 'video') && media.error[kind]) toast(t(`dev.${media.error[kind]}.${kind}`), 'error');
  };
  media.addEventListener('change', updateScreen);
  onLeave(() => media.removeEventListener('change', updateScreen));
  const presentCtl = tools.present_to_everyone
    ? ctl('present', 'present', t('present'), () => call.present(call.presenter !== me), { 'aria-pressed': 'false' })
    : null;
  const snapshotCtl = tools.snapshot ? ctl('snapshot', 'snapshot', t('snapshot'), () => snapshot()) : null;
  // The whiteboard (board.js): its button for those who may draw on it,
  // and for everyone once someone draws; the live pointer's for its holders.
  const board = new Board({
    call, session, tools, me, share: (blob, name) => (tools.file_upload ? share(blob, name) : Promise.resolve(null)),
    save: saveBlob,
    capture: async () => {
      const frame = await grabFrame();
      return frame ? frame.blob : null;
    },
  });
  onLeave(() => board.destroy());
  const boardCtl = ctl('tool-whiteboard', 'whiteboard', t('whiteboard'), () => showBoard(board.el.hidden), { 'aria-pressed': 'false' });
  boardCtl.hidden = !tools.whiteboard && !tools.live_edit;
  let boardSeen = false;
  const showBoard = (on) => {
    board.el.hidden = !on;
    boardCtl.hidden = false;
    boardCtl.setAttribute('aria-pressed', String(on));
    callEl.classList.toggle('with-board', on);
    if (on) board.fit();
  };
  board.el.addEventListener('remotedraw', (e) => {
    if (!board.el.hidden) return;
    if (!boardSeen) showBoard(true);
    else toast(t('board.drawing', { name: nameOf(e.detail.from) }));
    boardSeen = true;
  });
  // Entering a call whose board has something on it opens it once.
  const onBoardState = () => {
    if (boardSeen) return;
    boardSeen = true;
    showBoard(true);
  };
  call.addEventListener('boardstate', onBoardState);
  onLeave(() => call.removeEventListener('boardstate', onBoardState));
  const pointer = new Pointer({ call, tools, me, root: stage, selfTile });
  onLeave(() => pointer.destroy());
  const chatCtl = tools.chat ? panelCtl('chat', 'chat') : null;
  if (chatCtl) chatCtl.append(badge);
  const leaveCtl = ctl('leave', 'leave', t('leave'), () => {
    call.leave();
    showEnd('left');
  });
  leaveCtl.classList.add('danger');
  const controls = h('nav', { class: 'controls', 'aria-label': t('controls') },
    toggle('audio', 'mic', true),
    toggle('video', 'camera', true),
    bgToggle(true),
    screenCtl,
    presentCtl,
    snapshotCtl,
    boardCtl,
    pointer.control,
    chatCtl,
    tools.file_upload ? panelCtl('files', 'files') : null,
    panelCtl('devices', 'devices'),
    leaveCtl);

  // Snapshot: a frame of the featured (or first) remote video, shared in
  // Files when uploads are allowed, else saved here.
  const grabFrame = async () => {
    const videos = [...tilesEl.querySelectorAll('video[data-testid="remote-video"]')].filter((v) => v.videoWidth > 0);
    const v = videos.find((x) => x.closest('.featured')) || videos[0];
    if (!v) return null;
    const canvas = h('canvas');
    canvas.width = v.videoWidth;
    canvas.height = v.videoHeight;
    canvas.getContext('2d').drawImage(v, 0, 0);
    const tile = v.closest('.tile');
    tile.classList.add('flash');
    after(() => tile.classList.remove('flash'), 400);
    return { blob: await new Promise((resolve) => canvas.toBlob(resolve, 'image/png')) };
  };
  const snapshot = async () => {
    const frame = await grabFrame();
    if (!frame) {
      toast(t('snapshot.none'));
      return;
    }
    const blob = frame.blob;
    const name = `snapshot-${stamp()}.png`;
    if (tools.file_upload) {
      if (await share(blob, name)) toast(t('snapshot.shared'));
    } else {
      saveBlob(blob, name);
      toast(t('snapshot.saved'));
    }
  };

  // The banner: the end of the window coming.
  const banner = h('div', { class: 'banner warning', role: 'status', hidden: true, 'data-testid': 'banner' });
  let warnUntil = 0;
  const updateBanner = () => {
    banner.hidden = !warnUntil;
    if (warnUntil) banner.textContent = t('ending', { time: formatDuration(warnUntil - Date.now()) });
  };
  call.addEventListener('warning', (e) => {
    const secs = Number(e.detail.secondsLeft);
    warnUntil = Number.isFinite(secs) ? Date.now() + secs * 1000 : Date.parse(e.detail.endsAt) - session.skew;
    updateBanner();
  });
  every(() => warnUntil && updateBanner(), 1000);

  // The connection's banner: problems (signalling or media stalled), a
  // lost connection being made again, the service restarting. The call
  // comes back on this page by itself.
  const connBanner = h('div', { class: 'banner connection', role: 'status', hidden: true, 'data-testid': 'reconnecting', 'data-state': '' });
  const connText = { problems: 'connProblems', lost: 'reconnecting', restarting: 'restarting' };
  const showConn = (state, cause = '') => {
    connBanner.dataset.state = state;
    connBanner.dataset.cause = cause;
    connBanner.hidden = !state;
    connBanner.replaceChildren(...(state ? [icon(state === 'problems' ? 'alert' : 'reconnect'), h('span', { text: t(connText[state]) })] : []));
  };
  call.addEventListener('trouble', (e) => {
    const d = e.detail;
    const cause = [d.signalling ? 'signalling' : '', d.media ? 'media' : ''].filter(Boolean).join(' ');
    if (connBanner.dataset.state === '' || connBanner.dataset.state === 'problems') showConn(d.on ? 'problems' : '', cause);
  });
  call.addEventListener('reconnecting', (e) => showConn((e.detail && e.detail.reason) === 'restarting' ? 'restarting' : 'lost'));
  call.addEventListener('reconnected', () => {
    showConn('');
    toast(t('reconnected'));
    renderRemotes();
    loadFiles();
  });

  call.addEventListener('remotes', renderRemotes);
  call.addEventListener('present', layout);
  call.addEventListener('peers', (e) => {
    const d = e.detail;
    if (d.joined) toast(t('peerJoined', { name: d.joined.name }));
    if (d.left && d.left.name) toast(t('peerLeft', { name: d.left.name }));
    renderRemotes();
  });
  call.addEventListener('servererror', (e) => {
    if (e.detail.message) toast(e.detail.message, 'error');
  });

  // Who waits, for those who admit: above the stage while someone does.
  let lobbyBox = null;
  if (waitingRoom().admits) {
    const lp = waitingPanel(call, session);
    onLeave(() => lp.destroy());
    // Always there (compact while nobody waits), so that screen readers
    // hear its notice.
    lobbyBox = h('div', { class: 'lobby-box' }, lp.el);
  }

  const w = session.data.window || {};
  const ends = w.limited && w.endDate ? h('span', { class: 'ends', text: t('endsAt', { time: formatClock(new Date(w.endDate)) }) }) : null;
  const callEl = h('main', { class: 'call', 'data-screen': 'call' },
    h('h1', { class: 'visually-hidden', text: t('appName') }),
    connBanner, banner, modNotice.el, lobbyBox, h('div', { class: 'call-body' }, board.el, stage, panel), controls, audios);
  show(page(logo(), callEl, ends), t('appName'));
  // The heading of the call is the stage's label; keep the focus on the
  // controls for keyboard users.
  controls.querySelector('button').focus({ preventScroll: true });
  renderRemotes();
  // What a reload during the call turns on again.
  const remember = () => stored.set('media', (media.want.audio ? 'a' : '') + (media.want.video ? 'v' : ''));
  remember();
  media.addEventListener('change', remember);
  onLeave(() => {
    media.removeEventListener('change', remember);
    for (const s of sounds.values()) media.removeSink(s.el);
  });
}
