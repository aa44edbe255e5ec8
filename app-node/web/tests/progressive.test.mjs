// A 2-minute 1080p import watched in headless Chromium while its ladder is
// still being encoded: playback starts before the ladder finishes, plays
// past the first minute without an error, and the final playlists end.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startNode, importUrl, waitReady } from './lib/node.mjs';
import { makeClip, mediaServer } from './lib/media.mjs';
import { launch } from './lib/browser.mjs';

const SECS = 120;

let node;
let media;
let b;

before(async () => {
  media = await mediaServer();
  node = await startNode();
  makeClip(media.dir, 'long.mp4', { w: 1920, h: 1080, secs: SECS });
  b = await launch();
});

after(async () => {
  await b?.close();
  await node?.stop();
  await media?.close();
});

const api = async (id) => (await node.api(`/api/videos/${id}`)).body;

/** Media playlists named by a master playlist, fetched. */
async function variants(masterUrl) {
  const master = await (await fetch(node.base + masterUrl)).text();
  const base = masterUrl.slice(0, masterUrl.lastIndexOf('/') + 1);
  const uris = master.split('\n').flatMap((l) => {
    const m = /URI="([^"]+)"/.exec(l);
    if (m) return [m[1]];
    return l && !l.startsWith('#') ? [l] : [];
  });
  return Promise.all(uris.map(async (u) => [u, await (await fetch(node.base + base + u)).text()]));
}

describe('progressive publishing', () => {
  it('a 2-minute 1080p video plays from the start while its ladder is encoded', { timeout: 900_000 }, async () => {
    const t0 = Date.now();
    const secs = () => ((Date.now() - t0) / 1000).toFixed(1);
    const id = await importUrl(node, 'Long lecture', media.url('long.mp4'));
    let v;
    for (;;) {
      v = await api(id);
      if (v.playable) break;
      assert.notEqual(v.status, 'ready', 'ready before it was ever playable');
      assert.notEqual(v.status, 'failed', v.error);
      assert.ok(Date.now() - t0 < 300_000, `not playable after 300 s: ${JSON.stringify(v)}`);
      await new Promise((ok) => setTimeout(ok, 250));
    }
    const playableAt = secs();
    assert.notEqual(v.status, 'ready');

    const { page } = b;
    await page.goto(`${node.base}/watch/${id}`);
    assert.match(await page.locator('#processing').innerText(), /Still processing/);
    await page.waitForFunction(() => window.reelPlayer && window.reelPlayer.hls && window.reelPlayer.hls.levels.length > 0,
      null, { timeout: 30_000 });
    await page.click('#play');
    await page.waitForFunction(() => document.getElementById('video').currentTime > 0.5, null,
      { timeout: 60_000, polling: 100 });
    const startedAt = secs();
    const whenStarted = await api(id);
    assert.notEqual(whenStarted.status, 'ready', 'playback started only after the ladder finished');

    // Past the first minute, without an error, while the encode goes on
    // (on this 2-core machine the ladder runs slower than real time, so
    // the player waits at the end of what is encoded now and then).
    const failure = () => page.locator('#player-msg').innerText();
    for (;;) {
      const t = await page.evaluate(() => document.getElementById('video').currentTime);
      if (t >= 61) break;
      const msg = await failure();
      assert.doesNotMatch(msg, /cannot be played|could not be processed|failed/i, msg);
      assert.ok(Date.now() - t0 < 600_000, `stuck at ${t} s: ${msg}`);
      await new Promise((ok) => setTimeout(ok, 500));
    }
    const minuteAt = secs();
    const atMinute = await api(id);
    const done = await waitReady(node, id, 600_000);
    const readyAt = secs();
    console.log(`# ${SECS} s 1080p source: playable after ${playableAt} s `
      + `(time_to_playable_s ${done.time_to_playable_s?.toFixed(1)}), playback started at ${startedAt} s, `
      + `passed 1:00 at ${minuteAt} s (status then: ${atMinute.status}), ladder done at ${readyAt} s`);
    assert.ok(Number(startedAt) < Number(readyAt));
    assert.deepEqual(b.errors, []);

    // The final playlists have ended, cover the whole source, and every
    // rung was cut at the same points.
    assert.equal(done.hls_url, v.hls_url, 'the version viewers had is the final one');
    const lists = await variants(done.hls_url);
    assert.equal(lists.length, 6, '5 rungs and audio');
    const cuts = [];
    for (const [uri, text] of lists) {
      assert.match(text, /#EXT-X-ENDLIST/, uri);
      const durations = [...text.matchAll(/#EXTINF:([\d.]+),/g)].map((m) => Number(m[1]));
      const total = durations.reduce((a, d) => a + d, 0);
      assert.ok(Math.abs(total - SECS) < 0.5, `${uri}: ${total} s`);
      if (!uri.startsWith('audio/')) cuts.push(durations.map((d) => d.toFixed(2)).join(' '));
    }
    assert.equal(new Set(cuts).size, 1, 'rungs cut at the same points');
  });
});
