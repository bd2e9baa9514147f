// The call: one WebSocket to the built-in SFU (docs/signalling.md) and one
// RTCPeerConnection. The server always offers; the page answers, sends its
// microphone, camera and screen on the first transceivers of the first
// offer, and receives the others' tracks on the rest.
//
// Events (all CustomEvent, data in detail):
//   welcome          the server admitted us (detail: the welcome message)
//   remotes          the set of remote tracks or their labels changed
//   peers            someone joined or left (detail: {joined|left: {participantId, name}})
//   chat, upload, present, warning   the server's messages of that type
//   servererror      an error message (detail: {message})
//   reconnecting     the connection dropped, or the server asked us to
//                    connect again; the call tries again by itself (detail:
//                    {reason: 'restarting' when the server is going away,
//                    else 'lost'})
//   reconnected      the call is back (after a new welcome)
//   trouble          signalling or media stalled, or came back (detail:
//                    {on, signalling, media})
//   end              the call is over for this page (detail: {reason, message})
//   sessionfailed    trading the code again failed (detail: the exchange result)
//   waiting          we are in the waiting room (detail: the waiting message)
//   waitinglist      who waits, for those who admit (detail: the waiting-list message)
//   board, boardstate, pointer   the whiteboard's and the live pointer's messages (board.js)
//   moderation       moderation held back (or allowed again) someone's microphone or
//                    camera (detail: the moderation message; see moderate.js)

import { SessionError } from './api.js';

// The connection's watch (docs/signalling.md, "Reconnecting"): a ping a
// second; a ping unanswered for LATE_AFTER, or nothing received on the
// peer connection for MEDIA_STALL while something should come, is shown as
// connection problems (within 3 s of a stall); silence past SILENCE_LIMIT,
// or media stalled past MEDIA_LIMIT, makes a new connection.
const WATCH_EVERY = 250;
const PING_EVERY = 1000;
const LATE_AFTER = 900;
const SILENCE_LIMIT = 10000;
const MEDIA_EVERY = 500;
const MEDIA_STALL = 1500;
const MEDIA_LIMIT = 10000;
// An ICE restart (restart-ice) is asked at most every ICE_RESTART_EVERY; a
// peer connection still failed ICE_RESTART_WAIT after asking makes a new
// connection.
const ICE_RESTART_EVERY = 3000;
const ICE_RESTART_WAIT = 5000;
// A socket not open by then is given up (a server that accepts but never
// answers).
const OPEN_LIMIT = 10000;
// The longest wait between two attempts to connect again.
const RETRY_MAX = 10000;

// reconnectEnds are the end reasons after which the page connects again
// (docs/signalling.md: "reconnect"); every other end is final.
// The camera's simulcast layers, as the server offers them (rid q, h, f:
// docs/signalling.md, "Simulcast"): how much each scales the camera down,
// and its highest bitrate (bit/s).
const LAYERS = { q: { scale: 4, maxBitrate: 150000 }, h: { scale: 2, maxBitrate: 500000 }, f: { scale: 1, maxBitrate: 1500000 } };
const reconnectEnds = ['shutdown', 'timeout', 'policy', 'too-slow', 'too-large', 'media-failed', 'unavailable'];

// parseSDP returns, for each m-section of sdp, its kind, mid, direction,
// port and first msid (stream and track ids).
function parseSDP(sdp) {
  return sdp.split(/\r?\nm=/).slice(1).map((block) => {
    const lines = block.split(/\r?\n/);
    const [kind, port] = lines[0].split(' ');
    const s = { kind, port: Number(port), mid: null, direction: 'sendrecv', streamId: null, trackId: null };
    for (const l of lines) {
      if (l.startsWith('a=mid:')) s.mid = l.slice(6).trim();
      else if (/^a=(sendrecv|sendonly|recvonly|inactive)$/.test(l.trim())) s.direction = l.trim().slice(2);
      else if (l.startsWith('a=msid:') && s.streamId === null) {
        const [stream, track] = l.slice(7).trim().split(' ');
        s.streamId = stream;
        s.trackId = track || null;
      }
    }
    return s;
  });
}

export class Call extends EventTarget {
  // lobby: hold the connection before the call (the pre-join screen of
  // someone who admits) until enter().
  constructor(session, media, { lobby = false } = {}) {
    super();
    this.lobby = lobby;
    this.waiting = null; // the last waiting message, while we wait
    this.waitingList = null; // the last waiting-list message
    this.moderation = new Map(); // participantId → {muted, cameraOff}, from moderation messages
    this.session = session;
    this.media = media;
    this.ws = null;
    this.pc = null;
    this.welcome = null;
    this.participantId = null;
    this.tools = {};
    this.peers = new Map(); // participantId → name
    this.trackInfo = []; // the last tracks message
    this.remotes = new Map(); // mid → {mid, kind, track, receiver, streamId, trackId, participantId, name, source}
    this.presenter = null;
    this.ownMids = null; // {audio, video, screen}: our transceivers
    this.queue = Promise.resolve();
    this.attempt = 0;
    this.closed = false; // ended or left: no more reconnects
    this.restarting = false; // the server went away: until the next welcome
    this.trouble = ''; // what stalls: s (signalling), m (media), both or none
    this.resetMedia(); // this.flow: what the peer connection received
    this.onMediaChange = () => this.attachLocal();
    media.addEventListener('change', this.onMediaChange);
  }

  emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  // start connects with the session's current token.
  start() {
    this.connect();
  }

  async connect() {
    let token;
    try {
      token = await this.session.token();
    } catch (err) {
      const r = err instanceof SessionError ? err.result : { status: 0 };
      if (r.status === 0 || r.status === 429 || r.status >= 500) {
        // Not reachable now: keep trying.
        this.scheduleReconnect(r.retryAfter);
        return;
      }
      this.finish();
      this.emit('sessionfailed', r);
      return;
    }
    if (this.closed) return;
    const ws = new WebSocket(this.session.callURL());
    this.ws = ws;
    clearTimeout(this.opening);
    this.opening = setTimeout(() => {
      if (this.ws === ws && ws.readyState !== WebSocket.OPEN) this.dropped();
    }, OPEN_LIMIT);
    ws.addEventListener('open', () => {
      if (this.ws !== ws) return;
      clearTimeout(this.opening);
      const auth = { type: 'auth', token };
      if (this.lobby && !this.welcome) auth.lobby = true;
      this.send(auth);
      this.startWatch();
    });
    ws.addEventListener('message', (ev) => {
      if (this.ws !== ws) return;
      this.heard();
      let msg;
      try {
        msg = JSON.parse(ev.data);
      } catch {
        return;
      }
      if (msg && msg.type === 'end') {
        // At once, not behind the queue: the server closes the socket
        // right after, and a close seen before a queued end (an offer
        // still being applied) would read as a drop and reconnect.
        this.handle(msg);
        return;
      }
      this.queue = this.queue
        .then(() => this.ws === ws && this.handle(msg))
        .catch((err) => {
          // A message we could not apply (an offer that failed): start
          // over on a new connection rather than stay without media.
          if (this.ws !== ws || this.closed) return;
          this.emit('servererror', { message: String((err && err.message) || err) });
          this.dropped();
        });
    });
    ws.addEventListener('close', () => {
      if (this.ws === ws) this.dropped();
    });
  }

  send(msg) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(msg));
  }

  async handle(msg) {
    switch (msg.type) {
      case 'welcome':
        return this.onWelcome(msg);
      case 'offer':
        return this.onOffer(msg.sdp);
      case 'candidate':
        if (!this.pc) return;
        try {
          await this.pc.addIceCandidate(msg.candidate || null);
        } catch {
          // a candidate for a section we rejected: harmless
        }
        return;
      case 'tracks':
        this.trackInfo = Array.isArray(msg.tracks) ? msg.tracks : [];
        this.relabel();
        return;
      case 'peer-joined':
        this.peers.set(msg.participantId, msg.name);
        this.emit('peers', { joined: { participantId: msg.participantId, name: msg.name } });
        return;
      case 'peer-left': {
        const name = this.peers.get(msg.participantId);
        this.peers.delete(msg.participantId);
        if (this.presenter === msg.participantId) this.presenter = null;
        this.emit('peers', { left: { participantId: msg.participantId, name } });
        return;
      }
      case 'present':
        if (msg.on) this.presenter = msg.participantId;
        else if (this.presenter === msg.participantId) this.presenter = null;
        this.emit('present', msg);
        return;
      case 'chat':
      case 'upload':
      case 'warning':
        this.emit(msg.type, msg);
        return;
      case 'waiting':
        this.waiting = msg;
        this.emit('waiting', msg);
        return;
      case 'board':
      case 'pointer':
        this.emit(msg.type, msg);
        return;
      case 'board-state':
        this.boardState = msg;
        this.emit('boardstate', msg);
        return;
      case 'waiting-list':
        this.waitingList = msg;
        this.emit('waitinglist', msg);
        return;
      case 'moderation':
        this.moderation.set(msg.participantId, { muted: !!msg.muted, cameraOff: !!msg.cameraOff });
        this.emit('moderation', msg);
        return;
      case 'error':
        this.emit('servererror', { message: msg.message || '' });
        return;
      case 'end':
        if (reconnectEnds.includes(msg.reason)) {
          // The server asks for a new connection (it is going away, or
          // this one went wrong): not the end of the call.
          this.dropped(msg.reason);
          return;
        }
        this.finish();
        this.emit('end', { reason: msg.reason || '', message: msg.message || '' });
        return;
      default:
        // pong, and types of a newer server
    }
  }

  onWelcome(msg) {
    const again = !!this.welcome;
    this.welcome = msg;
    this.waiting = null;
    this.attempt = 0;
    this.restarting = false;
    this.participantId = msg.participantId;
    this.tools = msg.tools || {};
    this.peers = new Map((msg.peers || []).map((p) => [p.participantId, p.name]));
    this.moderation = new Map(); // the server says it again after welcome
    this.presenter = null;
    this.ownMids = null;
    this.boardState = null; // a board-state follows unless the board is empty
    this.pc = new RTCPeerConnection({ iceServers: msg.iceServers || [], bundlePolicy: 'max-bundle' });
    const pc = this.pc;
    pc.addEventListener('icecandidate', (ev) => {
      if (pc !== this.pc || !ev.candidate || !ev.candidate.candidate) return;
      const c = ev.candidate;
      this.send({ type: 'candidate', candidate: { candidate: c.candidate, sdpMid: c.sdpMid, sdpMLineIndex: c.sdpMLineIndex } });
    });
    pc.addEventListener('iceconnectionstatechange', () => {
      if (pc === this.pc && pc.iceConnectionState === 'disconnected') this.restartIce();
    });
    pc.addEventListener('connectionstatechange', () => {
      if (pc !== this.pc || pc.connectionState !== 'failed') return;
      // An ICE restart first; a new connection if it does not mend it.
      this.restartIce();
      setTimeout(() => {
        if (pc === this.pc && pc.connectionState === 'failed') this.dropped();
      }, ICE_RESTART_WAIT);
    });
    this.emit(again ? 'reconnected' : 'welcome', msg);
    if (msg.startAudioOff === false && !this.media.touched.audio && !this.media.audio) this.media.set('audio', true);
    if (msg.startVideoOff === false && !this.media.touched.video && !this.media.video) this.media.set('video', true);
  }

  async onOffer(sdp) {
    const pc = this.pc;
    if (!pc) return;
    await pc.setRemoteDescription({ type: 'offer', sdp });
    const sections = parseSDP(sdp);
    if (!this.ownMids) {
      // Our own transceivers lead the first offer, the ones the server
      // receives on: microphone, camera, then the screen.
      const own = [];
      for (const s of sections) {
        if (s.direction !== 'recvonly' || own.length === 3) break;
        own.push(s);
      }
      this.ownMids = {
        audio: own.find((s) => s.kind === 'audio')?.mid ?? null,
        video: own.filter((s) => s.kind === 'video')[0]?.mid ?? null,
        screen: own.filter((s) => s.kind === 'video')[1]?.mid ?? null,
      };
    }
    const own = new Set(Object.values(this.ownMids).filter((m) => m !== null));
    for (const tr of pc.getTransceivers()) {
      if (own.has(tr.mid) && tr.direction !== 'sendonly') tr.direction = 'sendonly';
    }
    await this.attachLocal();
    const answer = await pc.createAnswer();
    await pc.setLocalDescription(answer);
    if (pc !== this.pc) return;
    // The answer before any candidate gathered for it (an ICE restart's).
    this.send({ type: 'answer', sdp: pc.localDescription.sdp });
    await this.layerCamera();
    this.reconcile(sections, own);
  }

  // layerCamera scales the camera's simulcast layers (LAYERS), which the
  // answer took from the server's offer. A browser that answered without
  // simulcast has one encoding, left as it is.
  async layerCamera() {
    const pc = this.pc;
    const tr = pc?.getTransceivers().find((x) => x.mid === this.ownMids?.video);
    if (!tr) return;
    const p = tr.sender.getParameters();
    const encs = p.encodings ?? [];
    if (encs.length < 2 || encs.every((e) => !LAYERS[e.rid] || e.scaleResolutionDownBy === LAYERS[e.rid].scale)) return;
    for (const e of encs) {
      if (!LAYERS[e.rid]) continue;
      e.scaleResolutionDownBy = LAYERS[e.rid].scale;
      e.maxBitrate = LAYERS[e.rid].maxBitrate;
    }
    try {
      await tr.sender.setParameters(p);
    } catch {
      // closed meanwhile: the layers keep the browser's defaults
    }
  }

  // attachLocal puts the current local tracks on our transceivers.
  async attachLocal() {
    const pc = this.pc;
    if (!pc || !this.ownMids || pc.signalingState === 'closed') return;
    const want = { audio: this.media.audio, video: this.media.video, screen: this.media.screen };
    for (const [kind, mid] of Object.entries(this.ownMids)) {
      if (mid === null) continue;
      const tr = pc.getTransceivers().find((x) => x.mid === mid);
      if (tr && tr.sender.track !== want[kind]) {
        try {
          await tr.sender.replaceTrack(want[kind]);
        } catch {
          // closed meanwhile
        }
      }
    }
  }

  // reconcile updates the remote tracks from the sections of an offer.
  reconcile(sections, own) {
    const now = new Map();
    for (const s of sections) {
      if (own.has(s.mid) || s.port === 0 || (s.direction !== 'sendonly' && s.direction !== 'sendrecv')) continue;
      const tr = this.pc.getTransceivers().find((x) => x.mid === s.mid);
      if (!tr) continue;
      now.set(s.mid, { mid: s.mid, kind: s.kind, track: tr.receiver.track, receiver: tr.receiver, streamId: s.streamId, trackId: s.trackId });
    }
    for (const [mid, r] of this.remotes) {
      const n = now.get(mid);
      if (!n || n.streamId !== r.streamId || n.trackId !== r.trackId) this.remotes.delete(mid);
    }
    for (const [mid, n] of now) {
      if (!this.remotes.has(mid)) this.remotes.set(mid, n);
    }
    this.relabel();
  }

  // relabel names each remote track after the tracks message.
  relabel() {
    for (const r of this.remotes.values()) {
      const info = this.trackInfo.find((x) => x.streamId === r.streamId && x.trackId === r.trackId)
        || this.trackInfo.find((x) => x.streamId === r.streamId && (r.kind === 'audio') === (x.source === 'microphone'));
      r.participantId = info ? info.participantId : null;
      r.name = info ? info.name : (r.participantId && this.peers.get(r.participantId)) || '';
      r.source = info ? info.source : r.kind === 'audio' ? 'microphone' : 'camera';
    }
    this.emit('remotes');
  }

  // heard notes that the server spoke: every message answers the pings.
  heard() {
    this.lastHeard = Date.now();
    this.unanswered = 0;
  }

  // startWatch keeps the socket alive and watches the connection (in the
  // call and while held): pings, their answers, and what the peer
  // connection receives. Timers of a hidden tab run once a second at most,
  // so every limit holds at that pace too.
  startWatch() {
    clearInterval(this.watcher);
    this.heard();
    this.lastPing = 0;
    this.late = false;
    this.resetMedia();
    this.watcher = setInterval(() => this.watch(), WATCH_EVERY);
  }

  watch() {
    const now = Date.now();
    if (now - this.lastPing >= PING_EVERY - 100) {
      this.lastPing = now;
      // Only pings sent since the server last spoke are waited for: a
      // page whose timers were slowed sent none.
      if (!this.unanswered) this.unanswered = now;
      this.send({ type: 'ping' });
    }
    this.late = this.unanswered > 0 && now - this.unanswered > LATE_AFTER;
    if (this.late && now - this.lastHeard > SILENCE_LIMIT) {
      this.dropped('timeout');
      return;
    }
    if (this.flow.stalledSince && now - this.flow.stalledSince > MEDIA_LIMIT) {
      this.dropped('media-failed');
      return;
    }
    if (now - this.flow.sampled >= MEDIA_EVERY - 100) this.sampleMedia();
    this.setTrouble(this.late, !!this.flow.stalledSince);
  }

  resetMedia() {
    this.flow = { sampled: 0, busy: false, received: -1, changed: 0, sent: -1, stalledSince: 0 };
  }

  // sampleMedia reads what the peer connection received, RTP (inbound-rtp)
  // and RTCP (the transport's selected candidate pair): media stalls when
  // nothing came for MEDIA_STALL while something should, that is while we
  // send (the server answers with RTCP receiver reports and congestion
  // feedback) or while a remote track we had packets of is there (the
  // server sends RTCP sender reports for it every second, even while its
  // owner has turned it off). When the last packet is known from the
  // stats (lastPacketReceivedTimestamp) it is read, else the time of the
  // sample that first saw the counts grow.
  async sampleMedia() {
    const pc = this.pc;
    const m = this.flow;
    if (!pc || m.busy || (pc.connectionState !== 'connected' && pc.connectionState !== 'disconnected')) return;
    m.busy = true;
    let stats;
    try {
      stats = await pc.getStats();
    } catch {
      return;
    } finally {
      m.busy = false;
    }
    if (pc !== this.pc || m !== this.flow) return;
    const now = Date.now();
    m.sampled = now;
    const remote = new Set([...this.remotes.values()].map((r) => r.track && r.track.id));
    const pairs = new Set();
    stats.forEach((r) => {
      if (r.type === 'transport' && r.selectedCandidatePairId) pairs.add(r.selectedCandidatePairId);
    });
    let received = 0;
    let sent = 0;
    let expected = false;
    let age = Infinity; // ms since the last packet, when the stats say
    const seen = (r) => {
      if (r.lastPacketReceivedTimestamp > 0 && r.timestamp > 0) age = Math.min(age, Math.max(0, r.timestamp - r.lastPacketReceivedTimestamp));
    };
    stats.forEach((r) => {
      if (r.type === 'inbound-rtp') {
        received += r.packetsReceived || 0;
        if (r.packetsReceived > 0 && remote.has(r.trackIdentifier)) expected = true;
        seen(r);
      } else if (r.type === 'outbound-rtp') {
        sent += r.packetsSent || 0;
      } else if (r.type === 'candidate-pair' && (pairs.has(r.id) || (!pairs.size && r.nominated && r.state === 'succeeded'))) {
        received += r.bytesReceived || 0;
        seen(r);
      }
    });
    if (m.sent >= 0 && sent > m.sent) expected = true;
    m.sent = sent;
    if (received !== m.received) {
      m.received = received;
      m.changed = now;
    }
    const last = Number.isFinite(age) ? now - age : m.changed;
    // Nothing received yet on this connection: nothing has stalled.
    const stalled = expected && received > 0 && now - last > MEDIA_STALL;
    if (!stalled) m.stalledSince = 0;
    else if (!m.stalledSince) m.stalledSince = last;
    // Media stalled while signalling is fine: the network may have
    // changed under the peer connection.
    if (m.stalledSince && !this.late) this.restartIce();
    this.setTrouble(this.late, !!m.stalledSince);
  }

  // restartIce asks the server for an ICE restart (docs/signalling.md,
  // "Reconnecting"): its next offer has new ICE credentials, answered as
  // any other, and the checks find a path on the network as it is now,
  // without a new connection. At most one every ICE_RESTART_EVERY.
  restartIce() {
    const now = Date.now();
    if (!this.pc || !this.ws || this.ws.readyState !== WebSocket.OPEN || now - (this.iceRestartAt || 0) < ICE_RESTART_EVERY) return;
    this.iceRestartAt = now;
    this.send({ type: 'restart-ice' });
  }

  // setTrouble tells when the connection gets into or out of trouble, or
  // when what stalls changes.
  setTrouble(signalling, media) {
    const key = (signalling ? 's' : '') + (media ? 'm' : '');
    if (key === this.trouble) return;
    this.trouble = key;
    this.emit('trouble', { on: key !== '', signalling, media });
  }

  // enter joins the call from the lobby (the pre-join screen).
  enter() {
    this.lobby = false;
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.send({ type: 'join' });
  }

  admit(participantId) {
    this.send({ type: 'admit', participantId });
  }

  decline(participantId) {
    this.send({ type: 'decline', participantId });
  }

  autoAdmit(on) {
    this.send({ type: 'auto-admit', on });
  }

  // moderate sends a moderation action (mute, unmute, camera-off,
  // camera-on, remove) for another participant.
  moderate(participantId, action) {
    this.send({ type: 'moderate', participantId, action });
  }

  chat(text) {
    this.send({ type: 'chat', text });
  }

  present(on) {
    this.send({ type: 'present', on });
  }

  // board sends an operation on the whiteboard (docs/signalling.md).
  board(op) {
    this.send({ type: 'board', op });
  }

  // pointer sends the live pointer: {on: true, of, source, x, y} or {on: false}.
  pointer(p) {
    this.send({ type: 'pointer', ...p });
  }

  // leave tells the server we leave and closes everything.
  leave() {
    this.send({ type: 'leave' });
    const ws = this.ws;
    this.finish();
    if (ws) ws.close(1000);
  }

  // finish closes the call for good (an end message, a leave).
  finish() {
    this.closed = true;
    this.teardown();
    this.ws = null;
    clearTimeout(this.retry);
    this.media.removeEventListener('change', this.onMediaChange);
  }

  teardown() {
    clearInterval(this.watcher);
    clearTimeout(this.opening);
    this.setTrouble(false, false);
    this.resetMedia();
    if (this.pc) this.pc.close();
    this.pc = null;
    if (this.remotes.size) {
      this.remotes.clear();
      this.emit('remotes');
    }
  }

  // dropped handles a connection lost (reason empty), or ended by the
  // server with a reason to connect again: tear down and try again with a
  // fresh token, with exponential backoff. A server going away (shutdown)
  // is shown as restarting until the call is back.
  dropped(reason = '') {
    if (this.closed) return;
    const ws = this.ws;
    this.ws = null;
    if (ws && ws.readyState <= WebSocket.OPEN) ws.close(4000);
    this.teardown();
    if (reason === 'shutdown') this.restarting = true;
    this.emit('reconnecting', { reason: this.restarting ? 'restarting' : 'lost' });
    // Everyone of a server going away reconnects: spread over a second.
    this.scheduleReconnect(reason === 'shutdown' ? 250 + Math.random() * 1000 : 0);
  }

  scheduleReconnect(atLeast = 0) {
    if (this.closed) return;
    clearTimeout(this.retry);
    const delay = Math.max(atLeast, Math.min(RETRY_MAX, 500 * 2 ** this.attempt) * (0.8 + Math.random() * 0.4));
    this.attempt++;
    this.retry = setTimeout(() => {
      // A fresh token each time: the old one may have been revoked.
      if (this.session.data) this.session.data.expiresAt = new Date(0).toISOString();
      this.connect();
    }, delay);
  }
}
