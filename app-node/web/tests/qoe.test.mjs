// Viewer experience from a real player: Chromium plays a video through the
// balancer while hls.js sends CMCD event reports; the node's per-video
// summary and metrics must match what the test saw the player do.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startNode, importUrl, waitReady } from './lib/node.mjs';
import { startBalancer } from './lib/balancer.mjs';
import { makeClip, mediaServer } from './lib/media.mjs';
import { launch } from './lib/browser.mjs';

let node;
let lb;
let media;
let b;
let id;

before(async () => {
  media = await mediaServer();
  node = await startNode();
  makeClip(media.dir, 'clip.mp4', { w: 1280, h: 720, secs: 30 });
  id = await importUrl(node, 'Watched closely', media.url('clip.mp4'));
  await waitReady(node, id);
  lb = await startBalancer([node.base]);
  b = await launch();
});

after(async () => {
  await b?.close();
  await lb?.stop();
  await node?.stop();
  await media?.close();
});

const within = (got, want, share) => Math.abs(got - want) <= share * Math.abs(want);

function metric(text, name) {
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  assert.ok(line, `${name} missing`);
  return Number(line.slice(name.length + 1));
}

describe('QoE from a real player', () => {
  it('startup, playing time and bitrate reach the summary and the metrics', { timeout: 180_000 }, async () => {
    const { page } = b;
    // A bandwidth this browser "measured" before: the start rung is the top
    // one the player size allows, which the link below carries easily.
    await page.addInitScript(() => localStorage.setItem('reel-bandwidth', '50000000'));
    // A link with 150 ms of latency each way at 40 Mbit/s, so that starting
    // takes long enough to compare (on bare loopback it is a few ms).
    const cdp = await b.context.newCDPSession(page);
    await cdp.send('Network.enable');
    await cdp.send('Network.emulateNetworkConditions', {
      offline: false, latency: 150, downloadThroughput: 5e6, uploadThroughput: 5e6,
    });
    const reports = [];
    const mediaUrls = [];
    page.on('request', (r) => {
      if (r.url().includes('/api/qoe')) reports.push({ type: r.headers()['content-type'], body: r.postData() });
      if (r.url().includes('/media/')) mediaUrls.push(r.url());
    });
    await page.goto(`${lb.base}/watch/${id}`, { waitUntil: 'commit' });
    await page.waitForFunction(() => window.reelPlayer && window.reelPlayer.hls, null, { polling: 5 });
    // What the player did, as the page saw it: listeners on the video
    // element added after the player's own, so both see each event at the
    // same moment.
    await page.evaluate(() => {
      const v = document.getElementById('video');
      const seen = { play: 0, firstPlaying: 0, playingSince: 0, playedMs: 0 };
      window.__seen = seen;
      v.addEventListener('play', () => { if (!seen.play) seen.play = Date.now(); });
      v.addEventListener('playing', () => {
        const now = Date.now();
        if (!seen.firstPlaying) seen.firstPlaying = now;
        seen.playingSince = now;
      });
      const stop = () => {
        if (seen.playingSince) seen.playedMs += Date.now() - seen.playingSince;
        seen.playingSince = 0;
      };
      v.addEventListener('pause', stop);
      v.addEventListener('waiting', stop);
    });
    // Asked to play at once, before the first segment is in.
    await page.click('#play');
    await page.waitForFunction(() => document.getElementById('video').currentTime > 12,
      null, { timeout: 60_000 });
    await page.click('#play');
    // The `pause` event (a task after `paused` turns true) has been seen.
    await page.waitForFunction(() => window.__seen.playedMs > 0 && !window.__seen.playingSince);
    const player = await page.evaluate(() => {
      const { hls } = window.reelPlayer;
      const s = window.__seen;
      return {
        sid: hls.sessionId,
        startupMs: s.firstPlaying - s.play,
        playedMs: s.playedMs,
        kbps: hls.levels[hls.currentLevel].bitrate / 1000,
        loadKbps: hls.levels[hls.loadLevel].bitrate / 1000,
        ladder: hls.levels.map((l) => l.bitrate / 1000),
      };
    });
    // Leaving the page sends the last report.
    await page.goto('about:blank');

    let summary;
    const deadline = Date.now() + 30_000;
    for (;;) {
      const r = await fetch(`${lb.base}/api/videos/${id}/qoe`, {
        headers: { authorization: `Bearer ${node.token}` },
      });
      summary = await r.json();
      assert.equal(r.status, 200, JSON.stringify(summary));
      if (summary.startup_s && summary.played_s * 1000 >= player.playedMs * 0.9) break;
      assert.ok(Date.now() < deadline, `summary never caught up: ${JSON.stringify(summary)} player ${JSON.stringify(player)}`);
      await new Promise((ok) => setTimeout(ok, 250));
    }
    console.log(`# player: startup ${player.startupMs} ms, played ${player.playedMs} ms at ${player.kbps} kbit/s; `
      + `summary: ${JSON.stringify(summary)}`);

    assert.equal(summary.sessions, 1);
    assert.equal(summary.plays, 1);
    assert.equal(summary.failures, 0);
    assert.ok(player.startupMs > 0);
    assert.ok(within(summary.startup_s.p50 * 1000, player.startupMs, 0.1),
      `startup ${summary.startup_s.p50 * 1000} ms against the player's ${player.startupMs} ms`);
    assert.ok(within(summary.played_s * 1000, player.playedMs, 0.1),
      `played ${summary.played_s} s against the player's ${player.playedMs} ms`);
    assert.equal(player.kbps, player.loadKbps, 'the player stayed on one rung');
    assert.ok(player.ladder.includes(player.kbps));
    assert.ok(within(summary.average_bitrate_kbps, player.kbps, 0.1),
      `bitrate ${summary.average_bitrate_kbps} kbit/s against the player's ${player.kbps}`);

    // The node's metrics say the same (one node, one session).
    const m = await (await fetch(`${node.base}/metrics`)).text();
    assert.equal(metric(m, 'reel_qoe_sessions_total'), 1);
    assert.equal(metric(m, 'reel_qoe_startup_seconds_count'), 1);
    assert.ok(within(metric(m, 'reel_qoe_startup_seconds_sum') * 1000, player.startupMs, 0.1));
    const avgKbps = metric(m, 'reel_qoe_played_bits_total') / metric(m, 'reel_qoe_played_seconds_total') / 1000;
    assert.ok(within(avgKbps, player.kbps, 0.1), `metrics bitrate ${avgKbps}`);
    // The leave report is sent at once as the page goes; it can overtake
    // one still on its way, which the node then skips as out of order.
    assert.ok(metric(m, 'reel_qoe_reports_total{outcome="stale"}') <= 1);
    for (const reason of ['limited', 'cross-site', 'media-type', 'bad-report', 'unknown-video', 'too-many-sessions']) {
      assert.equal(metric(m, `reel_qoe_refused_total{reason="${reason}"}`), 0, reason);
    }

    // CMCD v2 event reports, one per request, of this session; media URLs
    // carry nothing (the edge cache keys stay shared).
    assert.ok(reports.length >= 4, `${reports.length} reports`);
    for (const r of reports) {
      assert.equal(r.type, 'application/cmcd');
      assert.match(r.body, new RegExp(`sid="${player.sid}"`));
      assert.match(r.body, /(^|,)v=2(,|$)/m);
    }
    assert.ok(reports.some((r) => /(^|,)sta=p(,|$)/m.test(r.body)), 'a playing state was reported');
    // Numbered by the page, in order, from 0; the last one says the viewer left.
    const sns = reports.map((r) => Number(/(?:^|,)sn=(\d+)/.exec(r.body)[1]));
    assert.deepEqual(sns, sns.map((_n, i) => i), `sequence numbers ${sns}`);
    // The last report says the viewer left. It goes out while the page
    // unloads, when the browser may no longer show the page's requests: then
    // the node has folded one more report than were seen here.
    const left = /cen="leave"/.test(reports[reports.length - 1].body);
    const want = reports.length + (left ? 0 : 1);
    const until = Date.now() + 15_000;
    let applied;
    for (;;) {
      const text = await (await fetch(`${node.base}/metrics`)).text();
      applied = metric(text, 'reel_qoe_reports_total{outcome="applied"}');
      if (applied >= want || Date.now() > until) break;
      await new Promise((ok) => setTimeout(ok, 200));
    }
    assert.equal(applied, want, `reports folded ${applied}, seen ${reports.length}, leave seen: ${left}`);
    assert.ok(mediaUrls.length > 0 && mediaUrls.every((u) => !u.includes('CMCD')), 'media requests carry no CMCD');
  });
});
