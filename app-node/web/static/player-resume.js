// Resume: the position is remembered per video once 10 s have been watched,
// and offered the next time the video is opened.
import { clock, load, save } from './player-util.js';

const MIN_S = 10;

export function initResume(p) {
  const { video } = p;
  const key = `reel.pos.${p.box.dataset.id}`;
  const btn = document.getElementById('resume');
  const saved = Number(load(key));
  let lastSave = 0;

  // A link at a time says where to start: no offer to go elsewhere.
  if (saved >= MIN_S && !p.start) {
    btn.textContent = `Resume at ${clock(saved)}`;
    btn.hidden = false;
    btn.addEventListener('click', () => {
      p.controls.seekTo(saved);
      btn.hidden = true;
      if (video.paused) p.controls.togglePlay();
    });
  }
  video.addEventListener('timeupdate', () => {
    const t = video.currentTime;
    if (t > MIN_S && !btn.hidden) btn.hidden = true;
    const d = video.duration;
    // Near the end counts as finished: next time starts from the top.
    if (Number.isFinite(d) && t > d - 5) { save(key, null); return; }
    if (t >= MIN_S && Math.abs(t - lastSave) >= 2) { lastSave = t; save(key, t.toFixed(1)); }
  });
  video.addEventListener('ended', () => save(key, null));
}
