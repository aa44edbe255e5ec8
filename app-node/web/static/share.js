// Share box of the watch page: the video's link, the link at the player's
// current time, and the <iframe> code for other sites, each with a copy
// button. Built from the page's own origin, so the links name whichever
// host the viewer reached (the balancer, a CDN name) rather than a node.
const box = document.getElementById('share');

/** Escapes text for an HTML attribute value in double quotes. */
export function escapeAttr(s) {
  return String(s).replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/'/g, '&#39;')
    .replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** The iframe code; the same shape as the oEmbed answer's `html`. */
export function iframeCode(origin, id, title, width, height) {
  return `<iframe src="${escapeAttr(`${origin}/embed/${id}`)}" width="${width}" height="${height}" `
    + `title="${escapeAttr(title)}" frameborder="0" `
    + 'allow="autoplay; fullscreen; picture-in-picture" allowfullscreen></iframe>';
}

async function copy(field) {
  try {
    await navigator.clipboard.writeText(field.value);
    return true;
  } catch {
    // No clipboard API (plain HTTP, old browsers, a denied permission):
    // the older way, from a selection.
    field.focus();
    field.select();
    try { return document.execCommand('copy'); } catch { return false; }
  }
}

if (box) {
  const { id, title, width, height } = box.dataset;
  const origin = window.location.origin;
  const link = document.getElementById('share-link');
  const atTime = document.getElementById('share-time');
  const code = document.getElementById('share-embed');
  const msg = document.getElementById('share-msg');
  const video = document.getElementById('video');
  const watchUrl = `${origin}/watch/${id}`;
  link.value = watchUrl;
  code.value = iframeCode(origin, id, title, width, height);
  const showTime = () => {
    const t = video ? Math.floor(video.currentTime || 0) : 0;
    atTime.value = `${watchUrl}?t=${t}`;
  };
  showTime();
  if (video) {
    video.addEventListener('timeupdate', showTime);
    video.addEventListener('seeked', showTime);
  }
  // A selected field is easier to copy by hand when the button fails.
  for (const field of [link, atTime, code]) field.addEventListener('focus', () => field.select());
  box.addEventListener('click', async (e) => {
    const btn = e.target.closest('button[data-copy]');
    if (!btn) return;
    const field = document.getElementById(btn.dataset.copy);
    if (field === atTime) showTime();
    const label = box.querySelector(`label[for="${field.id}"]`).textContent;
    msg.textContent = (await copy(field)) ? `${label} copied.` : `Copying failed: select the text and copy it.`;
  });
}
