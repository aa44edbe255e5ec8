// The upload page in headless Chromium: sign in, import from a loopback
// URL, watch the progress, then play the result; upload files with the
// pinned tus-js-client, and resume one after a page reload.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { startNode, USER, PASSWORD } from './lib/node.mjs';
import { makeClip, mediaServer } from './lib/media.mjs';
import { launch } from './lib/browser.mjs';

let node;
let media;
let b;

before(async () => {
  media = await mediaServer();
  node = await startNode();
  makeClip(media.dir, 'upload.mp4', { w: 640, h: 360, secs: 8 });
  makeClip(media.dir, 'file.mp4', { w: 320, h: 180, secs: 3 });
  b = await launch();
});

after(async () => {
  await b?.close();
  await node?.stop();
  await media?.close();
});

describe('upload page', () => {
  it('imports a URL with live progress, then the video plays', async () => {
    const { page } = b;
    await page.goto(`${node.base}/login`);
    await page.fill('#name', USER);
    await page.fill('#password', PASSWORD);
    await Promise.all([page.waitForURL((u) => !u.pathname.startsWith('/login')), page.click('form.stack button[type="submit"]')]);
    await page.goto(`${node.base}/upload`);
    // Every status text the page shows, in order, to check progress was live.
    await page.evaluate(() => {
      window.__seen = [];
      const msg = document.getElementById('upload-msg');
      new MutationObserver(() => window.__seen.push(msg.textContent))
        .observe(msg, { childList: true, characterData: true, subtree: true });
    });
    await page.fill('#title', 'Uploaded by URL');
    await page.fill('#source_url', media.url('upload.mp4'));
    await page.click('#upload-form button[type="submit"]');
    await page.locator('#upload-progress').waitFor();
    const link = page.locator('#watch-link');
    await link.waitFor({ timeout: 120_000 });
    const seen = await page.evaluate(() => window.__seen);
    assert.ok(seen.some((t) => /(Waiting|Fetching|Processing)… \d+%/.test(t)), `no progress shown: ${seen.join(' | ')}`);
    assert.ok(seen.indexOf('Queued') < seen.findIndex((t) => t.startsWith('Ready')));
    assert.equal(await page.evaluate(() => document.getElementById('upload-progress').value), 1);
    await link.click();
    await page.waitForURL('**/watch/*');
    assert.equal(await page.locator('h1').innerText(), 'Uploaded by URL');
    // Signed in, the watch page offers to attach subtitles.
    assert.equal(await page.locator('#subs-form').count(), 1);
    await page.waitForFunction(() => window.reelPlayer && window.reelPlayer.hls && window.reelPlayer.hls.levels.length > 0, null, { timeout: 20_000 });
    await page.click('#play');
    await page.waitForFunction(() => document.getElementById('video').currentTime >= 2, null, { timeout: 30_000, polling: 100 });
    assert.deepEqual(b.dialogs, []);
    assert.deepEqual(b.errors, []);
  });

  it('attaches subtitles from the watch page', async () => {
    const { page } = b;
    await page.click('.add-subs summary');
    await page.fill('#subs-lang', 'en');
    await page.fill('#subs-label', 'English');
    await page.setInputFiles('#subs-file', {
      name: 'en.srt', mimeType: 'application/x-subrip',
      buffer: Buffer.from('1\n00:00:01,000 --> 00:00:04,000\nAdded later\n'),
    });
    await Promise.all([page.waitForEvent('load', { timeout: 20_000 }), page.click('#subs-form button[type="submit"]')]);
    await page.waitForFunction(() => window.reelPlayer && window.reelPlayer.hls && window.reelPlayer.hls.subtitleTracks.length === 1, null, { timeout: 20_000 });
    await page.click('#cc-btn');
    assert.equal(await page.locator('#cc-menu [role="menuitemradio"]:text-is("English")').count(), 1);
    await page.keyboard.press('Escape');
  });

  it('uploads a file with a progress bar', async () => {
    const { page } = b;
    await page.goto(`${node.base}/upload`);
    await page.evaluate(() => {
      window.__seen = [];
      const msg = document.getElementById('upload-msg');
      new MutationObserver(() => window.__seen.push(msg.textContent))
        .observe(msg, { childList: true, characterData: true, subtree: true });
    });
    await page.fill('#title', 'Uploaded as a file');
    await page.setInputFiles('#file', join(media.dir, 'file.mp4'));
    await page.click('#upload-form button[type="submit"]');
    await page.locator('#watch-link').waitFor({ timeout: 120_000 });
    const seen = await page.evaluate(() => window.__seen);
    assert.ok(seen.some((t) => /^Uploading… \d+%/.test(t)), `no upload progress: ${seen.join(' | ')}`);
    assert.equal(await page.locator('#watch-link').innerText(), 'Watch “Uploaded as a file”');
  });

  it('resumes a file upload after a reload and a dropped network, showing speed and time left', async () => {
    const { page } = b;
    // ~25 MB that does not compress, sent at 3 MB/s: long enough to reload
    // in the middle.
    const big = join(media.dir, 'big.mp4');
    execFileSync('ffmpeg', ['-nostdin', '-hide_banner', '-loglevel', 'error', '-y',
      '-f', 'lavfi', '-i', 'testsrc2=size=640x360:rate=25:duration=8',
      '-vf', 'noise=alls=40:allf=t', '-c:v', 'libx264', '-preset', 'ultrafast',
      '-b:v', '25M', '-maxrate', '25M', '-bufsize', '25M', '-pix_fmt', 'yuv420p', big]);
    const size = statSync(big).size;
    const cdp = await page.context().newCDPSession(page);
    const throttle = (bps) => cdp.send('Network.emulateNetworkConditions', {
      offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: bps,
    });
    await throttle(3 * 1024 * 1024);
    await page.goto(`${node.base}/upload`);
    const watch = () => page.evaluate(() => {
      window.__seen = [];
      const msg = document.getElementById('upload-msg');
      new MutationObserver(() => window.__seen.push(msg.textContent))
        .observe(msg, { childList: true, characterData: true, subtree: true });
    });
    await watch();
    await page.fill('#title', 'Resumed after a reload');
    await page.setInputFiles('#file', big);
    await page.click('#upload-form button[type="submit"]');
    // At least one 8 MiB request stored on the server, then reload.
    const stored = async () => {
      const url = await page.evaluate(() => {
        for (let i = 0; i < localStorage.length; i++) {
          const k = localStorage.key(i);
          if (k.startsWith('tus::')) return JSON.parse(localStorage.getItem(k)).uploadUrl;
        }
        return null;
      });
      if (!url) return { url, offset: 0 };
      const r = await fetch(new URL(url, node.base), {
        method: 'HEAD', headers: { authorization: `Bearer ${node.token}`, 'tus-resumable': '1.0.0' },
      });
      return { url, offset: Number(r.headers.get('upload-offset') || 0) };
    };
    let before = { offset: 0 };
    const deadline = Date.now() + 60_000;
    while (before.offset === 0) {
      assert.ok(Date.now() < deadline, 'no bytes stored within 60 s');
      await new Promise((ok) => setTimeout(ok, 200));
      before = await stored();
    }
    const seen = await page.evaluate(() => window.__seen);
    assert.ok(seen.some((t) => /^Uploading… \d+% · [\d.]+ [kMG]B\/s · .+ left$/.test(t)),
      `no speed and time left: ${seen.join(' | ')}`);
    assert.ok(before.offset < size, 'the upload finished before the reload');

    await page.reload();
    const hint = page.locator('#resume-hint');
    await hint.waitFor();
    assert.match(await hint.innerText(), /big\.mp4.*interrupted/);
    const mid = await stored();
    assert.equal(mid.url, before.url);
    await watch();
    await page.fill('#title', 'Resumed after a reload');
    await page.setInputFiles('#file', big);
    await page.click('#upload-form button[type="submit"]');
    // Then the network drops for a while mid-upload; the page retries.
    await page.waitForFunction(() => window.__seen.some((t) => t.startsWith('Uploading…')));
    await cdp.send('Network.emulateNetworkConditions', {
      offline: true, latency: 0, downloadThroughput: -1, uploadThroughput: -1,
    });
    await new Promise((ok) => setTimeout(ok, 2500));
    await throttle(-1);
    await page.locator('#watch-link').waitFor({ timeout: 120_000 });
    const after = await page.evaluate(() => window.__seen);
    assert.ok(after.some((t) => t.startsWith('Connection lost, retrying')), after.join(' | '));
    assert.ok(after.includes('Resuming an earlier upload of this file…'), after.join(' | '));
    // It went on from the stored offset: its first progress was already past it.
    const first = after.map((t) => /^Uploading… (\d+)%/.exec(t)).find(Boolean);
    assert.ok(first && Number(first[1]) >= Math.floor(100 * mid.offset / size),
      `restarted from 0: ${after.join(' | ')}`);
    // One upload, one video.
    const mine = await node.api('/api/videos?mine=1');
    const titled = mine.body.videos.filter((v) => v.title === 'Resumed after a reload');
    assert.equal(titled.length, 1);
    assert.equal(titled[0].status, 'ready');
    assert.equal(await page.evaluate(() => Object.keys(localStorage).filter((k) => k.startsWith('tus::')).length), 0);
    assert.deepEqual(b.errors, []);
  });
});
