// The device and connection check, on /check and on the pre-join screen:
// a pass/warn/fail line for the camera, the microphone, the speaker and the
// connection to this server (docs/device-check.md). The connection test is
// a peer connection with one data channel to the built-in video server
// (docs/signalling.md, "Connection check"): ICE over UDP and through the
// TURN relay, round-trip time, upload and download.

import { h, icon } from './dom.js';
import { t } from './i18n.js';
import { playTestTone } from './media.js';

// Thresholds of the lines. A video visit's camera stream is sent at up to
// about 1.5 Mbit/s and looks good from 1; below 0.35 only a small picture
// gets through, and audio needs about 0.05. A conversation feels direct
// below 150 ms of round trip and laboured past 400 (ITU-T G.114 puts the
// one-way limit at 150 ms for most users: our measure is the round trip).
export const THRESHOLDS = {
  rttWarnMs: 150,
  rttFailMs: 400,
  passMbps: 1,
  warnMbps: 0.35,
  minHeight: 360, // camera pictures below this are a warning
  micWaitMs: 10000, // silence for this long is a warning
  frameWaitMs: 10000, // no camera picture for this long is a failure
  connectMs: 8000, // ICE must connect within this
};

// checkPath is the connection check's WebSocket, relative to the service
// root (the check page gets it from the server, which knows whether the
// provider is built-in).
export const checkPath = 'api/v1/telecons-be/check';

const LINES = ['camera', 'microphone', 'speaker', 'network', 'relay', 'rtt', 'upload', 'download'];

// deviceCheck builds the check's lines for media (a LocalMedia), with the
// microphone meter (a Meter attached to it) and the video element that
// shows the camera. checkURL is the connection check's WebSocket URL, or
// null when this service's video provider is hosted (then the connection
// is not tested: the media would not go to this server). It returns
// {el, start(), destroy()}; start turns the camera and microphone on and
// runs every test.
export function deviceCheck(media, { meter, video, checkURL }) {
  const rows = {};
  const list = h('ul', { class: 'check-lines', 'data-testid': 'check-lines' });
  for (const name of LINES) {
    if (!checkURL && ['network', 'relay', 'rtt', 'upload', 'download'].includes(name)) continue;
    const status = h('span', { class: 'check-status' });
    const detail = h('span', { class: 'check-detail' });
    const extra = h('span', { class: 'check-extra' });
    const li = h('li', { class: 'check-line', 'data-testid': 'check-' + name, 'data-status': 'idle' },
      h('span', { class: 'check-mark' }),
      h('span', { class: 'check-body' }, h('span', { class: 'check-name', text: t('check.line.' + name) }), status, detail, extra));
    rows[name] = { li, status, detail, extra };
    list.append(li);
    set(name, 'idle', '');
  }
  if (rows.relay) rows.relay.li.hidden = true; // shown when TURN is configured
  const note = checkURL ? null : h('p', { class: 'hint', 'data-testid': 'check-hosted', text: t('check.hosted') });
  const el = h('div', { class: 'check' }, list, note);

  function set(name, status, text) {
    const r = rows[name];
    if (!r) return;
    r.li.dataset.status = status;
    const mark = r.li.firstChild;
    mark.replaceChildren(status === 'pass' ? icon('tick') : status === 'warn' || status === 'fail' ? icon('alert') : '');
    r.status.textContent = t('check.status.' + status);
    r.detail.textContent = text;
  }

  const timers = [];
  let alive = true;
  const later = (f, ms) => timers.push(setTimeout(() => alive && f(), ms));
  const every = (f, ms) => timers.push(setInterval(() => alive && f(), ms));
  const sockets = new Set();

  // The camera passes when a frame is decoded, at its resolution.
  function camera() {
    set('camera', 'running', t('check.camera.running'));
    const began = Date.now();
    const poll = setInterval(() => {
      if (!alive) return clearInterval(poll);
      if (media.error.video) {
        clearInterval(poll);
        return set('camera', 'fail', t(`dev.${media.error.video}.video`));
      }
      const w = video.videoWidth;
      const hgt = video.videoHeight;
      if (media.video && w > 0 && hgt > 0) {
        clearInterval(poll);
        const size = { w, h: hgt };
        return set('camera', hgt < THRESHOLDS.minHeight ? 'warn' : 'pass', t(hgt < THRESHOLDS.minHeight ? 'check.camera.low' : 'check.camera.pass', size));
      }
      if (Date.now() - began > THRESHOLDS.frameWaitMs) {
        clearInterval(poll);
        set('camera', 'fail', t('check.camera.fail'));
      }
    }, 200);
    timers.push(poll);
  }

  // The microphone passes when the level meter moves.
  function microphone() {
    set('microphone', 'wait', t('check.microphone.wait'));
    const began = Date.now();
    const poll = setInterval(() => {
      if (!alive) return clearInterval(poll);
      if (media.error.audio) {
        clearInterval(poll);
        return set('microphone', 'fail', t(`dev.${media.error.audio}.audio`));
      }
      if (media.audio && meter.level > 0.05) {
        clearInterval(poll);
        return set('microphone', 'pass', t('check.microphone.pass'));
      }
      if (Date.now() - began > THRESHOLDS.micWaitMs && rows.microphone.li.dataset.status === 'wait') {
        set('microphone', 'warn', t('check.microphone.warn'));
      }
    }, 100);
    timers.push(poll);
  }

  // The speaker passes when the user says they heard the tone.
  function speaker() {
    const r = rows.speaker;
    set('speaker', 'wait', t('check.speaker.wait'));
    const answer = (heard) => {
      set('speaker', heard ? 'pass' : 'fail', t(heard ? 'check.speaker.pass' : 'check.speaker.fail'));
      yes.hidden = no.hidden = heard;
    };
    const play = h('button', { type: 'button', class: 'btn small', 'data-testid': 'check-speaker-play', onclick: () => {
      playTestTone(media);
      yes.hidden = no.hidden = false;
    } }, icon('speaker'), t('check.speaker.play'));
    const yes = h('button', { type: 'button', class: 'btn small', 'data-testid': 'check-speaker-yes', hidden: true, onclick: () => answer(true) }, t('check.speaker.yes'));
    const no = h('button', { type: 'button', class: 'btn small', 'data-testid': 'check-speaker-no', hidden: true, onclick: () => answer(false) }, t('check.speaker.no'));
    r.extra.replaceChildren(play, yes, no);
  }

  async function network() {
    for (const n of ['network', 'rtt', 'upload', 'download']) set(n, 'running', t('check.network.running'));
    const direct = await runCheck(checkURL, 'all', sockets);
    if (!alive) return;
    let relay = null;
    if (direct.turn) {
      rows.relay.li.hidden = false;
      set('relay', 'running', t('check.network.running'));
      relay = await runCheck(checkURL, 'relay', sockets);
      if (!alive) return;
    }
    const direct_ok = direct.connected && direct.type !== 'relay';
    if (direct_ok) set('network', 'pass', t('check.network.pass', { type: direct.protocol.toUpperCase() }));
    else if ((relay && relay.connected) || (direct.connected && direct.type === 'relay')) set('network', 'warn', t('check.network.relayOnly'));
    else set('network', 'fail', t('check.network.fail'));
    if (relay) {
      if (relay.connected) set('relay', 'pass', t('check.relay.pass'));
      else set('relay', direct_ok ? 'warn' : 'fail', t('check.relay.fail'));
    }
    const best = direct.connected ? direct : relay && relay.connected ? relay : null;
    if (!best) {
      for (const n of ['rtt', 'upload', 'download']) set(n, 'fail', t('check.network.skipped'));
      return;
    }
    if (best.rttMs == null) set('rtt', 'fail', t('check.network.skipped'));
    else {
      const ms = Math.round(best.rttMs);
      set('rtt', ms < THRESHOLDS.rttWarnMs ? 'pass' : ms < THRESHOLDS.rttFailMs ? 'warn' : 'fail',
        t(ms < THRESHOLDS.rttWarnMs ? 'check.rtt.pass' : ms < THRESHOLDS.rttFailMs ? 'check.rtt.warn' : 'check.rtt.fail', { ms }));
    }
    for (const [name, mbps] of [['upload', best.upMbps], ['download', best.downMbps]]) {
      if (mbps == null) {
        set(name, 'fail', t('check.network.skipped'));
        continue;
      }
      const v = mbps >= 10 ? Math.round(mbps) : mbps.toFixed(1);
      const status = mbps >= THRESHOLDS.passMbps ? 'pass' : mbps >= THRESHOLDS.warnMbps ? 'warn' : 'fail';
      set(name, status, t(`check.${name}.${status}`, { mbps: v }));
    }
  }

  return {
    el,
    start() {
      media.set('audio', true);
      media.set('video', true);
      camera();
      microphone();
      speaker();
      if (checkURL) network();
    },
    destroy() {
      alive = false;
      for (const id of timers) clearTimeout(id), clearInterval(id);
      for (const s of sockets) s.close();
    },
  };
}

// runCheck runs one connection check with the ICE transport policy given
// ('all', or 'relay' to go through TURN only) and resolves to
// {connected, turn, type, protocol, rttMs, upMbps, downMbps}; it never
// rejects. sockets collects the open sockets, for destroy.
async function runCheck(url, policy, sockets) {
  const out = { connected: false, turn: false, type: '', protocol: '', rttMs: null, upMbps: null, downMbps: null };
  let ws = null;
  let pc = null;
  try {
    ws = new WebSocket(url);
    const socket = ws;
    sockets.add(socket);
    const queue = [];
    let waiter = null;
    // next resolves to the next message of a type, or null after ms.
    const next = (type, ms) => new Promise((resolve) => {
      const take = () => {
        const i = queue.findIndex((m) => m.type === type);
        if (i >= 0) return resolve(queue.splice(i, 1)[0]);
        waiter = take;
      };
      setTimeout(() => resolve(null), ms);
      take();
    });
    socket.onmessage = (e) => {
      try {
        queue.push(JSON.parse(e.data));
      } catch {
        return;
      }
      if (waiter) waiter();
    };
    const closed = new Promise((resolve) => {
      socket.onclose = resolve;
    });
    const welcome = await Promise.race([next('welcome', THRESHOLDS.connectMs), closed.then(() => null)]);
    if (!welcome) return out;
    const servers = Array.isArray(welcome.iceServers) ? welcome.iceServers : [];
    out.turn = servers.some((s) => [].concat(s.urls).some((u) => /^turns?:/.test(u)));
    if (policy === 'relay' && !out.turn) return out;
    pc = new RTCPeerConnection({ iceServers: servers, iceTransportPolicy: policy });
    pc.onicecandidate = (e) => {
      if (socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify({ type: 'candidate', candidate: e.candidate ? e.candidate.toJSON() : null }));
    };
    const channel = new Promise((resolve) => {
      pc.ondatachannel = (e) => {
        e.channel.binaryType = 'arraybuffer';
        if (e.channel.readyState === 'open') resolve(e.channel);
        else e.channel.onopen = () => resolve(e.channel);
      };
    });
    const offer = await next('offer', THRESHOLDS.connectMs);
    if (!offer) return out;
    await pc.setRemoteDescription({ type: 'offer', sdp: offer.sdp });
    await pc.setLocalDescription(await pc.createAnswer());
    socket.send(JSON.stringify({ type: 'answer', sdp: pc.localDescription.sdp }));
    const dc = await Promise.race([channel, new Promise((resolve) => setTimeout(() => resolve(null), THRESHOLDS.connectMs))]);
    if (!dc) return out;
    out.connected = true;
    const texts = [];
    let textWaiter = null;
    let received = 0;
    let first = 0;
    let last = 0;
    dc.onmessage = (e) => {
      if (typeof e.data === 'string') {
        texts.push(e.data);
        if (textWaiter) textWaiter();
        return;
      }
      const now = performance.now();
      if (!first) first = now;
      last = now;
      received += e.data.byteLength;
    };
    const text = (ms) => new Promise((resolve) => {
      const take = () => (texts.length ? resolve(texts.shift()) : (textWaiter = take));
      setTimeout(() => resolve(null), ms);
      take();
    });
    await selectedPair(pc, out);
    if (out.rttMs == null) {
      // No round trip in the stats yet: time a ping on the channel.
      const began = performance.now();
      dc.send('ping');
      if ((await text(2000)) === 'pong') out.rttMs = performance.now() - began;
    }
    const maxBytes = Math.max(0, Number(welcome.maxBytes) || 0);
    const transferMs = Math.max(500, Number(welcome.transferMs) || 3000);
    // Upload: 16 KiB messages for transferMs or maxBytes, at most 1 MiB
    // buffered; the server measures from the first byte to the last.
    const chunk = new Uint8Array(16 << 10);
    let sent = 0;
    const until = performance.now() + transferMs;
    while (sent + chunk.byteLength <= maxBytes && performance.now() < until && dc.readyState === 'open') {
      if (dc.bufferedAmount > 1 << 20) {
        await new Promise((r) => setTimeout(r, 10));
        continue;
      }
      dc.send(chunk);
      sent += chunk.byteLength;
    }
    const drainUntil = performance.now() + 5000;
    while (dc.bufferedAmount > 0 && performance.now() < drainUntil && dc.readyState === 'open') await new Promise((r) => setTimeout(r, 10));
    dc.send('upload-end');
    const up = parse(await text(5000));
    if (up && up.type === 'upload' && up.bytes > 0) out.upMbps = (up.bytes * 8) / Math.max(1, up.ms) / 1000;
    dc.send('download');
    const down = parse(await text(transferMs + 5000));
    if (down && down.type === 'download' && received > 0) {
      // Bytes still on their way when the result arrived are not counted:
      // a measure only a little low.
      out.downMbps = (received * 8) / Math.max(1, last - first) / 1000;
    }
    await selectedPair(pc, out);
    return out;
  } catch {
    return out;
  } finally {
    if (pc) pc.close();
    if (ws) {
      ws.close();
      sockets.delete(ws);
    }
  }
}

function parse(s) {
  try {
    return s ? JSON.parse(s) : null;
  } catch {
    return null;
  }
}

// selectedPair reads the connection's selected candidate pair from the
// stats: the local candidate's type (host, srflx, prflx, relay) and
// protocol, and the pair's current round-trip time.
async function selectedPair(pc, out) {
  const stats = await pc.getStats();
  let pair = null;
  stats.forEach((s) => {
    if (s.type === 'transport' && s.selectedCandidatePairId) pair = stats.get(s.selectedCandidatePairId);
  });
  if (!pair) stats.forEach((s) => {
    if (s.type === 'candidate-pair' && s.nominated && s.state === 'succeeded') pair = s;
  });
  if (!pair) return;
  const local = stats.get(pair.localCandidateId);
  if (local) {
    out.type = local.candidateType || '';
    out.protocol = local.protocol || '';
  }
  if (typeof pair.currentRoundTripTime === 'number') out.rttMs = pair.currentRoundTripTime * 1000;
}
