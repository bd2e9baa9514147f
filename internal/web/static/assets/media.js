// Local media: the microphone, the camera and the screen, the choice of
// devices (remembered in this browser), the microphone level meter and the
// speaker test.

import { h, icon } from './dom.js';
import { t } from './i18n.js';

const KINDS = { audio: 'audioinput', video: 'videoinput', speaker: 'audiooutput' };
const STORE = 'teleconsult.device.';

// supported reports whether this browser can make the call at all.
export function supported() {
  return !!(window.RTCPeerConnection && window.WebSocket && navigator.mediaDevices && navigator.mediaDevices.getUserMedia);
}

// canShareScreen reports whether the browser can capture the screen
// (phones cannot).
export function canShareScreen() {
  return !!(navigator.mediaDevices && navigator.mediaDevices.getDisplayMedia);
}

// canChooseSpeaker reports whether media elements can be sent to a chosen
// output device.
export function canChooseSpeaker() {
  return 'setSinkId' in HTMLMediaElement.prototype;
}

// problem classifies a getUserMedia failure.
function problem(err) {
  switch (err && err.name) {
    case 'NotAllowedError':
    case 'SecurityError':
    case 'PermissionDeniedError':
      return 'denied';
    case 'NotFoundError':
    case 'DevicesNotFoundError':
    case 'OverconstrainedError':
      return 'notfound';
    case 'NotReadableError':
    case 'TrackStartError':
    case 'AbortError':
      return 'inuse';
    default:
      return 'failed';
  }
}

function remembered(kind) {
  try {
    return localStorage.getItem(STORE + kind) || '';
  } catch {
    return '';
  }
}

function remember(kind, id) {
  try {
    if (id) localStorage.setItem(STORE + kind, id);
    else localStorage.removeItem(STORE + kind);
  } catch {
    // storage disabled: the choice lasts for this page only
  }
}

// LocalMedia owns the local tracks. It fires 'change' (detail: {kind})
// whenever a track starts or stops, a device is chosen or fails, and
// 'devices' when the list of devices changes.
export class LocalMedia extends EventTarget {
  constructor() {
    super();
    this.audio = null; // the microphone track, or null
    this.video = null; // the camera track, or null
    this.screen = null; // the screen track, or null
    this.want = { audio: false, video: false };
    this.touched = { audio: false, video: false }; // set by the participant
    this.error = { audio: null, video: null }; // 'denied' | 'notfound' | 'inuse' | 'failed'
    this.deviceId = { audio: remembered('audio'), video: remembered('video'), speaker: remembered('speaker') };
    this.list = { audio: [], video: [], speaker: [] };
    this.sinks = new Set(); // media elements that play remote sound
    this.queue = { audio: Promise.resolve(), video: Promise.resolve() };
    // processor, when set (the virtual background, background.js), turns
    // each camera track into the track sent and shown; required says the
    // camera stays off when it cannot run.
    this.processor = null;
    this.processorRequired = false;
    if (navigator.mediaDevices && navigator.mediaDevices.addEventListener) {
      navigator.mediaDevices.addEventListener('devicechange', () => this.refreshDevices());
    }
  }

  emit(type, kind) {
    this.dispatchEvent(new CustomEvent(type, { detail: { kind } }));
  }

  // set turns the microphone ('audio') or the camera ('video') on or off.
  // It resolves to whether the device is on afterwards.
  set(kind, on) {
    this.want[kind] = on;
    const run = () => (on ? this.start(kind) : this.stop(kind));
    this.queue[kind] = this.queue[kind].then(run, run);
    return this.queue[kind].then(() => !!this[kind]);
  }

  async start(kind) {
    if (!this.want[kind] || this[kind]) return;
    const id = this.deviceId[kind];
    const base = kind === 'audio'
      ? { echoCancellation: true, noiseSuppression: true, autoGainControl: true }
      : { width: { ideal: 1280 }, height: { ideal: 720 }, frameRate: { ideal: 30, max: 30 } };
    let stream;
    try {
      stream = await navigator.mediaDevices.getUserMedia({ [kind]: id ? { ...base, deviceId: { exact: id } } : base });
    } catch (err) {
      if (id && (err.name === 'OverconstrainedError' || err.name === 'NotFoundError')) {
        // The remembered device is gone: take the default one.
        this.deviceId[kind] = '';
        remember(kind, '');
        return this.start(kind);
      }
      this.error[kind] = problem(err);
      this.want[kind] = false;
      this.emit('change', kind);
      return;
    }
    let track = stream.getTracks()[0];
    if (!this.want[kind]) {
      track.stop();
      return;
    }
    if (kind === 'video' && this.processor) {
      const raw = track;
      try {
        track = await this.processor.process(raw);
      } catch {
        if (this.processorRequired) {
          raw.stop();
          this.error[kind] = 'background';
          this.want[kind] = false;
          this.emit('change', kind);
          return;
        }
        // The background cannot run here and may be off: the camera as
        // it is.
      }
      if (!this.want[kind]) {
        track.stop();
        if (track.release) track.release();
        return;
      }
    }
    track.addEventListener('ended', () => {
      // Unplugged, or taken away by the system.
      if (this[kind] === track) {
        this[kind] = null;
        this.want[kind] = false;
        this.emit('change', kind);
      }
    });
    this.error[kind] = null;
    this[kind] = track;
    this.emit('change', kind);
    this.refreshDevices();
  }

  async stop(kind) {
    const track = this[kind];
    if (!track) return;
    this[kind] = null;
    track.stop();
    if (track.release) track.release(); // a processed track: its camera too
    this.emit('change', kind);
  }

  // setVideoProcessor sets (or clears, with null) the processor of camera
  // tracks, and restarts a running camera through it.
  async setVideoProcessor(processor, required = false) {
    this.processor = processor;
    this.processorRequired = required;
    if (this.video || this.want.video) {
      await this.set('video', false);
      await this.set('video', true);
    }
  }

  // setScreen sets (or clears, with null) the screen track.
  setScreen(track) {
    if (this.screen && this.screen !== track) this.screen.stop();
    this.screen = track;
    if (track) {
      track.addEventListener('ended', () => {
        if (this.screen === track) this.setScreen(null);
      });
    }
    this.emit('change', 'screen');
  }

  // stopAll releases every device.
  stopAll() {
    this.want.audio = this.want.video = false;
    this.stop('audio');
    this.stop('video');
    this.setScreen(null);
  }

  // choose selects a device for kind ('audio', 'video' or 'speaker') and
  // restarts the track on it if it runs.
  async choose(kind, id) {
    this.deviceId[kind] = id;
    remember(kind, id);
    if (kind === 'speaker') {
      for (const el of this.sinks) this.applySink(el);
      this.emit('change', kind);
      return;
    }
    if (this[kind]) {
      await this.set(kind, false);
      await this.set(kind, true);
    }
  }

  // addSink sends the sound of a media element to the chosen speaker; the
  // element is forgotten when it leaves the document (removeSink).
  addSink(el) {
    this.sinks.add(el);
    this.applySink(el);
  }

  removeSink(el) {
    this.sinks.delete(el);
  }

  applySink(el) {
    if (canChooseSpeaker() && el.sinkId !== this.deviceId.speaker) {
      el.setSinkId(this.deviceId.speaker || '').catch(() => {});
    }
  }

  // refreshDevices reads the list of devices (labels appear once a device
  // was granted).
  async refreshDevices() {
    if (!navigator.mediaDevices || !navigator.mediaDevices.enumerateDevices) return;
    let all = [];
    try {
      all = await navigator.mediaDevices.enumerateDevices();
    } catch {
      return;
    }
    for (const [kind, dk] of Object.entries(KINDS)) {
      this.list[kind] = all.filter((d) => d.kind === dk && d.deviceId !== 'communications');
    }
    this.emit('devices');
  }
}

// Meter shows the level of an audio track in a bar.
export class Meter {
  constructor() {
    this.fill = h('div', { class: 'meter-fill' });
    this.el = h('div', { class: 'meter', role: 'meter', 'aria-label': t('micLevel'), 'aria-valuemin': '0', 'aria-valuemax': '100', 'aria-valuenow': '0' }, this.fill);
    this.level = 0;
  }

  attach(track) {
    this.detach();
    this.track = track;
    if (!track) return;
    const ctx = audioContext();
    if (!ctx) return;
    this.source = ctx.createMediaStreamSource(new MediaStream([track]));
    this.analyser = ctx.createAnalyser();
    this.analyser.fftSize = 1024;
    this.source.connect(this.analyser);
    const data = new Float32Array(this.analyser.fftSize);
    let ticks = 0;
    // A timer rather than animation frames: twenty updates a second are
    // plenty for a level, and it keeps going in a window in the background.
    this.timer = setInterval(() => {
      if (!this.analyser || this.el.offsetParent === null) return; // not shown: no work
      this.analyser.getFloatTimeDomainData(data);
      let peak = 0;
      for (const v of data) peak = Math.max(peak, Math.abs(v));
      // A little ballistics: fast up, slow down.
      this.level = Math.max(Math.min(1, peak * 1.5), this.level * 0.85);
      this.fill.style.transform = `scaleX(${this.level.toFixed(3)})`;
      if (++ticks % 5 === 0) this.el.setAttribute('aria-valuenow', String(Math.round(this.level * 100)));
    }, 50);
  }

  detach() {
    clearInterval(this.timer);
    if (this.source) this.source.disconnect();
    this.source = this.analyser = null;
    this.level = 0;
    this.fill.style.transform = 'scaleX(0)';
    this.el.setAttribute('aria-valuenow', '0');
  }
}

let sharedContext = null;

// audioContext returns the page's audio context, resumed (it needs a user
// gesture once, which the buttons that call this provide).
export function audioContext() {
  const AC = window.AudioContext || window.webkitAudioContext;
  if (!AC) return null;
  if (!sharedContext) sharedContext = new AC();
  if (sharedContext.state === 'suspended') sharedContext.resume().catch(() => {});
  return sharedContext;
}

// toneURL is a short test tone, as a WAV file in a blob: URL.
let tone = null;
function toneURL() {
  if (tone) return tone;
  const rate = 22050;
  const n = Math.floor(rate * 0.7);
  const buf = new ArrayBuffer(44 + n * 2);
  const v = new DataView(buf);
  const str = (o, s) => [...s].forEach((c, i) => v.setUint8(o + i, c.charCodeAt(0)));
  str(0, 'RIFF');
  v.setUint32(4, 36 + n * 2, true);
  str(8, 'WAVE');
  str(12, 'fmt ');
  v.setUint32(16, 16, true);
  v.setUint16(20, 1, true);
  v.setUint16(22, 1, true);
  v.setUint32(24, rate, true);
  v.setUint32(28, rate * 2, true);
  v.setUint16(32, 2, true);
  v.setUint16(34, 16, true);
  str(36, 'data');
  v.setUint32(40, n * 2, true);
  for (let i = 0; i < n; i++) {
    const env = Math.min(1, i / 800, (n - i) / 800);
    const f = i < n / 2 ? 660 : 880;
    v.setInt16(44 + i * 2, Math.round(Math.sin((2 * Math.PI * f * i) / rate) * 0.4 * env * 32767), true);
  }
  tone = URL.createObjectURL(new Blob([buf], { type: 'audio/wav' }));
  return tone;
}

// playTestTone plays the test tone on the chosen speaker.
export async function playTestTone(media) {
  const a = new Audio(toneURL());
  if (canChooseSpeaker() && media.deviceId.speaker) {
    try {
      await a.setSinkId(media.deviceId.speaker);
    } catch {
      // the device is gone: the default one plays it
    }
  }
  try {
    await a.play();
  } catch {
    // autoplay refused: nothing to hear, nothing to fix here
  }
}

// devicePanel builds the device choices: microphone with its level meter,
// camera, speaker with a test tone. It keeps itself up to date and returns
// {el, meter, destroy}.
export function devicePanel(media, idPrefix) {
  const meter = new Meter();
  const selects = {};
  const field = (kind, label, extra) => {
    const id = idPrefix + '-' + kind;
    const sel = h('select', {
      id,
      'data-testid': 'select-' + kind,
      onchange: () => media.choose(kind, sel.value),
    });
    selects[kind] = sel;
    return h('div', { class: 'field' }, h('label', { for: id, text: label }), sel, extra);
  };
  const speakerField = canChooseSpeaker() ? field('speaker', t('speaker')) : h('div', { class: 'field' }, h('span', { class: 'label', text: t('speaker') }));
  speakerField.append(
    h('button', { type: 'button', class: 'btn small', 'data-testid': 'test-sound', onclick: () => playTestTone(media) }, icon('speaker'), t('testSound')),
  );
  const el = h('div', { class: 'devices' },
    field('audio', t('microphone'), meter.el),
    field('video', t('camera')),
    speakerField,
  );
  const names = { audio: t('microphone'), video: t('camera'), speaker: t('speaker') };
  const fill = () => {
    for (const [kind, sel] of Object.entries(selects)) {
      const list = media.list[kind];
      const options = [h('option', { value: '', text: t('defaultDevice') })];
      list.forEach((d, i) => {
        if (d.deviceId === 'default' || d.deviceId === '') return;
        options.push(h('option', { value: d.deviceId, text: d.label || t('deviceN', { kind: names[kind], n: i + 1 }) }));
      });
      sel.replaceChildren(...options);
      sel.value = media.deviceId[kind] && list.some((d) => d.deviceId === media.deviceId[kind]) ? media.deviceId[kind] : '';
    }
  };
  const onChange = () => {
    if (meter.track !== media.audio) meter.attach(media.audio);
  };
  media.addEventListener('devices', fill);
  media.addEventListener('change', onChange);
  fill();
  onChange();
  media.refreshDevices();
  return {
    el,
    meter,
    destroy() {
      media.removeEventListener('devices', fill);
      media.removeEventListener('change', onChange);
      meter.detach();
    },
  };
}
