// The watch page in headless Chromium against a real reel-node: playback,
// seeking, speed, quality, captions, fullscreen, previews and escaping.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startNode, importUrl, waitReady, addSubtitles } from './lib/node.mjs';
import { makeClip, mediaServer } from './lib/media.mjs';
import { launch, screenshot } from './lib/browser.mjs';

const CUE = 'Hello from Reel';
const SRT = `1\n00:00:02,000 --> 00:00:09,000\n${CUE}\n\n2\n00:00:10,000 --> 00:00:14,000\nSecond line\n`;
const EVIL_TITLE = '<img src=x onerror="window.__pwned=1">Clip';
const EVIL_SRT = '1\n00:00:00,500 --> 00:00:03,500\n<script>window.__pwned=2</script><img src=x onerror="window.__pwned=3">Careful\n';

let node;
let media;
let b;
let page;
let video;
let evil;

const state = () => page.evaluate(() => {
  const v = document.getElementById('video');
  return { t: v.currentTime, d: v.duration, paused: v.paused, rate: v.playbackRate };
});
// On timeout the error says where the video was, which is what matters.
const waitFor = async (fn, arg, ms = 20_000) => {
  try {
    return await page.waitForFunction(fn, arg, { timeout: ms, polling: 100 });
  } catch (e) {
    const s = await state().catch(() => ({}));
    throw new Error(`${e.message}\nvideo: ${JSON.stringify(s)} msg: ${await page.locator('#player-msg').innerText().catch(() => '')}`);
  }
};
const pause = () => page.evaluate(() => document.getElementById('video').pause());
const seekAndSettle = async (t) => {
  await page.evaluate((to) => window.reelPlayer.controls.seekTo(to), t);
  await waitFor((to) => {
    const v = document.getElementById('video');
    return !v.seeking && Math.abs(v.currentTime - to) < 0.6 && v.readyState >= 2;
  }, t);
};

before(async () => {
  media = await mediaServer();
  node = await startNode();
  makeClip(media.dir, 'main.mp4', { w: 854, h: 480, secs: 16, srt: SRT });
  makeClip(media.dir, 'evil.mp4', { w: 320, h: 180, secs: 4 });
  const mainId = await importUrl(node, 'Test pattern', media.url('main.mp4'));
  const evilId = await importUrl(node, EVIL_TITLE, media.url('evil.mp4'));
  video = await waitReady(node, mainId);
  evil = await waitReady(node, evilId);
  await addSubtitles(node, evilId, 'fr', 'Careful', EVIL_SRT);
  b = await launch();
  page = b.page;
});

after(async () => {
  await b?.close();
  await node?.stop();
  await media?.close();
});

describe('watch page', () => {
  it('catalog lists the ready video and its player plays', async () => {
    await page.goto(`${node.base}/`);
    const link = page.locator(`a[href="/watch/${video.id}"]`);
    await link.waitFor();
    assert.match(await link.innerText(), /Test pattern/);
    await screenshot(page, 'catalog.png');
    await link.click();
    await page.waitForURL(`**/watch/${video.id}`);
    await waitFor(() => window.reelPlayer && window.reelPlayer.hls && window.reelPlayer.hls.levels.length > 0);
    await page.click('#play');
    const start = (await state()).t;
    await waitFor((s) => document.getElementById('video').currentTime >= s + 2, start, 30_000);
  });

  it('seeks to 50 % with the 5 key, and keeps playing', async () => {
    await page.locator('#play').focus();
    const { d } = await state();
    await page.keyboard.press('5');
    await waitFor((target) => {
      const v = document.getElementById('video');
      return !v.seeking && Math.abs(v.currentTime - target) < 1;
    }, d / 2);
    const { t } = await state();
    assert.ok(Math.abs(t - d / 2) < 1, `landed at ${t}, wanted ${d / 2}`);
    await waitFor((from) => document.getElementById('video').currentTime > from + 0.5, t, 20_000);
  });

  it('moves 10 s with the buttons and with j / l', async () => {
    await pause();
    await seekAndSettle(3);
    await page.click('#fwd10');
    await waitFor(() => Math.abs(document.getElementById('video').currentTime - 13) < 0.6);
    await page.click('#back10');
    await waitFor(() => Math.abs(document.getElementById('video').currentTime - 3) < 0.6);
    await page.keyboard.press('l');
    await waitFor(() => Math.abs(document.getElementById('video').currentTime - 13) < 0.6);
    await page.keyboard.press('j');
    await waitFor(() => Math.abs(document.getElementById('video').currentTime - 3) < 0.6);
  });

  it('mutes with m and changes volume with the arrow keys', async () => {
    await page.locator('#play').focus();
    const vol = () => page.evaluate(() => {
      const v = document.getElementById('video');
      return { muted: v.muted, volume: Math.round(v.volume * 100) };
    });
    await page.keyboard.press('m');
    assert.equal((await vol()).muted, true);
    await page.keyboard.press('m');
    assert.equal((await vol()).muted, false);
    await page.keyboard.press('ArrowDown');
    await page.keyboard.press('ArrowDown');
    assert.equal((await vol()).volume, 90);
    await page.keyboard.press('ArrowUp');
    assert.equal((await vol()).volume, 95);
  });

  it('plays at 1.5× from the speed menu', async () => {
    await page.click('#speed-btn');
    await page.click('#speed-menu [role="menuitemradio"][data-value="1.5"]');
    assert.equal((await state()).rate, 1.5);
    // The label follows the asynchronous ratechange event.
    await waitFor(() => document.getElementById('speed-btn').textContent === '1.5×');
    await page.keyboard.press('>');
    assert.equal((await state()).rate, 1.75);
    await page.keyboard.press('<');
    await page.keyboard.press('<');
    await page.keyboard.press('<');
    assert.equal((await state()).rate, 1);
  });

  it('switches to 240p and back to Auto', async () => {
    const level240 = await page.evaluate(() => window.reelPlayer.hls.levels.findIndex((l) => l.height === 240));
    assert.ok(level240 >= 0, 'a 240p rung exists');
    const heights = await page.evaluate(() => window.reelPlayer.hls.levels.map((l) => l.height).sort((a, b) => b - a));
    assert.deepEqual(heights, [480, 360, 240]);
    const segs = [];
    page.on('request', (r) => { if (/\/\d+p\/seg_\d+\.m4s$/.test(r.url())) segs.push(r.url()); });
    const mark = segs.length;
    await page.click('#quality-btn');
    await page.click('#quality-menu [role="menuitemradio"]:text-is("240p")');
    await waitFor((i) => window.reelPlayer.hls.currentLevel === i && !window.reelPlayer.hls.autoLevelEnabled, level240);
    // Once the first 240p segment is asked for, every later one must be 240p.
    const deadline = Date.now() + 20_000;
    const first240 = () => segs.findIndex((u, k) => k >= mark && u.includes('/240p/'));
    while (first240() < 0 && Date.now() < deadline) await new Promise((ok) => setTimeout(ok, 100));
    assert.ok(first240() >= 0, `no 240p segment requested; saw ${segs.slice(mark).join(' ')}`);
    await page.evaluate(() => document.getElementById('video').play());
    await waitFor((n) => document.getElementById('video').currentTime > n, (await state()).t + 1);
    const fresh = segs.slice(first240());
    assert.ok(fresh.every((u) => u.includes('/240p/')), `non-240p segments: ${fresh.join(' ')}`);
    assert.equal(await page.locator('#quality-btn').innerText(), '240p');
    await page.click('#quality-btn');
    await page.click('#quality-menu [role="menuitemradio"]:text-is("Auto")');
    await waitFor(() => window.reelPlayer.hls.autoLevelEnabled && window.reelPlayer.hls.manualLevel === -1);
    assert.match(await page.locator('#quality-btn').innerText(), /^Auto/);
  });

  it('shows English captions with the known cue and remembers the choice', async () => {
    await page.click('#cc-btn');
    await page.click('#cc-menu [role="menuitemradio"]:text-is("English")');
    await waitFor(() => [...document.getElementById('video').textTracks]
      .some((t) => t.label === 'English' && t.mode === 'showing'));
    await pause();
    await seekAndSettle(5);
    await waitFor((text) => {
      const t = [...document.getElementById('video').textTracks].find((x) => x.label === 'English');
      return t && t.activeCues && [...t.activeCues].some((c) => c.text === text);
    }, CUE);
    assert.equal(await page.evaluate(() => localStorage.getItem('reel.captions')), 'eng');
    // c turns captions off and back on in the same language.
    const english = () => page.evaluate(() => [...document.getElementById('video').textTracks]
      .find((t) => t.label === 'English').mode);
    await page.locator('#play').focus();
    await page.keyboard.press('c');
    await waitFor(() => window.reelPlayer.hls.subtitleTrack === -1);
    assert.notEqual(await english(), 'showing');
    await page.keyboard.press('c');
    await waitFor(() => [...document.getElementById('video').textTracks]
      .some((t) => t.label === 'English' && t.mode === 'showing'));
    await page.click('#quality-btn');
    await page.locator('#quality-menu').waitFor();
    await screenshot(page, 'player-captions-quality.png');
    await page.keyboard.press('Escape');
  });

  it('goes fullscreen from the button', async () => {
    await page.click('#fs');
    await waitFor(() => document.fullscreenElement === document.getElementById('player'));
    await page.evaluate(() => document.exitFullscreen());
    await waitFor(() => document.fullscreenElement === null);
  });

  it('previews the storyboard tile for the hovered time', async () => {
    assert.ok(video.storyboard_url, 'the video has a storyboard');
    const vtt = await (await fetch(node.base + video.storyboard_url)).text();
    const cues = vtt.split('\n\n').filter((b) => b.includes('-->')).map((b) => {
      const [timing, target] = b.trim().split('\n');
      const secs = (s) => s.trim().split(':').reduce((a, n) => a * 60 + Number(n), 0);
      const [a, z] = timing.split('-->').map(secs);
      return { a, z, xywh: target.split('#xywh=')[1] };
    });
    await waitFor(() => Number(document.getElementById('player').dataset.storyboardReady) > 0);
    const box = await page.locator('#seek').boundingBox();
    const { d } = await state();
    for (const frac of [0.3, 0.72]) {
      const x = box.x + box.width * frac;
      await page.mouse.move(x, box.y + box.height / 2);
      await page.locator('#thumb-img').waitFor();
      const t = ((x - box.x) / box.width) * d;
      const want = cues.find((c) => t >= c.a && t < c.z);
      const got = await page.evaluate(() => {
        const el = document.getElementById('thumb-img');
        const cs = getComputedStyle(el);
        return { xywh: el.dataset.xywh, pos: cs.backgroundPosition, w: cs.width, h: cs.height, bg: cs.backgroundImage };
      });
      assert.equal(got.xywh, want.xywh);
      const [x0, y0, w, h] = want.xywh.split(',').map(Number);
      assert.equal(got.pos, `${-x0}px ${-y0}px`.replace(/^-0px/, '0px').replace(/ -0px$/, ' 0px'));
      assert.equal(got.w, `${w}px`);
      assert.equal(got.h, `${h}px`);
      assert.match(got.bg, /storyboard\.jpg/);
    }
    await page.mouse.move(5, 5);
  });

  it('offers to resume where the viewer left off', async () => {
    await page.evaluate((id) => localStorage.setItem(`reel.pos.${id}`, '12.0'), video.id);
    await page.reload();
    const resume = page.locator('#resume');
    await resume.waitFor();
    assert.equal(await resume.innerText(), 'Resume at 0:12');
    await waitFor(() => window.reelPlayer && window.reelPlayer.hls && window.reelPlayer.hls.levels.length > 0);
    // The captions choice survived the reload.
    await waitFor(() => [...document.getElementById('video').textTracks]
      .some((t) => t.label === 'English' && t.mode === 'showing'));
    await resume.click();
    await waitFor(() => document.getElementById('video').currentTime >= 12);
    await waitFor(() => document.getElementById('resume').hidden);
    await pause();
  });

  it('says so in words when the network fails, then recovers', async () => {
    await page.route(/\/master\.m3u8/, (route) => route.abort('connectionrefused'));
    await page.reload();
    await waitFor(() => /Network lost, retrying/.test(document.getElementById('player-msg').textContent));
    await page.unroute(/\/master\.m3u8/);
    await waitFor(() => window.reelPlayer.hls.levels.length > 0, null, 30_000);
    await page.click('#play');
    await waitFor(() => document.getElementById('video').currentTime > 1 && document.getElementById('player-msg').textContent === '', null, 30_000);
    await pause();
  });

  it('fits a phone-width screen', async () => {
    await page.setViewportSize({ width: 360, height: 740 });
    await page.reload();
    await page.locator('#fs').waitFor();
    const fits = await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth);
    assert.ok(fits, 'no horizontal scrolling at 360 px');
    for (const id of ['#play', '#back10', '#fwd10', '#cc-btn', '#quality-btn', '#fs']) {
      assert.ok(await page.locator(id).isVisible(), `${id} visible`);
    }
    await page.setViewportSize({ width: 1100, height: 760 });
  });

  it('renders a hostile title and cue as text and runs no script', async () => {
    await page.goto(`${node.base}/`);
    const card = page.locator(`a[href="/watch/${evil.id}"] .title`);
    assert.equal(await card.innerText(), EVIL_TITLE);
    await page.goto(`${node.base}/watch/${evil.id}`);
    assert.equal(await page.locator('h1').innerText(), EVIL_TITLE);
    await waitFor(() => window.reelPlayer && window.reelPlayer.hls && window.reelPlayer.hls.subtitleTracks.length > 0);
    await page.click('#cc-btn');
    await page.click('#cc-menu [role="menuitemradio"]:text-is("Careful")');
    await seekAndSettle(1.5);
    const html = await waitFor(() => {
      const t = [...document.getElementById('video').textTracks].find((x) => x.label === 'Careful');
      const c = t && t.activeCues && t.activeCues[0];
      if (!c) return null;
      const frag = c.getCueAsHTML();
      return { text: frag.textContent, scripts: frag.querySelectorAll('script,img').length };
    });
    const cue = await html.jsonValue();
    assert.match(cue.text, /<script>window\.__pwned=2<\/script><img src=x/);
    assert.equal(cue.scripts, 0);
    assert.equal(await page.evaluate(() => document.querySelectorAll('img[src="x"], script:not([src])').length), 0);
    assert.equal(await page.evaluate(() => window.__pwned), undefined);
    assert.deepEqual(b.dialogs, []);
    assert.deepEqual(b.errors, []);
  });
});
