// The device check page (/check), linked from invitations: camera preview,
// microphone meter, speaker test and, with the built-in video provider, a
// test of the connection to this server, each with a pass/warn/fail line
// (devicecheck.js). It needs no session and sends nothing but test data.

import { h, icon } from './dom.js';
import { t, chooseLanguage } from './i18n.js';
import { LocalMedia, supported, devicePanel, audioContext } from './media.js';
import { begin, show, onLeave, page, messageScreen, applyTheme } from './ui.js';
import { deviceCheck } from './devicecheck.js';

chooseLanguage(null);
// The configured theme and the connection check's path come as attributes
// of the html element (the Content-Security-Policy allows no inline code).
const attrs = document.documentElement.dataset;
applyTheme({
  light: { primaryColor: attrs.lightPrimary, accentColor: attrs.lightAccent },
  dark: { primaryColor: attrs.darkPrimary, accentColor: attrs.darkAccent },
});
const media = new LocalMedia();

if (!window.isSecureContext) {
  show(messageScreen({ name: 'insecure', tone: 'error', title: t('insecure.title'), text: t('insecure.text') }));
} else if (!supported()) {
  show(messageScreen({ name: 'unsupported', tone: 'error', title: t('unsupported.title'), text: t('unsupported.text') }));
} else {
  showCheck();
}

// checkURL is the connection check's WebSocket URL, or null without one.
function checkURL() {
  if (!attrs.check) return null;
  const u = new URL(attrs.check, location.href);
  u.protocol = u.protocol === 'https:' ? 'wss:' : 'ws:';
  return u.href;
}

function showCheck() {
  begin();
  const preview = h('div', { class: 'preview' });
  const video = h('video', { class: 'mirror', muted: true, autoplay: true, playsInline: true, 'aria-hidden': 'true', 'data-testid': 'check-video' });
  preview.append(
    h('div', { class: 'placeholder' }, h('span', { class: 'off-label', text: t('cameraOff') })),
    video,
  );
  const notices = h('div', { class: 'notices' });
  const update = () => {
    if ((video.srcObject && video.srcObject.getVideoTracks()[0]) !== (media.video || undefined)) {
      video.srcObject = media.video ? new MediaStream([media.video]) : null;
    }
    preview.classList.toggle('live', !!media.video);
    notices.replaceChildren(...['audio', 'video'].filter((k) => media.error[k]).map((k) =>
      h('p', { class: 'notice', 'data-testid': 'notice-' + k }, icon('alert'), h('span', { text: t(`dev.${media.error[k]}.${k}`) }))));
  };
  media.addEventListener('change', update);
  onLeave(() => media.removeEventListener('change', update));
  const devices = devicePanel(media, 'check');
  onLeave(() => devices.destroy());
  const check = deviceCheck(media, { meter: devices.meter, video, checkURL: checkURL() });
  onLeave(() => check.destroy());
  const start = h('button', {
    type: 'button', class: 'btn primary big', 'data-testid': 'start-check',
    onclick: () => {
      audioContext();
      start.hidden = true;
      check.start();
    },
  }, t('check.start'));
  const main = h('main', { class: 'screen prejoin', 'data-screen': 'check' },
    preview,
    h('section', { class: 'card info' },
      h('h1', { text: t('check.title') }),
      h('p', { text: t('check.intro') }),
      h('p', { class: 'ok', 'data-testid': 'browser-ok' }, icon('camera'), t('check.ok')),
      notices,
      start,
      check.el,
      h('h2', { class: 'sub', text: t('check.devices') }),
      devices.el,
    ),
  );
  show(page('', main), t('check.title'));
  update();
}
