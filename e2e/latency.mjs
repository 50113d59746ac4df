// Glass-to-glass latency in Chromium (Debian's, headless, driven by
// playwright-core), for part 4 of scripts/bench: `vgbench latency` runs
// this once per browser phase and matches what it prints against its
// camera's send log.
//
//   node e2e/latency.mjs --page URL --source NAME --player webrtc|hls|mjpeg [--settle-ms N] [--window-ms N]
//   node e2e/latency.mjs --whep URL [--settle-ms N] [--window-ms N]
//
// --page opens visiongate's page (URL/?source=NAME) and plays the source
// with the page's own player: WebRTC (its default), or HLS (hls.js) or
// MJPEG (<img>) through the card's buttons. --whep plays another server's
// WHEP endpoint (MediaMTX) with the page's whep.js in a bare page of the
// script's own, served at the endpoint's origin (no CORS in the way).
//
// Every presented picture is drawn into a canvas and its frame code read
// (the black/white squares `vgbench codefilter` burns into the clip: the
// layout of cmd/vgbench/mjpegread.go). A <video> picture is timed by
// requestVideoFrameCallback's presentationTime (handed to the compositor),
// an MJPEG picture by the animation frame in which the <img> first shows
// it. Times are wall-clock milliseconds (performance.timeOrigin + the
// page's monotonic clock), the same clock the camera's log is converted to.
// Frames are recorded for --window-ms, starting --settle-ms after the
// first readable picture.
//
// Prints one JSON object on stdout: frames ([code, ms] pairs; code -1:
// unreadable), presented (pictures shown in the window, read or not),
// mode, size, and per-player notes; logs go to stderr. Exits non-zero when
// the player does not show a readable picture within --start-ms.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const opts = {
  page: '', source: 'lat', player: 'webrtc', whep: '', 'settle-ms': '3000', 'window-ms': '10000', 'start-ms': '30000',
};
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  const k = argv[i].replace(/^--/, '');
  if (!(k in opts) || i + 1 >= argv.length) {
    console.error(`usage: node e2e/latency.mjs --page URL --source NAME --player webrtc|hls|mjpeg | --whep URL
  [--settle-ms N] [--window-ms N] [--start-ms N] (unknown or incomplete: ${argv[i]})`);
    process.exit(2);
  }
  opts[k] = argv[++i];
}
if (!opts.page === !opts.whep || !['webrtc', 'hls', 'mjpeg'].includes(opts.player)) {
  console.error('latency.mjs: give --page or --whep; --player is webrtc, hls or mjpeg');
  process.exit(2);
}
const settleMs = Number(opts['settle-ms']);
const windowMs = Number(opts['window-ms']);
const startMs = Number(opts['start-ms']);

const CHROMIUM = process.env.VG_CHROMIUM || '/usr/bin/chromium';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--allow-loopback-in-peer-connection', // both servers' WebRTC listen on 127.0.0.1 here
  '--autoplay-policy=no-user-gesture-required',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  '--disable-background-timer-throttling', '--disable-renderer-backgrounding'];
const WHEP_JS = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'web', 'ui', 'static', 'whep.js');

const started = Date.now();
const log = (...a) => console.error(`[latency.mjs ${((Date.now() - started) / 1000).toFixed(1)}s]`, ...a);

// record runs in the page: it reads the frame code of every picture el
// shows until the window has passed, and resolves with what it saw.
// Kept self-contained: playwright sends its source to the page.
function record({ sel, kind, settleMs, windowMs, startMs }) {
  // The code's layout in 1280x720 coordinates (cmd/vgbench/mjpegread.go).
  const BITS = 10, X0 = 40, Y0 = 40, STEP = 80, SQ = 60, SCALE = 4;
  const stripW = X0 + (BITS + 2) * STEP; // up to the always-black square
  const stripH = Y0 + SQ + 20;
  const cw = Math.ceil(stripW / SCALE), ch = Math.ceil(stripH / SCALE);
  const canvas = document.createElement('canvas');
  canvas.width = cw;
  canvas.height = ch;
  const g = canvas.getContext('2d', { willReadFrequently: true, alpha: false });
  const el = document.querySelector(sel);
  const readCode = (w, h) => {
    if (!w || !h) return -1;
    g.drawImage(el, 0, 0, (stripW * w) / 1280, (stripH * h) / 720, 0, 0, cw, ch);
    const d = g.getImageData(0, 0, cw, ch).data;
    const center = (k) => { // mean luma of the 3x3 canvas pixels at the square's centre
      const cx = Math.floor((X0 + k * STEP + SQ / 2) / SCALE), cy = Math.floor((Y0 + SQ / 2) / SCALE);
      let s = 0;
      for (let y = cy - 1; y <= cy + 1; y++) {
        for (let x = cx - 1; x <= cx + 1; x++) {
          const i = (y * cw + x) * 4;
          s += 0.299 * d[i] + 0.587 * d[i + 1] + 0.114 * d[i + 2];
        }
      }
      return s / 9;
    };
    const white = center(BITS), black = center(BITS + 1);
    if (white - black < 100) return -1;
    const mid = (white + black) / 2;
    let code = 0;
    for (let k = 0; k < BITS; k++) if (center(k) > mid) code |= 1 << k;
    return code;
  };
  const T0 = performance.timeOrigin;
  return new Promise((resolve) => {
    const frames = [];
    const extra = []; // per frame: [display − presentation, presentation − receive] (video)
    let first = 0; // page time of the first readable picture
    let winStart = Infinity;
    let winEnd = Infinity;
    let presented = 0;
    let presentedAtStart = -1;
    let presentedFrames = 0;
    let last = -2;
    let done = false;
    let giveUp = setTimeout(() => finish('no readable picture'), startMs);
    const finish = (error) => {
      if (done) return;
      done = true;
      clearTimeout(giveUp);
      resolve({
        error: error || '',
        frames,
        extra,
        // video: frames the compositor got (some skip the callback); img: pictures seen
        presented: kind === 'video' ? presentedFrames - Math.max(presentedAtStart, 0) : presented,
        callbacks: presented,
        width: kind === 'video' ? el.videoWidth : el.naturalWidth,
        height: kind === 'video' ? el.videoHeight : el.naturalHeight,
        first_ms: first ? T0 + first : 0,
        clock_skew_ms: Date.now() - (T0 + performance.now()),
      });
    };
    const seen = (code, t) => {
      if (code >= 0 && !first) {
        first = t;
        winStart = t + settleMs;
        winEnd = winStart + windowMs;
        clearTimeout(giveUp); // the window ends with the first picture past it, or here if pictures stop
        giveUp = setTimeout(() => finish('the pictures stopped'), settleMs + windowMs + 3000);
      }
      return t >= winStart;
    };
    if (kind === 'video') {
      const onFrame = (now, md) => {
        if (done) return;
        if (now >= winEnd) return finish('');
        const code = readCode(md.width, md.height);
        if (seen(code, md.presentationTime)) {
          if (presentedAtStart < 0) presentedAtStart = md.presentedFrames - 1;
          presentedFrames = md.presentedFrames;
          presented++;
          frames.push([code, T0 + md.presentationTime]);
          extra.push([md.expectedDisplayTime - md.presentationTime,
            md.receiveTime ? md.presentationTime - md.receiveTime : null]);
        }
        el.requestVideoFrameCallback(onFrame);
      };
      el.requestVideoFrameCallback(onFrame);
    } else {
      const onAnim = (now) => {
        if (done) return;
        if (now >= winEnd) return finish('');
        const code = el.naturalWidth ? readCode(el.naturalWidth, el.naturalHeight) : -1;
        if (code !== last) { // a new picture (or a change between readable and not)
          last = code;
          if (seen(code, now)) {
            presented++;
            frames.push([code, T0 + now]);
          }
        }
        requestAnimationFrame(onAnim);
      };
      requestAnimationFrame(onAnim);
    }
  });
}

async function openVisiongate(page) {
  const card = `[data-source="${opts.source}"]`;
  const base = opts.page.replace(/\/+$/, '');
  await page.goto(`${base}/?source=${encodeURIComponent(opts.source)}`);
  await page.locator(`${card}[data-mode="webrtc"]`).waitFor({ timeout: 15000 });
  const want = { webrtc: 'webrtc', hls: 'hls.js', mjpeg: 'mjpeg' }[opts.player];
  if (opts.player !== 'webrtc') {
    await page.click(`${card} button[data-action="${opts.player}"]`);
    await page.locator(`${card}[data-mode="${want}"]`).waitFor({ timeout: 5000 });
  }
  return { sel: opts.player === 'mjpeg' ? `${card} img.mjpeg` : `${card} video`, kind: opts.player === 'mjpeg' ? 'img' : 'video', card, want };
}

// openWHEP serves a bare page at the WHEP endpoint's origin that plays it
// with whep.js.
async function openWHEP(page) {
  const origin = new URL(opts.whep).origin;
  const html = `<!doctype html><meta charset="utf-8"><title>vgbench WHEP</title>
<style>body{margin:0;background:#000}video{width:960px;height:540px}</style>
<video id="v" muted autoplay playsinline></video>
<script src="/__vgbench/whep.js"></script>
<script>
  window.whepFail = '';
  window.player = new WHEPPlayer(${JSON.stringify(opts.whep)}, document.getElementById('v'),
    { onFail: (r) => { window.whepFail = r; } });
  window.player.start();
</script>`;
  await page.route(`${origin}/__vgbench/**`, (route) => {
    const u = new URL(route.request().url());
    if (u.pathname === '/__vgbench/whep.js') {
      return route.fulfill({ contentType: 'text/javascript', body: fs.readFileSync(WHEP_JS, 'utf8') });
    }
    return route.fulfill({ contentType: 'text/html', body: html });
  });
  await page.goto(`${origin}/__vgbench/latency.html`);
  return { sel: '#v', kind: 'video' };
}

async function main() {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'vgbench-chromium-'));
  let ctx;
  let code = 0;
  try {
    ctx = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM, headless: true, args: ARGS, viewport: { width: 1280, height: 900 },
    });
    const page = ctx.pages()[0] || await ctx.newPage();
    page.setDefaultTimeout(15000);
    page.on('pageerror', (e) => log(`page error: ${e.message}`));
    page.on('console', (m) => { if (m.type() === 'error') log(`console: ${m.text()}`); });
    const target = opts.whep ? await openWHEP(page) : await openVisiongate(page);
    log(`playing ${opts.whep || `${opts.page} ${opts.player}`}; recording`);
    const res = await page.evaluate(record, { sel: target.sel, kind: target.kind, settleMs, windowMs, startMs });
    if (target.card) {
      res.mode = await page.locator(target.card).getAttribute('data-mode');
      res.mode_text = await page.locator(`${target.card} [data-field="mode"]`).innerText();
      if (res.mode !== target.want && !res.error) res.error = `the page switched to ${res.mode}: ${res.mode_text}`;
    } else {
      res.mode = 'whep';
      const fail = await page.evaluate(() => window.whepFail);
      if (fail && !res.error) res.error = `WHEP: ${fail}`;
    }
    res.window_ms = windowMs;
    process.stdout.write(`${JSON.stringify(res)}\n`);
    log(`${res.frames.length} pictures in the window, ${res.width}x${res.height}, mode ${res.mode}` +
      `${res.error ? `; error: ${res.error}` : ''}`);
    if (res.error && !res.frames.length) code = 1;
  } catch (e) {
    log(`FAIL: ${e.stack || e}`);
    process.stdout.write(`${JSON.stringify({ error: String(e.message || e), frames: [] })}\n`);
    code = 1;
  } finally {
    if (ctx) await ctx.close().catch(() => {});
    fs.rmSync(profile, { recursive: true, force: true });
  }
  process.exit(code);
}

main();
