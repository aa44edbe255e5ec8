// A private video in Chromium, through the balancer: its plain URLs are
// refused and its embed page without a token says it is private (no broken
// player); the embed page with a token from the playback-token call plays
// it, every media request going under the signed /v/{token}/ prefix, and a
// second viewer with another token is served the same segments from the
// balancer's cache.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startNode, importUrl, waitReady } from './lib/node.mjs';
import { startBalancer } from './lib/balancer.mjs';
import { makeClip, mediaServer } from './lib/media.mjs';
import { launch, screenshot } from './lib/browser.mjs';

// Node and balancer inherit the test's environment: both get the key.
process.env.REEL_PLAYBACK__KEYS = 'k1:MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=';

let node;
let lb;
let media;
let b;
let id;

before(async () => {
  media = await mediaServer();
  node = await startNode();
  makeClip(media.dir, 'clip.mp4', { w: 640, h: 360, secs: 12 });
  id = await importUrl(node, 'Private clip', media.url('clip.mp4'));
  await waitReady(node, id);
  const r = await node.api(`/api/videos/${id}`, {
    method: 'PATCH',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ visibility: 'private' }),
  });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  lb = await startBalancer([node.base]);
  b = await launch();
});

after(async () => {
  await b?.close();
  await lb?.stop();
  await node?.stop();
  await media?.close();
});

async function token(ttl) {
  const r = await node.api(`/api/videos/${id}/playback-token`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ ttl_s: ttl }),
  });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  return r.body;
}

/** Opens the embed page at `path` and plays it muted past 2 s; the media URLs it fetched. */
async function play(page, path) {
  const media = [];
  const onRequest = (req) => {
    const u = new URL(req.url());
    if (u.pathname.startsWith('/v/') || u.pathname.startsWith('/media/')) media.push(u.pathname);
  };
  page.on('request', onRequest);
  const resp = await page.goto(`${lb.base}${path}`);
  assert.equal(resp.status(), 200);
  await page.waitForFunction(() => window.reelPlayer, null, { timeout: 20_000 });
  await page.evaluate(() => {
    const v = document.getElementById('video');
    v.muted = true;
    return v.play().catch(() => {});
  });
  await page.waitForFunction(() => document.getElementById('video').currentTime > 2,
    null, { timeout: 60_000, polling: 100 });
  page.off('request', onRequest);
  return media;
}

describe('a private video', () => {
  it('is refused without a token, with a clear page', { timeout: 60_000 }, async () => {
    const plain = await fetch(`${lb.base}/media/${id}/master.m3u8`, { redirect: 'manual' });
    assert.equal(plain.status, 403);
    assert.equal((await plain.json()).error.code, 'private-video');
    const { page } = b;
    const resp = await page.goto(`${lb.base}/embed/${id}`);
    assert.equal(resp.status(), 403);
    assert.match(await page.locator('[role=alert]').textContent(), /This video is private/);
    assert.equal(await page.locator('video').count(), 0, 'no broken player');
    const watch = await page.goto(`${lb.base}/watch/${id}`);
    assert.equal(watch.status(), 403);
    assert.match(await page.locator('[role=alert]').textContent(), /This video is private/);
  });

  it('plays in Chromium through the balancer with a signed URL', { timeout: 120_000 }, async () => {
    const { page } = b;
    const first = await token(600);
    assert.ok(first.embed_url.includes(`?token=${first.token}`));
    const fetched = await play(page, first.embed_url);
    await screenshot(page, 'private-embed.png');
    const segments = fetched.filter((p) => p.endsWith('.m4s'));
    assert.ok(segments.length >= 2, `segments: ${fetched.join(' ')}`);
    assert.ok(fetched.every((p) => p.startsWith(`/v/${first.token}/${id}/`)),
      `every media request is signed: ${fetched.join(' ')}`);

    // Another viewer, another token: the same segments, from the cache.
    const second = await token(601);
    assert.notEqual(second.token, first.token);
    const seg = segments[0].replace(first.token, second.token);
    const r = await fetch(`${lb.base}${seg}`);
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('x-cache'), 'HIT');
    assert.match(r.headers.get('cache-control'), /^private, max-age=\d+/);
    // The same file with a tampered token: refused by the balancer.
    const tail = first.token.endsWith('AA') ? 'BB' : 'AA';
    const bad = segments[0].replace(first.token, `${first.token.slice(0, -2)}${tail}`);
    assert.equal((await fetch(`${lb.base}${bad}`)).status, 403);
  });
});
