// Reel's streams and player on other sites. A second loopback origin (a
// small node:http server in this test, standing for someone's blog) loads
// the pinned Shaka Player and plays a public video's master playlist
// through the balancer, which only CORS on /media allows; it also frames
// /embed/{id}, which only the embed page's frame-ancestors allows. Then the
// watch page's share box gives the link, the link at the current time and
// the iframe code (the same code /oembed gives).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startNode, importUrl, waitReady, WEB_DIR } from './lib/node.mjs';
import { startBalancer } from './lib/balancer.mjs';
import { makeClip, mediaServer } from './lib/media.mjs';
import { launch } from './lib/browser.mjs';

const TITLE = 'Embed "me" <now> & \'then\'';
const SRT = '1\n00:00:00,500 --> 00:00:09,000\nHello from the English track\n';
const SHAKA = readFileSync(join(WEB_DIR, 'node_modules/shaka-player/dist/shaka-player.compiled.js'));

// The other site's pages. No CSP here: it is not Reel's page.
const SHAKA_PAGE = `<!doctype html><meta charset="utf-8"><title>Another site</title>
<video id="v" muted playsinline width="640" height="360"></video>
<script src="/shaka-player.compiled.js"></script><script src="/shaka-page.js"></script>`;
const SHAKA_SCRIPT = `
window.shakaErrors = [];
(async () => {
  shaka.polyfill.installAll();
  const video = document.getElementById('v');
  const player = new shaka.Player();
  window.shakaPlayer = player;
  player.addEventListener('error', (e) => window.shakaErrors.push(String(e.detail && e.detail.code)));
  try {
    await player.attach(video);
    await player.load(new URLSearchParams(location.search).get('src'));
    await video.play();
  } catch (e) {
    window.shakaErrors.push(String(e && (e.code || e.message || e)));
  }
})();`;
const FRAME_PAGE = (src) => `<!doctype html><meta charset="utf-8"><title>A blog post</title>
<p>Look at this:</p><iframe id="f" src="${src.replace(/"/g, '&quot;')}" width="640" height="420"
 allow="autoplay; fullscreen" title="video"></iframe>`;

/** The other origin: http://127.0.0.1:<another port>. */
async function otherSite() {
  const server = createServer((req, res) => {
    const u = new URL(req.url, 'http://x');
    const send = (type, body) => { res.writeHead(200, { 'content-type': type }); res.end(body); };
    if (u.pathname === '/shaka.html') return send('text/html', SHAKA_PAGE);
    if (u.pathname === '/shaka-player.compiled.js') return send('text/javascript', SHAKA);
    if (u.pathname === '/shaka-page.js') return send('text/javascript', SHAKA_SCRIPT);
    if (u.pathname === '/frame.html') return send('text/html', FRAME_PAGE(u.searchParams.get('src')));
    res.writeHead(404).end();
    return undefined;
  });
  await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
  return {
    base: `http://127.0.0.1:${server.address().port}`,
    close: () => new Promise((ok) => server.close(ok)),
  };
}

let node;
let lb;
let media;
let site;
let b;
let id;

before(async () => {
  media = await mediaServer();
  node = await startNode();
  makeClip(media.dir, 'clip.mp4', { w: 640, h: 360, secs: 12, srt: SRT });
  id = await importUrl(node, TITLE, media.url('clip.mp4'));
  await waitReady(node, id);
  lb = await startBalancer([node.base]);
  site = await otherSite();
  b = await launch();
});

after(async () => {
  await b?.close();
  await site?.close();
  await lb?.stop();
  await node?.stop();
  await media?.close();
});

describe('embedding and CORS', () => {
  it('Shaka Player on another origin plays a public video through the balancer', { timeout: 90_000 }, async () => {
    const { page } = b;
    const master = (await node.api(`/api/videos/${id}`)).body.hls_url;
    assert.ok(master, 'the video has a master playlist');
    const src = `${lb.base}${master}`;
    assert.notEqual(new URL(site.base).origin, new URL(lb.base).origin);
    const failed = [];
    page.on('requestfailed', (r) => failed.push(`${r.url()} ${r.failure()?.errorText}`));
    await page.goto(`${site.base}/shaka.html?src=${encodeURIComponent(src)}`);
    await page.waitForFunction(() => window.shakaErrors.length > 0
      || document.getElementById('v').currentTime > 2, null, { timeout: 60_000, polling: 100 });
    const state = await page.evaluate(() => ({
      errors: window.shakaErrors,
      t: document.getElementById('v').currentTime,
      variants: window.shakaPlayer.getVariantTracks().length,
      text: window.shakaPlayer.getTextTracks().map((t) => t.language),
    }));
    assert.deepEqual(state.errors, [], `Shaka failed: ${state.errors} (${failed.join('; ')})`);
    assert.ok(state.t > 2, `currentTime ${state.t}`);
    assert.ok(state.variants >= 1, 'variants listed');
    assert.ok(state.text.some((l) => l.startsWith('en')), `English track: ${state.text}`);
  });

  it('a page on another origin frames /embed/{id}, which plays from ?t=', { timeout: 90_000 }, async () => {
    const { page } = b;
    const embed = `${lb.base}/embed/${id}?t=4`;
    await page.goto(`${site.base}/frame.html?src=${encodeURIComponent(embed)}`);
    const frame = await (await page.waitForSelector('#f')).contentFrame();
    await frame.waitForFunction(() => window.reelPlayer, null, { timeout: 20_000 });
    assert.equal(await frame.locator('h1, header.top').count(), 0, 'the player alone');
    await frame.evaluate(() => {
      const v = document.getElementById('video');
      v.muted = true;
      return v.play().catch(() => {});
    });
    await frame.waitForFunction(() => document.getElementById('video').currentTime > 2,
      null, { timeout: 60_000, polling: 100 });
    const t = await frame.evaluate(() => document.getElementById('video').currentTime);
    assert.ok(t >= 3.5, `started at ?t=4, at ${t} s`);
    const link = frame.locator('.embed-title a');
    assert.equal(await link.textContent(), TITLE);
    assert.equal(await link.getAttribute('target'), '_blank');
  });

  it('the share box gives the link, the link at the time and the iframe code', { timeout: 90_000 }, async () => {
    const { page, context } = b;
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: lb.base });
    const watch = `${lb.base}/watch/${id}`;
    await page.goto(watch);
    await page.evaluate(() => {
      const v = document.getElementById('video');
      v.muted = true;
      return v.play().catch(() => {});
    });
    await page.waitForFunction(() => document.getElementById('video').currentTime > 3,
      null, { timeout: 60_000, polling: 100 });
    await page.evaluate(() => document.getElementById('video').pause());
    const t = Math.floor(await page.evaluate(() => document.getElementById('video').currentTime));
    assert.equal(await page.inputValue('#share-link'), watch);
    assert.equal(await page.inputValue('#share-time'), `${watch}?t=${t}`);
    const code = await page.inputValue('#share-embed');
    const esc = TITLE.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/'/g, '&#39;')
      .replace(/</g, '&lt;').replace(/>/g, '&gt;');
    assert.equal(code, `<iframe src="${lb.base}/embed/${id}" width="640" height="360" title="${esc}" `
      + 'frameborder="0" allow="autoplay; fullscreen; picture-in-picture" allowfullscreen></iframe>');
    // The same code an oEmbed consumer gets for this page.
    const discovered = await page.getAttribute('link[type="application/json+oembed"]', 'href');
    assert.ok(discovered.startsWith(`${lb.base}/oembed?url=`), discovered);
    const oembed = await (await fetch(discovered)).json();
    assert.equal(oembed.html, code);
    assert.equal(oembed.title, TITLE);

    // Copy with the keyboard: each button is reachable and labelled.
    await page.focus('#share-time');
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate(() => document.activeElement.dataset.copy), 'share-time');
    await page.keyboard.press('Enter');
    await page.waitForFunction(() => document.getElementById('share-msg').textContent !== '');
    assert.match(await page.textContent('#share-msg'), /Link at the current time copied/);
    assert.equal(await page.evaluate(() => navigator.clipboard.readText()), `${watch}?t=${t}`);
    await page.click('button[data-copy="share-embed"]');
    await page.waitForFunction(() => /Embed code copied/.test(document.getElementById('share-msg').textContent));
    assert.equal(await page.evaluate(() => navigator.clipboard.readText()), code);

    // The link at the time starts there, with no resume offer.
    await page.goto(`${watch}?t=${t + 3}`);
    await page.evaluate(() => {
      const v = document.getElementById('video');
      v.muted = true;
      return v.play().catch(() => {});
    });
    await page.waitForFunction(() => document.getElementById('video').currentTime > 0.5,
      null, { timeout: 30_000, polling: 100 });
    const at = await page.evaluate(() => document.getElementById('video').currentTime);
    assert.ok(at >= t + 2, `opened at ?t=${t + 3}, at ${at} s`);
    assert.equal(await page.isHidden('#resume'), true);
  });
});
