// Accessibility in headless Chromium against a real reel-node: an axe-core
// audit of the catalog, watch, sign-in and upload pages, the player's
// accessible names from the moment the page loads, and the player driven
// from the keyboard alone.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { startNode, importUrl, waitReady, addSubtitles, USER, PASSWORD } from './lib/node.mjs';
import { makeClip, mediaServer } from './lib/media.mjs';
import { launch } from './lib/browser.mjs';

const AXE = createRequire(import.meta.url).resolve('axe-core/axe.min.js');
const SRT = '1\n00:00:01,000 --> 00:00:05,000\nHello\n';

let node;
let media;
let b;
let page;
let id;

/** Runs axe on the current page; returns the serious and critical violations. */
async function audit() {
  await page.addScriptTag({ path: AXE });
  const result = await page.evaluate(() => window.axe.run(document, {
    runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'] },
  }));
  return result.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.impact} ${v.id}: ${v.help} at ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
}

const focused = () => page.evaluate(() => {
  const el = document.activeElement;
  return { id: el.id, role: el.getAttribute('role'), value: el.dataset.value, checked: el.getAttribute('aria-checked') };
});

before(async () => {
  media = await mediaServer();
  node = await startNode();
  makeClip(media.dir, 'a11y.mp4', { w: 640, h: 360, secs: 8 });
  id = await importUrl(node, 'Accessible clip', media.url('a11y.mp4'));
  await waitReady(node, id);
  await addSubtitles(node, id, 'en', 'English', SRT);
  // The pages forbid inline scripts (CSP); the audit injects axe-core.
  b = await launch({ bypassCSP: true });
  page = b.page;
});

after(async () => {
  await b?.close();
  await node?.stop();
  await media?.close();
});

describe('accessibility', () => {
  it('the catalog, watch, embed, sign-in and upload pages have no serious or critical axe violations', async () => {
    const found = {};
    for (const [name, path] of [['catalog', '/'], ['watch', `/watch/${id}`], ['embed', `/embed/${id}`],
      ['embed, missing', '/embed/0123456789abcdef'], ['sign-in', '/login']]) {
      await page.goto(node.base + path);
      found[name] = await audit();
    }
    await page.goto(`${node.base}/login`);
    await page.fill('#name', USER);
    await page.fill('#password', PASSWORD);
    await Promise.all([page.waitForURL((u) => !u.pathname.startsWith('/login')), page.click('form.stack button[type="submit"]')]);
    await page.goto(`${node.base}/upload`);
    found.upload = await audit();
    // The watch page signed in also shows the subtitle form.
    await page.goto(`${node.base}/watch/${id}`);
    found['watch, signed in'] = await audit();
    await page.context().clearCookies();
    assert.deepEqual(found, {
      catalog: [], watch: [], embed: [], 'embed, missing': [], 'sign-in': [], upload: [], 'watch, signed in': [],
    });
  });

  it('every player control has a descriptive name as soon as the page loads', async () => {
    // Scripts blocked: the names must come from the page itself, not from
    // the player code catching up later.
    await page.route('**/static/*.js', (r) => r.abort());
    try {
      await page.goto(`${node.base}/watch/${id}`);
      for (const name of ['Play', 'Back 10 seconds', 'Forward 10 seconds', 'Mute',
        'Playback speed: Normal', 'Captions: Off', 'Quality: Auto', 'Picture in picture', 'Fullscreen']) {
        assert.equal(await page.getByRole('button', { name, exact: true }).count(), 1, `button "${name}"`);
      }
      assert.equal(await page.getByRole('slider', { name: 'Seek' }).count(), 1);
      assert.equal(await page.getByRole('slider', { name: 'Volume' }).count(), 1);
    } finally {
      await page.unroute('**/static/*.js');
    }
  });

  it('works from the keyboard alone: menus open on the chosen item, arrows move, Enter picks, focus returns', async () => {
    await page.goto(`${node.base}/watch/${id}`);
    await page.waitForFunction(() => window.reelPlayer && document.querySelectorAll('#cc-menu [role="menuitemradio"]').length > 1);
    // Tab from the top of the page until the speed button has focus.
    await page.locator('body').focus();
    for (let i = 0; i < 40 && (await focused()).id !== 'speed-btn'; i++) await page.keyboard.press('Tab');
    assert.equal((await focused()).id, 'speed-btn', 'Tab reaches the speed button');

    await page.keyboard.press('Enter');
    assert.equal(await page.locator('#speed-btn').getAttribute('aria-expanded'), 'true');
    assert.deepEqual(await focused(), { id: '', role: 'menuitemradio', value: '1', checked: 'true' });
    await page.keyboard.press('ArrowDown');
    assert.equal((await focused()).value, '1.25');
    await page.keyboard.press('Enter');
    await page.waitForFunction(() => document.getElementById('video').playbackRate === 1.25);
    assert.equal((await focused()).id, 'speed-btn', 'focus returns to the button');
    assert.equal(await page.locator('#speed-btn').getAttribute('aria-label'), 'Playback speed: 1.25×');
    assert.equal(await page.locator('#speed-menu [aria-checked="true"]').getAttribute('data-value'), '1.25');
    assert.equal(await page.locator('#speed-btn').getAttribute('aria-expanded'), 'false');

    // ArrowUp on a menu button opens it on its last item; End and Home move;
    // Escape closes it and gives focus back without changing anything.
    await page.keyboard.press('Tab');
    assert.equal((await focused()).id, 'cc-btn');
    await page.keyboard.press('ArrowUp');
    assert.equal((await focused()).role, 'menuitemradio');
    await page.keyboard.press('Home');
    assert.equal((await focused()).value, '-1');
    await page.keyboard.press('End');
    const last = (await focused()).value;
    await page.keyboard.press('Escape');
    assert.equal((await focused()).id, 'cc-btn');
    assert.equal(await page.locator('#cc-menu').isHidden(), true);
    assert.equal(await page.locator('#cc-btn').getAttribute('aria-label'), 'Captions: Off');
    // Space opens it too; picking English names the choice.
    await page.keyboard.press(' ');
    await page.keyboard.press('End');
    assert.equal((await focused()).value, last);
    await page.keyboard.press('Enter');
    assert.equal(await page.locator('#cc-btn').getAttribute('aria-label'), 'Captions: English');
    // The volume shortcut did not fire on the menu's arrow keys.
    assert.equal(await page.evaluate(() => document.getElementById('video').volume), 1);

    // Tab leaves an open menu and closes it.
    await page.keyboard.press('Enter');
    assert.equal((await focused()).role, 'menuitemradio');
    await page.keyboard.press('Tab');
    assert.equal(await page.locator('#cc-menu').isHidden(), true);
    assert.equal(await page.locator('#cc-btn').getAttribute('aria-expanded'), 'false');

    // Play and pause from the keyboard: k anywhere, Enter on the play button.
    await page.keyboard.press('k');
    await page.waitForFunction(() => !document.getElementById('video').paused);
    await page.locator('#play').focus();
    await page.keyboard.press('Enter');
    await page.waitForFunction(() => document.getElementById('video').paused);
    // The label follows the media element's `pause` event, a task after
    // `paused` turns true.
    await page.waitForFunction(() => document.getElementById('play').getAttribute('aria-label') === 'Play');
  });
});
