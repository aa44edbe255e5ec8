// Seek-bar previews: while the pointer is over the seek bar (or the bar is
// being dragged), show the storyboard tile and time for that position.
import { clock, clamp, parseThumbnails } from './player-util.js';

const $ = (id) => document.getElementById(id);

export async function initStoryboard(p) {
  const wrap = $('seek-wrap');
  const seek = $('seek');
  const thumb = $('thumb');
  const img = $('thumb-img');
  const time = $('thumb-time');
  let cues = [];
  let hovering = false;

  const show = (frac) => {
    const d = p.controls.duration();
    if (!d) return;
    const t = frac * d;
    time.textContent = clock(t);
    const cue = cues.find((c) => t >= c.start && t < c.end) || (t >= d - 0.5 ? cues[cues.length - 1] : null);
    img.hidden = !cue;
    if (cue) {
      // CSSOM writes are allowed by the page's style-src 'self' policy.
      img.style.backgroundImage = `url("${cue.url}")`;
      img.style.backgroundPosition = `-${cue.x}px -${cue.y}px`;
      img.style.width = `${cue.w}px`;
      img.style.height = `${cue.h}px`;
      img.dataset.xywh = `${cue.x},${cue.y},${cue.w},${cue.h}`;
      img.dataset.time = String(t);
    }
    thumb.hidden = false;
    const width = thumb.offsetWidth;
    thumb.style.left = `${clamp(frac * wrap.clientWidth - width / 2, 0, Math.max(0, wrap.clientWidth - width))}px`;
  };
  const fraction = (clientX) => {
    const r = seek.getBoundingClientRect();
    return r.width ? clamp((clientX - r.left) / r.width, 0, 1) : 0;
  };

  wrap.addEventListener('pointermove', (e) => { hovering = true; show(fraction(e.clientX)); });
  wrap.addEventListener('pointerleave', () => { hovering = false; thumb.hidden = true; });
  seek.addEventListener('input', () => show(seek.value / 1000));
  seek.addEventListener('change', () => { if (!hovering) thumb.hidden = true; });
  seek.addEventListener('blur', () => { thumb.hidden = true; });

  const url = p.box.dataset.storyboard;
  if (!url) return;
  try {
    const r = await fetch(url);
    if (r.ok) cues = parseThumbnails(await r.text(), new URL(url, window.location.href));
  } catch {
    // Previews are optional: the time label still shows without them.
  }
  // Preload the sprite so the first hover shows a picture at once.
  if (cues.length) new Image().src = cues[0].url;
  p.box.dataset.storyboardReady = String(cues.length);
}
