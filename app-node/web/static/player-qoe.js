// Viewer-experience reports: hls.js sends CMCD (CTA-5004) version 2 event
// reports (play state changes, bitrate changes, errors, and every 10 s) to
// the node, which folds them into per-video numbers and metrics.

// Sends reports one at a time, in the order they happened, numbered by this
// page (hls.js starts its count again whenever the player reloads its
// source). A report that fails for a passing reason (no network, 429, 5xx)
// is sent again, before any later one, a few times with growing waits; the
// node answering 410 (reports off, video gone) stops them all. hls.js is
// always told a report went, so it never resends one out of order itself.
function reportSender() {
  const queue = [];
  let next = 0;
  // Reports wait until the first frame is shown (or a few seconds have
  // passed), so they never compete with the first segments for the
  // browser's connections.
  let held = true;
  let inflight = null;
  let busy = false;
  let gone = false;
  let leaving = false;
  const post = (item) => fetch(item.url, {
    method: 'POST',
    headers: item.headers,
    body: item.body,
    // Lets the last reports out while the page closes.
    keepalive: true,
    credentials: 'omit',
    signal: AbortSignal.timeout(10_000),
  }).then((r) => r.status, () => 0);
  const pump = async () => {
    if (busy || held) return;
    busy = true;
    while (queue.length && !gone) {
      const item = queue[0];
      inflight = item;
      // eslint-disable-next-line no-await-in-loop
      const status = await post(item);
      inflight = null;
      if (status === 410) {
        gone = true;
      } else if ((status === 0 || status === 429 || status >= 500) && item.tries < 4) {
        item.tries += 1;
        // eslint-disable-next-line no-await-in-loop
        await new Promise((ok) => { setTimeout(ok, 1000 * 2 ** item.tries); });
      } else {
        queue.shift();
      }
    }
    busy = false;
  };
  return {
    send(req) {
      if (gone) return Promise.resolve({ status: 410 });
      const body = String(req.body || '').split('\n')
        .map((line) => line.replace(/(^|,)sn=\d+/, (_m, lead) => `${lead}sn=${next++}`))
        .join('\n');
      const item = { url: req.url, headers: req.headers, body, tries: 0 };
      // The page is going: no time to wait for earlier sends.
      if (leaving) post(item); else { queue.push(item); pump(); }
      return Promise.resolve({ status: 204 });
    },
    setLeaving(on) {
      leaving = on;
      // Whatever still waits goes now, in order; the one being sent is on
      // its way (`keepalive` outlives the page).
      if (on) queue.splice(0).filter((item) => item !== inflight).forEach(post);
    },
    release() {
      if (!held) return;
      held = false;
      pump();
    },
  };
}

// The `cmcd` option of hls.js for this player, or undefined when the node
// takes no reports.
export function cmcdConfig(box) {
  const target = box.dataset.qoe;
  if (!target) return undefined;
  const sender = reportSender();
  const video = document.getElementById('video');
  if (video) video.addEventListener('loadeddata', () => sender.release(), { once: true });
  setTimeout(() => sender.release(), 5000);
  let reporter = null;
  // Leaving the page closes the interval being played, so the last seconds
  // count, and time spent away (in the browser's page cache) does not.
  window.addEventListener('pagehide', () => {
    if (!reporter) return;
    sender.setLeaving(true);
    reporter.recordCustomEvent('leave');
  });
  window.addEventListener('pageshow', (e) => { if (e.persisted) sender.setLeaving(false); });
  return {
    version: 2,
    contentId: box.dataset.id,
    // Nothing is added to media requests: their URLs stay the same for
    // every viewer, so the balancer's cache keeps serving them.
    includeKeys: [],
    eventTargets: [{
      url: new URL(target, window.location.href).href,
      events: ['ps', 'bc', 'e', 't', 'ce'],
      interval: 10,
      batchSize: 1,
      includeKeys: ['br', 'cen', 'cid', 'e', 'ec', 'sid', 'sn', 'sta', 'ts', 'v'],
    }],
    loader: (req) => sender.send(req),
    reporterCallback: (r) => { reporter = r; },
  };
}
