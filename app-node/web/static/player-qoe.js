// Viewer-experience reports: hls.js sends CMCD (CTA-5004) version 2 event
// reports (play state changes, bitrate changes, errors, and every 10 s) to
// the node, which folds them into per-video numbers and metrics.

// One report at a time, in the order they happened: the node then folds
// them in order whichever node gets each. `keepalive` lets the last one out
// while the page closes. A failed send answers 503, so hls.js keeps the
// report and sends it again with the next.
function inOrder() {
  let last = Promise.resolve();
  return (req) => {
    const sent = last.then(() => fetch(req.url, {
      method: req.method || 'POST',
      headers: req.headers,
      body: req.body,
      keepalive: true,
      credentials: 'omit',
    })).then((r) => ({ status: r.status }), () => ({ status: 503 }));
    last = sent;
    return sent;
  };
}

// The `cmcd` option of hls.js for this player, or undefined when the node
// takes no reports.
export function cmcdConfig(box) {
  const target = box.dataset.qoe;
  if (!target) return undefined;
  let reporter = null;
  // Leaving the page closes the interval being played, so the last seconds
  // count too.
  window.addEventListener('pagehide', () => {
    if (reporter) reporter.recordCustomEvent('leave');
  });
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
      includeKeys: ['br', 'cid', 'e', 'ec', 'sid', 'sn', 'sta', 'ts', 'v'],
    }],
    loader: inOrder(),
    reporterCallback: (r) => { reporter = r; },
  };
}
