// Small helpers shared by the player modules.

/** `m:ss` or `h:mm:ss`. */
export function clock(seconds) {
  const s = Math.max(0, Math.floor(Number.isFinite(seconds) ? seconds : 0));
  const two = (n) => String(n).padStart(2, '0');
  if (s >= 3600) return `${Math.floor(s / 3600)}:${two(Math.floor(s / 60) % 60)}:${two(s % 60)}`;
  return `${Math.floor(s / 60)}:${two(s % 60)}`;
}

export const clamp = (x, lo, hi) => Math.min(hi, Math.max(lo, x));

// localStorage can be disabled or full; the player must work without it.
export function load(key) {
  try { return window.localStorage.getItem(key); } catch { return null; }
}
export function save(key, value) {
  try {
    if (value === null) window.localStorage.removeItem(key);
    else window.localStorage.setItem(key, String(value));
  } catch { /* remembering is a nicety */ }
}

function vttTime(text) {
  const parts = text.trim().split(':').map(Number);
  return parts.reduce((acc, n) => acc * 60 + n, 0);
}

/**
 * Parses a thumbnails WebVTT track (`sprite.jpg#xywh=x,y,w,h` cues) into
 * `{start, end, url, x, y, w, h}` with URLs resolved against `base`.
 */
export function parseThumbnails(text, base) {
  const cues = [];
  for (const block of text.replace(/\r\n?/g, '\n').split(/\n\n+/)) {
    const lines = block.split('\n');
    const t = lines.findIndex((l) => l.includes('-->'));
    if (t < 0 || !lines[t + 1]) continue;
    const [a, b] = lines[t].split('-->');
    const m = /^(.*)#xywh=(\d+),(\d+),(\d+),(\d+)$/.exec(lines[t + 1].trim());
    if (!m) continue;
    cues.push({
      start: vttTime(a), end: vttTime(b.trim().split(/\s+/)[0]),
      url: new URL(m[1], base).href, x: +m[2], y: +m[3], w: +m[4], h: +m[5],
    });
  }
  return cues;
}
