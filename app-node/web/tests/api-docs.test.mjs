// The API reference page renders the node's own OpenAPI description with
// the embedded Swagger UI under the pages' Content-Security-Policy: no
// policy violation, no script error, every operation listed.
import { after, before, it } from 'node:test';
import assert from 'node:assert/strict';
import { startNode } from './lib/node.mjs';
import { launch, screenshot } from './lib/browser.mjs';

let node;
let b;

before(async () => {
  node = await startNode();
  b = await launch();
});

after(async () => {
  await b?.close();
  await node?.stop();
});

it('renders every operation under the page policy', async () => {
  const { page, errors } = b;
  const violations = [];
  page.on('console', (m) => {
    if (/Content Security Policy/i.test(m.text())) violations.push(m.text());
  });
  const resp = await page.goto(`${node.base}/api/docs`);
  assert.equal(resp.status(), 200);
  assert.match(resp.headers()['content-security-policy'], /script-src 'self'/);
  await page.waitForSelector('.swagger-ui .info .title');
  assert.match(await page.textContent('.swagger-ui .info .title'), /Reel node API/);
  const spec = await (await fetch(`${node.base}/api/openapi.json`)).json();
  const expected = Object.values(spec.paths)
    .reduce((n, item) => n + Object.keys(item).filter((k) => k !== 'parameters').length, 0);
  await page.waitForFunction((n) => document.querySelectorAll('.opblock').length >= n, expected);
  // Opening one operation shows its responses, error shape included.
  await page.click('#operations-videos-getVideo .opblock-summary');
  await page.waitForSelector('#operations-videos-getVideo .responses-table');
  const text = await page.textContent('#operations-videos-getVideo');
  assert.match(text, /404/);
  await screenshot(page, 'api-docs.png');
  assert.deepEqual(violations, []);
  assert.deepEqual(errors, []);
});
