// Chromium publishes its fake camera and microphone over WHIP, with its
// default codecs, for a while: the publish test's browser publisher.
//
//   node e2e/whip.mjs BASE_URL SOURCE SECONDS [USER:PASS]
//
// Prints WHIP_STATUS=<http status> and the negotiated codecs, then keeps
// publishing for SECONDS and exits 0 (non-zero when publishing failed).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';

const [base, source, seconds, cred] = process.argv.slice(2);
const CHROMIUM = process.env.VG_CHROMIUM || '/usr/bin/chromium';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--allow-loopback-in-peer-connection',
  '--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream', '--disable-background-networking'];

async function main() {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'visiongate-whip-'));
  const ctx = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: ARGS });
  let code = 1;
  try {
    const page = ctx.pages()[0] || await ctx.newPage();
    await page.goto(`${base}/healthz`); // same origin for the POST
    const r = await page.evaluate(async ({ source, cred }) => {
      const media = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 480 }, audio: true });
      const pc = new RTCPeerConnection();
      window.pc = pc;
      for (const t of media.getTracks()) pc.addTransceiver(t, { direction: 'sendonly' });
      await pc.setLocalDescription(await pc.createOffer());
      await new Promise((ok) => {
        if (pc.iceGatheringState === 'complete') ok();
        pc.addEventListener('icegatheringstatechange', () => pc.iceGatheringState === 'complete' && ok());
        setTimeout(ok, 2000);
      });
      const headers = { 'Content-Type': 'application/sdp' };
      if (cred) headers.Authorization = 'Basic ' + btoa(cred);
      const resp = await fetch(`/webrtc/${source}/whip`, { method: 'POST', headers, body: pc.localDescription.sdp });
      const body = await resp.text();
      if (resp.status !== 201) return { status: resp.status, error: body };
      await pc.setRemoteDescription({ type: 'answer', sdp: body });
      const codecs = [...body.matchAll(/^a=rtpmap:\d+ ([^/]+)/gm)].map((m) => m[1]);
      return { status: resp.status, codecs };
    }, { source, cred });
    console.log(`WHIP_STATUS=${r.status}`);
    console.log(r.error ? `error: ${r.error}` : `codecs: ${r.codecs.join(' ')}`);
    if (r.status === 201) {
      await page.waitForFunction(() => window.pc.connectionState === 'connected', null, { timeout: 10000 });
      console.log('connected');
      await new Promise((ok) => setTimeout(ok, Number(seconds) * 1000));
      code = 0;
    }
  } catch (e) {
    console.error(`FAIL: ${e.stack || e}`);
  } finally {
    await ctx.close().catch(() => {});
    fs.rmSync(profile, { recursive: true, force: true });
  }
  process.exit(code);
}

main();
