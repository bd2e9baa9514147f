// In-call moderation (docs/signalling.md, Moderation). For a participant
// who may moderate: on each remote tile, buttons to mute the microphone
// (or allow it again), turn the camera off (or allow it again) and remove
// the person from the call. For the one moderated: a notice that screen
// readers announce at once, and a microphone or camera that stays off
// until the doctor allows it (the server forwards nothing of it anyway).

import { h, icon } from './dom.js';
import { t } from './i18n.js';

// tileModeration returns, for call, attach(tileEl, pid, name) that puts
// the moderation buttons on a remote participant's tile (once) and keeps
// them up to date, and destroy.
export function tileModeration(call) {
  const shown = new Map(); // tile element → {pid, name, mute, camera, remove}
  const update = (c) => {
    const st = call.moderation.get(c.pid) || {};
    c.mute.setAttribute('aria-pressed', String(!!st.muted));
    c.mute.setAttribute('aria-label', t(st.muted ? 'mod.unmuteName' : 'mod.muteName', { name: c.name }));
    c.mute.title = c.mute.getAttribute('aria-label');
    c.mute.replaceChildren(icon(st.muted ? 'micOff' : 'mic'));
    c.camera.setAttribute('aria-pressed', String(!!st.cameraOff));
    c.camera.setAttribute('aria-label', t(st.cameraOff ? 'mod.cameraOnName' : 'mod.cameraOffName', { name: c.name }));
    c.camera.title = c.camera.getAttribute('aria-label');
    c.camera.replaceChildren(icon(st.cameraOff ? 'cameraOff' : 'camera'));
    c.remove.setAttribute('aria-label', t('mod.removeName', { name: c.name }));
    c.remove.title = c.remove.getAttribute('aria-label');
    c.group.setAttribute('aria-label', t('mod.group', { name: c.name }));
  };
  const onModeration = () => {
    for (const [el, c] of shown) {
      if (!el.isConnected) shown.delete(el);
      else update(c);
    }
  };
  call.addEventListener('moderation', onModeration);
  return {
    attach(tileEl, pid, name) {
      let c = shown.get(tileEl);
      if (!c || c.pid !== pid) {
        if (c) c.group.remove();
        const btn = (testid, onclick) => h('button', { type: 'button', class: 'icon-btn mod-btn', 'data-testid': testid, onclick });
        c = { pid, name };
        c.mute = btn('mod-mute', () => call.moderate(pid, (call.moderation.get(pid) || {}).muted ? 'unmute' : 'mute'));
        c.camera = btn('mod-camera', () => call.moderate(pid, (call.moderation.get(pid) || {}).cameraOff ? 'camera-on' : 'camera-off'));
        c.remove = btn('mod-remove', () => call.moderate(pid, 'remove'));
        c.remove.append(icon('leave'));
        c.remove.classList.add('danger');
        c.group = h('div', { class: 'mod-controls', role: 'group', 'data-testid': 'moderation' }, c.mute, c.camera, c.remove);
        tileEl.append(c.group);
        shown.set(tileEl, c);
      }
      c.name = name;
      update(c);
    },
    destroy() {
      call.removeEventListener('moderation', onModeration);
      shown.clear();
    },
  };
}

// moderationNotice returns the notice of the participant moderated
// (role alert: read at once) and destroy. While the doctor holds the
// microphone (or camera), it stays off: the page's button for it says so
// and does nothing.
export function moderationNotice(call, media) {
  const el = h('p', { class: 'moderation-notice', role: 'alert', 'data-testid': 'moderation-notice', hidden: true });
  const me = () => call.participantId;
  const held = () => call.moderation.get(me()) || {};
  const say = (key) => {
    el.textContent = t(key);
    el.hidden = false;
  };
  // The buttons of the call's controls that turn the microphone and the
  // camera on (join.js: data-testid mic, camera).
  const buttons = () => ({ audio: document.querySelector('[data-testid="mic"]'), video: document.querySelector('[data-testid="camera"]') });
  const enforce = () => {
    const st = held();
    const b = buttons();
    for (const [kind, on] of [['audio', st.muted], ['video', st.cameraOff]]) {
      if (b[kind]) {
        if (on) b[kind].setAttribute('aria-disabled', 'true');
        else b[kind].removeAttribute('aria-disabled');
      }
      if (on && (media.want[kind] || media[kind])) media.set(kind, false);
    }
  };
  const onModeration = (e) => {
    const m = e.detail;
    if (m.participantId !== me()) return;
    const key = {
      mute: 'mod.youMuted', unmute: 'mod.youUnmuted', 'camera-off': 'mod.youCameraOff', 'camera-on': 'mod.youCameraOn',
    }[m.action] || (m.muted ? 'mod.youMuted' : m.cameraOff ? 'mod.youCameraOff' : '');
    if (key) say(key);
    enforce();
  };
  // A click on a held button is told why nothing happens, before the
  // button's own handler runs.
  const guard = (e) => {
    const b = buttons();
    const st = held();
    const target = e.target instanceof Element ? e.target : null;
    const hit = target && ((st.muted && b.audio && b.audio.contains(target) && 'mod.heldMic')
      || (st.cameraOff && b.video && b.video.contains(target) && 'mod.heldCamera'));
    if (!hit) return;
    e.stopPropagation();
    e.preventDefault();
    say(hit);
  };
  document.addEventListener('click', guard, true);
  call.addEventListener('moderation', onModeration);
  media.addEventListener('change', enforce);
  return {
    el,
    destroy() {
      document.removeEventListener('click', guard, true);
      call.removeEventListener('moderation', onModeration);
      media.removeEventListener('change', enforce);
    },
  };
}
