// visiongate's page: polls the source list, plays each source over WebRTC
// (WHEP), falling back to HLS (hls.js, or the browser's own player) and
// then MJPEG on its own, shows detections from the SSE events, and adds and
// removes sources through the REST API.
'use strict';

const API = '/api/v1/sources';
const POLL_MS = 1500;
const HLS_START_TIMEOUT_MS = 20000; // no picture by then: fall back to MJPEG
// Browsers open at most 6 HTTP/1.1 connections per host, and every event
// stream (like every MJPEG picture and LL-HLS playlist wait) holds one:
// past this many event streams, detections are polled instead.
const MAX_EVENT_STREAMS = 2;

const cards = new Map(); // name -> card
// ?source=NAME shows that source alone (a single-camera view).
const ONLY = new URLSearchParams(location.search).get('source');
window.visiongate = { cards }; // for the browser test and the curious

const $ = (sel, root = document) => root.querySelector(sel);
const enc = encodeURIComponent;

// ---- source list -------------------------------------------------------

async function refresh() {
  let list;
  try {
    const r = await fetch(API, { cache: 'no-store' });
    if (!r.ok) throw new Error(`HTTP ${r.status}`);
    list = (await r.json()).sources || [];
    setConn('', false);
  } catch (e) {
    setConn(`gateway unreachable (${e.message}); retrying`, true);
    return;
  }
  if (ONLY) list = list.filter((st) => st.name === ONLY);
  const seen = new Set();
  for (const st of list) {
    seen.add(st.name);
    let card = cards.get(st.name);
    if (!card) {
      card = createCard(st);
      cards.set(st.name, card);
    }
    updateCard(card, st);
  }
  for (const name of [...cards.keys()]) {
    if (!seen.has(name)) dropCard(name);
  }
  $('#empty').hidden = cards.size > 0;
}

function setConn(text, bad) {
  const el = $('#conn');
  el.textContent = text || `${cards.size} source${cards.size === 1 ? '' : 's'} · live`;
  el.classList.toggle('bad', bad);
}

async function poll() {
  await refresh();
  setTimeout(poll, POLL_MS);
}

// ---- one source's card -------------------------------------------------

function createCard(st) {
  const el = $('#source-template').content.firstElementChild.cloneNode(true);
  el.dataset.source = st.name;
  $('.name', el).textContent = st.name;
  const card = {
    name: st.name, el, video: $('video', el), img: $('img.mjpeg', el),
    hls: null, whep: null, latency: 0, watchdog: 0, mode: '', events: null, detector: null, inputWidth: 0,
  };
  card.video.muted = true; // muted video may autoplay everywhere
  card.img.alt = `Live MJPEG of ${st.name}`;
  el.addEventListener('click', (ev) => onCardClick(card, ev));
  $('#sources').append(el);
  startWebRTC(card);
  return card;
}

function onCardClick(card, ev) {
  const btn = ev.target.closest('button[data-action]');
  if (!btn) return;
  switch (btn.dataset.action) {
    case 'webrtc': startWebRTC(card); break;
    case 'hls': startHLS(card, ''); break;
    case 'mjpeg': startMJPEG(card, ''); break;
    case 'remove': removeSource(card, btn); break;
    case 'copy': copyOutput(btn); break;
  }
}

function updateCard(card, st) {
  const f = (name) => $(`[data-field="${name}"]`, card.el);
  const state = f('state');
  state.textContent = st.state || 'unknown';
  state.className = `state state-${st.state}`;
  card.el.dataset.state = st.state || '';

  const inp = st.input || {};
  card.inputWidth = inp.width || 0;
  f('input').textContent = inp.codec
    ? `${inp.codec} ${inp.width}×${inp.height} @ ${fmt(inp.fps)} fps` : '—';
  f('decoder').textContent = codecText(st.decoder);
  f('decoder').title = (st.decoder && st.decoder.reason) || '';
  f('encoder').textContent = codecText(st.encoder);
  f('output').textContent = `${fmt(st.fps_out)} fps · ${st.frames_out ?? 0} frames`;
  const readers = Object.entries(st.readers || {}).map(([k, v]) => `${k} ${v}`);
  f('readers').textContent = readers.join(' · ') || '—';
  const err = f('last_error');
  err.textContent = st.last_error ? `Last error: ${st.last_error}` : '';
  err.hidden = !st.last_error;

  for (const input of card.el.querySelectorAll('input[data-output]')) {
    const url = displayURL((st.outputs || {})[input.dataset.output] || '');
    if (input.value !== url) input.value = url;
  }
  const vision = (st.source && st.source.vision) || {};
  const detector = vision.detector && vision.detector !== 'none' ? vision.detector : '';
  if (detector !== card.detector) watchDetections(card, detector);
  else if (detector && !card.events) pollDetections(card);
  if (card.hls && card.hls.latency > 0) showMode(card); // live latency figure
  if (card.whep) {
    const whep = card.whep;
    whep.latency().then((s) => {
      if (card.whep !== whep) return;
      card.latency = s;
      showMode(card);
    });
  }
}

function codecText(c) {
  if (!c || !c.name) return '—';
  return `${c.name} (${c.hardware ? 'hardware' : 'software'})`;
}

function fmt(n) {
  return typeof n === 'number' ? (Math.round(n * 10) / 10).toString() : '0';
}

// Outputs name loopback when the gateway has no public_host; a browser on
// another machine reaches it by the name it used for this page.
function displayURL(u) {
  if (!u) return '';
  try {
    const url = new URL(u);
    const loop = (h) => h === 'localhost' || h.startsWith('127.') || h === '[::1]';
    if (loop(url.hostname) && !loop(location.hostname)) {
      url.hostname = location.hostname;
      return url.toString();
    }
  } catch { /* not a URL: show as is */ }
  return u;
}

function dropCard(name) {
  const card = cards.get(name);
  if (!card) return;
  stopPlayer(card);
  if (card.events) card.events.close();
  card.el.remove();
  cards.delete(name);
}

// ---- players -----------------------------------------------------------

function stopPlayer(card) {
  clearTimeout(card.watchdog);
  if (card.whep) {
    card.whep.stop();
    card.whep = null;
  }
  card.video.srcObject = null;
  card.latency = 0;
  if (card.hls) {
    card.hls.destroy();
    card.hls = null;
  }
  card.video.onerror = null;
  card.video.removeAttribute('src');
  card.video.load();
  card.img.removeAttribute('src'); // closes the MJPEG connection
}

// startWebRTC plays over WHEP; when WebRTC cannot connect (no UDP or TCP
// path, ICE failure) or never shows a picture, HLS takes over.
function startWebRTC(card) {
  stopPlayer(card);
  if (!window.RTCPeerConnection || !window.WHEPPlayer) {
    startHLS(card, 'this browser has no WebRTC');
    return;
  }
  const v = card.video;
  const whep = new window.WHEPPlayer(`/webrtc/${enc(card.name)}/whep`, v, {
    onFail: (reason) => { if (card.whep === whep) startHLS(card, reason); },
  });
  card.whep = whep;
  setMode(card, 'webrtc');
  whep.start();
  v.play().catch(() => { /* autoplay waits for data */ });
  card.watchdog = setTimeout(async () => {
    if (card.whep !== whep || v.currentTime > 0) return;
    whep.fail(`WebRTC showed no picture (${await whep.describe()})`);
  }, HLS_START_TIMEOUT_MS / 2);
}

function startHLS(card, reason) {
  stopPlayer(card);
  const url = `/hls/${enc(card.name)}/index.m3u8`;
  const v = card.video;
  if (window.Hls && window.Hls.isSupported()) {
    const hls = new window.Hls({
      lowLatencyMode: true,
      backBufferLength: 10,
      maxLiveSyncPlaybackRate: 1.5, // catch up with the live edge after a stall
      manifestLoadingTimeOut: 20000, // the server holds a playlist until it is ready
    });
    hls.on(window.Hls.Events.ERROR, (_, d) => {
      if (!d.fatal || card.hls !== hls) return;
      const code = d.response && d.response.code ? ` ${d.response.code}` : '';
      startMJPEG(card, `HLS failed: ${d.details}${code}`);
    });
    hls.loadSource(url);
    hls.attachMedia(v);
    card.hls = hls;
    setMode(card, 'hls.js', reason);
  } else if (v.canPlayType('application/vnd.apple.mpegurl')) {
    v.onerror = () => startMJPEG(card, 'HLS failed in the native player');
    v.src = url;
    setMode(card, 'native', reason);
  } else {
    startMJPEG(card, 'this browser plays no HLS');
    return;
  }
  v.play().catch(() => { /* autoplay waits for data; errors arrive as events */ });
  card.watchdog = setTimeout(() => {
    if (!(v.currentTime > 0)) startMJPEG(card, 'HLS did not start');
  }, HLS_START_TIMEOUT_MS);
}

function startMJPEG(card, reason) {
  stopPlayer(card);
  const box = card.el.querySelector('.player').clientWidth * (window.devicePixelRatio || 1);
  let width = box > 640 ? 1280 : 640; // few distinct widths: each is encoded once
  if (card.inputWidth && width > card.inputWidth) width = card.inputWidth;
  card.img.src = `/mjpeg/${enc(card.name)}?width=${width}`;
  setMode(card, 'mjpeg', reason);
}

// setMode shows which player runs and, after a fallback, why.
function setMode(card, mode, reason = '') {
  card.mode = mode;
  card.fallback = reason;
  card.el.dataset.mode = mode;
  const video = mode !== 'mjpeg';
  card.video.hidden = !video;
  card.img.hidden = video;
  const pressed = { webrtc: mode === 'webrtc', hls: mode === 'hls.js' || mode === 'native', mjpeg: !video };
  for (const [action, on] of Object.entries(pressed)) {
    $(`button[data-action="${action}"]`, card.el).setAttribute('aria-pressed', String(on));
  }
  showMode(card);
}

function showMode(card) {
  let text = {
    webrtc: 'WebRTC', 'hls.js': 'HLS · hls.js low latency', native: 'HLS · native player', mjpeg: 'MJPEG',
  }[card.mode];
  if (card.whep && card.latency > 0) text += ` · latency ${Math.round(card.latency * 1000)} ms`;
  if (card.hls && card.hls.latency > 0) text += ` · latency ${card.hls.latency.toFixed(1)} s`;
  if (card.fallback) text += ` (${card.fallback})`;
  $('[data-field="mode"]', card.el).textContent = text;
}

// ---- detections --------------------------------------------------------

function watchDetections(card, detector) {
  if (card.events) card.events.close();
  card.events = null;
  card.detector = detector;
  const status = $('[data-field="detections"]', card.el);
  $('.boxes', card.el).replaceChildren();
  if (!detector) {
    status.textContent = 'no detector';
    return;
  }
  status.textContent = `${detector}: waiting for detections…`;
  const streams = [...cards.values()].filter((c) => c.events).length;
  if (streams >= MAX_EVENT_STREAMS) return; // updateCard polls instead
  const es = new EventSource(`${API}/${enc(card.name)}/events`);
  const onEvent = (ev) => {
    try { showDetections(card, JSON.parse(ev.data)); } catch { /* ignore a bad event */ }
  };
  es.onmessage = onEvent;
  es.addEventListener('detections', onEvent);
  es.onerror = () => {
    // A 404 (no events endpoint) closes the stream for good; a dropped
    // connection is retried by the browser.
    status.textContent = es.readyState === EventSource.CLOSED
      ? 'no detector' : `${detector}: reconnecting…`;
  };
  card.events = es;
}

async function pollDetections(card) {
  try {
    const r = await fetch(`${API}/${enc(card.name)}/detections`, { cache: 'no-store' });
    if (!card.detector || card.events) return;
    if (r.status === 404) $('[data-field="detections"]', card.el).textContent = 'no detector';
    const d = r.ok ? await r.json() : null;
    if (d && d.time && !d.time.startsWith('0001-')) showDetections(card, d); // zero time: none yet
  } catch { /* the next poll tries again */ }
}

function showDetections(card, d) {
  const boxes = d.boxes || [];
  const when = d.time ? new Date(d.time).toLocaleTimeString() : '';
  const ms = d.latency_ns ? ` · ${Math.round(d.latency_ns / 1e6)} ms` : '';
  $('[data-field="detections"]', card.el).textContent =
    `${d.detector || card.detector}: ${boxes.length} box${boxes.length === 1 ? '' : 'es'} · ${when}${ms}${countsText(d.counts)}`;
  const items = boxes.map((b) => {
    const li = document.createElement('li');
    const score = typeof b.score === 'number' ? ` ${b.score.toFixed(2)}` : '';
    const id = b.track_id ? ` #${b.track_id}` : '';
    li.textContent = `${b.label || 'object'}${id}${score} at ${b.x},${b.y} ${b.w}×${b.h}`;
    return li;
  });
  $('.boxes', card.el).replaceChildren(...items);
}

// countsText summarises the tracker's tally: objects now, zone occupancy
// and line crossings.
function countsText(c) {
  if (!c) return '';
  const parts = Object.entries(c.objects || {}).map(([label, n]) => `${n} ${label}`);
  for (const [zone, labels] of Object.entries(c.zones || {})) {
    const n = Object.values(labels).reduce((a, b) => a + b, 0);
    parts.push(`${zone}: ${n}`);
  }
  for (const [line, n] of Object.entries(c.lines || {})) parts.push(`${line}: in ${n.in}, out ${n.out}`);
  return parts.length ? ` · ${parts.join(' · ')}` : '';
}

// ---- actions -----------------------------------------------------------

async function removeSource(card, btn) {
  if (!confirm(`Remove source ${card.name}?`)) return;
  btn.disabled = true;
  stopPlayer(card); // close its streams before the server ends them
  try {
    const r = await fetch(`${API}/${enc(card.name)}`, { method: 'DELETE' });
    if (!r.ok && r.status !== 404) throw new Error(await errorText(r));
    dropCard(card.name);
    setConn('', false);
  } catch (e) {
    startWebRTC(card);
    const err = $('[data-field="last_error"]', card.el);
    err.textContent = `Remove failed: ${e.message}`;
    err.hidden = false;
  } finally {
    btn.disabled = false;
  }
}

async function copyOutput(btn) {
  const input = btn.parentElement.querySelector('input');
  try {
    await navigator.clipboard.writeText(input.value);
  } catch { // no clipboard API off a secure origin: select and copy
    input.select();
    document.execCommand('copy');
  }
  btn.textContent = 'Copied';
  setTimeout(() => { btn.textContent = 'Copy'; }, 1200);
}

async function errorText(r) {
  try {
    const body = await r.json();
    return body.error || `HTTP ${r.status}`;
  } catch {
    return `HTTP ${r.status}`;
  }
}

function setupForm() {
  const form = $('#add-source');
  const errEl = $('#form-error');
  const okEl = $('#form-ok');
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    errEl.hidden = okEl.hidden = true;
    for (const el of form.elements) el.removeAttribute('aria-invalid');
    const v = Object.fromEntries(new FormData(form));
    const body = { name: v.name.trim(), url: v.url.trim() };
    if (v.transport) body.transport = v.transport;
    if (v.detector) body.vision = { detector: v.detector };
    const submit = form.querySelector('button[type="submit"]');
    submit.disabled = true;
    try {
      const r = await fetch(API, {
        method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body),
      });
      if (!r.ok) {
        const e = await r.json().catch(() => ({}));
        errEl.textContent = e.error || `HTTP ${r.status}`;
        errEl.hidden = false;
        const field = form.elements[(e.field || '').split('.').pop()] ||
          (r.status === 409 ? form.elements.name : null);
        if (field) {
          field.setAttribute('aria-invalid', 'true');
          field.focus();
        }
        return;
      }
      form.reset();
      okEl.textContent = `Added ${body.name}.`;
      okEl.hidden = false;
      await refresh();
    } catch (e) {
      errEl.textContent = `Could not reach the gateway: ${e.message}`;
      errEl.hidden = false;
    } finally {
      submit.disabled = false;
    }
  });
}

setupForm();
poll();
