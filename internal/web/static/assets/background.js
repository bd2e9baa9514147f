// The virtual background: the camera's frames go through a canvas where
// the person (found by MediaPipe's selfie segmentation, vendored from npm
// by scripts/vendor-selfie-segmentation.sh and run here in WebAssembly) is
// drawn over a blurred copy of the frame or over the company's background
// image; the canvas's track is what the call sends and the self-view shows.
// Nothing is fetched but this origin's assets, and no frame leaves the
// page but in the call.

import { h, icon } from './dom.js';
import { t } from './i18n.js';

// version is this module's asset version (?v=…): the vendored files are
// asked for with it, so they are cached like every asset.
const version = new URL(import.meta.url).search;
const asset = (name) => new URL('./' + name + version, import.meta.url).href;

// files maps the names the segmentation code asks for to our assets. Only
// the SIMD runtime and the landscape model are vendored: a file not in
// the map (the runtime without SIMD, the other model) is not there, and
// the background is then unavailable.
const files = {
  'selfie_segmentation_solution_simd_wasm_bin.js': 'selfie-segmentation-wasm.js',
  'selfie_segmentation_solution_simd_wasm_bin.wasm': 'selfie-segmentation.wasm',
  'selfie_segmentation.binarypb': 'selfie-segmentation.binarypb',
  'selfie_segmentation_landscape.tflite': 'selfie-segmentation-landscape.tflite',
};
const locate = (file) => (files[file] ? asset(files[file]) : asset('missing-' + file.replace(/[^a-z0-9_.-]/gi, '')));

// The runtime adds one script element (its WebAssembly loader). The page
// enforces Trusted Types, so that URL must come through a policy: the
// default policy lets exactly that asset of this origin through, and
// nothing else (it makes no HTML and no script text).
let policy = null;
function allowRuntime() {
  if (policy || !window.trustedTypes || !window.trustedTypes.createPolicy) return;
  const runtime = asset(files['selfie_segmentation_solution_simd_wasm_bin.js']);
  policy = window.trustedTypes.createPolicy('default', {
    createScriptURL: (url) => {
      if (url === runtime) return url;
      throw new TypeError('script URL refused');
    },
  });
}

// The segmenter is made once per page (its runtime is 6 MB of
// WebAssembly) and shared by every camera track in turn.
let segmenter = null;
let current = null; // the pipeline whose frames the segmenter works on
function loadSegmenter() {
  if (!segmenter) {
    segmenter = (async () => {
      allowRuntime();
      await import(asset('selfie-segmentation.js'));
      const s = new window.SelfieSegmentation({ locateFile: locate });
      // The landscape model (256×144) is the faster one; selfieMode off:
      // the self-view mirrors on its own.
      s.setOptions({ modelSelection: 1, selfieMode: false });
      s.onResults((r) => {
        if (current) current.draw(r);
      });
      await s.initialize();
      return s;
    })();
    segmenter.catch(() => {
      segmenter = null; // a later camera start tries again
    });
  }
  return segmenter;
}

// The largest frame drawn: enough for a call's video, and what a
// mid-range laptop composes at full rate.
const MAX_W = 960;
const MAX_H = 540;

// stats are the figures of the running pipeline, shown to nobody: frames
// composed per second over the last second (also the page's
// data-background-fps, which the tests read).
export const stats = { fps: 0, frames: 0, mode: '' };

// backgroundToggle is the button that switches the background off and on
// again, for a session whose background may be turned off (canTurnOff).
export function backgroundToggle(media, bg, withLabel) {
  const btn = h('button', { type: 'button', class: withLabel ? 'ctl' : 'toggle', 'data-testid': 'background' });
  const update = () => {
    const on = media.processor === bg;
    const label = t(on ? 'background.turnOff' : 'background.turnOn');
    btn.setAttribute('aria-pressed', String(on));
    btn.setAttribute('aria-label', label);
    btn.title = label;
    btn.classList.toggle('off', !on);
    btn.replaceChildren(icon('background'), withLabel ? h('span', { class: 'ctl-label', text: t('background') }) : '');
  };
  btn.addEventListener('click', async () => {
    btn.disabled = true;
    await media.setVideoProcessor(media.processor === bg ? null : bg);
    btn.disabled = false;
    update();
  });
  update();
  return btn;
}

// Background applies the session's background ({mode: 'blur'|'image',
// imageUrl}) to camera tracks. It is what LocalMedia calls with each new
// camera track (media.setVideoProcessor).
export class Background {
  constructor(config) {
    this.mode = config.mode === 'image' && config.imageUrl ? 'image' : 'blur';
    this.image = null;
    if (this.mode === 'image') {
      // Same origin (the service serves the company's image): the canvas
      // stays readable, so its track may be sent.
      const img = new Image();
      img.decoding = 'async';
      img.src = new URL(config.imageUrl, location.href).href;
      this.image = img.decode().then(() => img, () => null);
    }
  }

  // process returns the track to send for camera track raw: a canvas
  // track that ends with raw. It rejects when the segmenter cannot run
  // here; the caller then decides what to send.
  async process(raw) {
    const [seg, image] = await Promise.all([loadSegmenter(), this.image]);
    const video = document.createElement('video');
    video.muted = true;
    video.playsInline = true;
    video.srcObject = new MediaStream([raw]);
    await video.play();
    const s = raw.getSettings();
    const scale = Math.min(1, MAX_W / (video.videoWidth || s.width || MAX_W), MAX_H / (video.videoHeight || s.height || MAX_H));
    const canvas = document.createElement('canvas');
    canvas.width = Math.round((video.videoWidth || s.width || 640) * scale);
    canvas.height = Math.round((video.videoHeight || s.height || 480) * scale);
    const ctx = canvas.getContext('2d');
    const out = canvas.captureStream(Math.min(30, s.frameRate || 30)).getVideoTracks()[0];
    const blur = Math.max(8, Math.round(canvas.width / 40));
    let stopped = false;
    let count = 0;
    let since = performance.now();
    const pipe = {
      draw: (r) => {
        if (stopped) return;
        const { width: w, height: hgt } = canvas;
        ctx.save();
        ctx.clearRect(0, 0, w, hgt);
        ctx.drawImage(r.segmentationMask, 0, 0, w, hgt);
        // Keep the frame where the mask is: the person.
        ctx.globalCompositeOperation = 'source-in';
        ctx.drawImage(r.image, 0, 0, w, hgt);
        // Put the background behind it.
        ctx.globalCompositeOperation = 'destination-over';
        if (image) {
          cover(ctx, image, w, hgt);
        } else {
          ctx.filter = `blur(${blur}px)`;
          ctx.drawImage(r.image, 0, 0, w, hgt);
        }
        ctx.restore();
        count++;
        stats.frames++;
        const now = performance.now();
        if (now - since >= 1000) {
          stats.fps = Math.round((count * 1000) / (now - since));
          document.documentElement.dataset.backgroundFps = String(stats.fps);
          count = 0;
          since = now;
        }
      },
    };
    stats.mode = image ? 'image' : 'blur';
    const stop = () => {
      if (stopped) return;
      stopped = true;
      if (current === pipe) current = null;
      video.srcObject = null;
      raw.stop();
      out.stop();
      stats.fps = 0;
    };
    raw.addEventListener('ended', () => {
      // Unplugged: the sent track ends too, and says so.
      stop();
      out.dispatchEvent(new Event('ended'));
    });
    // The track's own stop() does not fire 'ended' on it: LocalMedia calls
    // release when it stops the track it was given.
    out.release = stop;
    current = pipe;
    // One frame at a time: the next is sent when the last was composed
    // and the camera has a new one.
    const next = video.requestVideoFrameCallback
      ? () => new Promise((resolve) => video.requestVideoFrameCallback(() => resolve()))
      : () => new Promise((resolve) => setTimeout(resolve, 33));
    (async () => {
      while (!stopped) {
        try {
          if (current === pipe && video.readyState >= 2) await seg.send({ image: video });
        } catch {
          // A frame the segmenter refused: try the next one.
        }
        await next();
      }
    })();
    return out;
  }
}

// cover draws img over the whole canvas, cropped to keep its proportions.
function cover(ctx, img, w, hgt) {
  const r = Math.max(w / img.naturalWidth, hgt / img.naturalHeight);
  const sw = w / r;
  const sh = hgt / r;
  ctx.drawImage(img, (img.naturalWidth - sw) / 2, (img.naturalHeight - sh) / 2, sw, sh, 0, 0, w, hgt);
}
