// The upload page in headless Chromium: sign in, import from a loopback
// URL, watch the progress, then play the result.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
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
    assert.ok(seen.some((t) => /^Uploading… \d+%$/.test(t)), `no upload progress: ${seen.join(' | ')}`);
    assert.equal(await page.locator('#watch-link').innerText(), 'Watch “Uploaded as a file”');
  });
});
