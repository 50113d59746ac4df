// A small WHEP client (WebRTC-HTTP egress protocol): one receive-only peer
// connection, the offer POSTed with its candidates, the answer back, and
// DELETE on the session URL to end. visiongate answers without trickle,
// so no PATCH is needed.
'use strict';

// WHEPPlayer plays url into a <video>. onFail(reason) is called once, when
// the session cannot start or breaks; the caller then falls back.
class WHEPPlayer {
  constructor(url, video, { onFail, connectTimeoutMs = 8000 } = {}) {
    this.url = url;
    this.video = video;
    this.onFail = onFail || (() => {});
    this.connectTimeoutMs = connectTimeoutMs;
    this.pc = null;
    this.session = '';
    this.timer = 0;
    this.failed = false;
    this.offeredAt = 0; // when the offer went out (performance.now())
    this.firstFrameMs = 0; // from the offer to the first picture shown
  }

  async start() {
    try {
      const pc = new RTCPeerConnection({ iceServers: await this.iceServers() });
      this.pc = pc;
      pc.addTransceiver('video', { direction: 'recvonly' });
      pc.addTransceiver('audio', { direction: 'recvonly' });
      const stream = new MediaStream();
      pc.ontrack = (ev) => {
        stream.addTrack(ev.track);
        if (this.video.srcObject === stream) return;
        this.video.srcObject = stream;
        // play() explicitly: Chromium leaves autoplay of a muted video
        // paused while it is off screen.
        this.video.play().catch(() => {});
      };
      pc.onconnectionstatechange = () => {
        if (pc.connectionState === 'failed') this.fail('WebRTC connection failed');
        if (pc.connectionState === 'connected') clearTimeout(this.timer);
      };
      this.timer = setTimeout(() => this.fail('WebRTC did not connect'), this.connectTimeoutMs);
      await pc.setLocalDescription(await pc.createOffer());
      await gathered(pc, 1500);
      this.offeredAt = performance.now();
      this.timeFirstFrame();
      const r = await fetch(this.url, {
        method: 'POST', headers: { 'Content-Type': 'application/sdp' }, body: pc.localDescription.sdp,
      });
      if (r.status !== 201) throw new Error(`WHEP ${r.status}: ${(await r.text()).trim()}`);
      this.session = new URL(r.headers.get('Location'), new URL(this.url, location.href)).toString();
      await pc.setRemoteDescription({ type: 'answer', sdp: await r.text() });
    } catch (e) {
      this.fail(e.message);
    }
  }

  // timeFirstFrame notes when the first picture is shown.
  timeFirstFrame() {
    if (!this.video.requestVideoFrameCallback) return;
    this.video.requestVideoFrameCallback(() => {
      this.firstFrameMs = performance.now() - this.offeredAt;
    });
  }

  // iceServers asks the server for its STUN/TURN servers (Link headers on
  // OPTIONS); none is fine on a LAN.
  async iceServers() {
    try {
      const r = await fetch(this.url, { method: 'OPTIONS' });
      return parseICELinks(r.headers.get('Link') || '');
    } catch {
      return [];
    }
  }

  fail(reason) {
    if (this.failed) return;
    this.failed = true;
    this.stop();
    this.onFail(reason);
  }

  // stop ends the session: DELETE first, so the server ends it knowingly
  // instead of noticing the connection close.
  stop() {
    clearTimeout(this.timer);
    if (this.session) fetch(this.session, { method: 'DELETE' }).catch(() => {});
    this.session = '';
    if (this.pc) this.pc.close();
    this.pc = null;
  }

  // describe says how far the session got, for a fallback's reason.
  async describe() {
    if (!this.pc) return 'no connection';
    let frames = 0;
    (await this.pc.getStats()).forEach((s) => {
      if (s.type === 'inbound-rtp' && s.kind === 'video') frames = s.framesDecoded || 0;
    });
    return `${this.pc.connectionState}, ${frames} frames decoded`;
  }

  // latency estimates the delay the viewer adds: the jitter buffer's
  // average wait plus half the round trip, in seconds.
  async latency() {
    if (!this.pc) return 0;
    let jitter = 0;
    let rtt = 0;
    (await this.pc.getStats()).forEach((s) => {
      if (s.type === 'inbound-rtp' && s.kind === 'video' && s.jitterBufferEmittedCount > 0) {
        jitter = s.jitterBufferDelay / s.jitterBufferEmittedCount;
      }
      if (s.type === 'candidate-pair' && s.nominated && s.currentRoundTripTime) rtt = s.currentRoundTripTime;
    });
    return jitter + rtt / 2;
  }
}

// gathered waits until the browser has its ICE candidates, or ms passed.
function gathered(pc, ms) {
  if (pc.iceGatheringState === 'complete') return Promise.resolve();
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    pc.addEventListener('icegatheringstatechange', () => {
      if (pc.iceGatheringState === 'complete') {
        clearTimeout(t);
        resolve();
      }
    });
  });
}

// parseICELinks reads Link: <stun:host:3478>; rel="ice-server"; username=…;
// credential=… headers into RTCIceServer objects.
function parseICELinks(header) {
  const servers = [];
  for (const link of header.split(/,(?=\s*<)/)) {
    const m = link.match(/<([^>]+)>(.*)/);
    if (!m || !/rel="?ice-server"?/i.test(m[2])) continue;
    const server = { urls: m[1] };
    const user = m[2].match(/username="([^"]*)"/i);
    const cred = m[2].match(/credential="([^"]*)"/i);
    if (user) server.username = user[1];
    if (cred) server.credential = cred[1];
    servers.push(server);
  }
  return servers;
}

window.WHEPPlayer = WHEPPlayer;
