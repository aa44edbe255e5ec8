// Watch page entry: attaches the stream, then wires the controls, menus,
// keyboard, seek previews, the resume offer and, while the video is still
// being encoded, its progress. Used by the watch page and by the embed
// page (the player alone, in other sites' frames).
import { attachSource } from './player-source.js';
import { initControls } from './player-controls.js';
import { initMenus } from './player-menus.js';
import { initKeys } from './player-keys.js';
import { initStoryboard } from './player-storyboard.js';
import { initResume } from './player-resume.js';
import { initProgress } from './player-progress.js';

// `90`, `90.5` or `90s`: seconds; anything else is ignored.
export function startTime(raw) {
  const m = /^(\d{1,6}(?:\.\d+)?)s?$/.exec(raw || '');
  const t = m ? Number(m[1]) : 0;
  return t > 0 ? t : null;
}

const box = document.getElementById('player');
if (box) {
  const video = document.getElementById('video');
  const msg = document.getElementById('player-msg');
  const player = {
    box,
    video,
    hls: null,
    // `?t=SECONDS` (a shared link at a time, or an embed's start): where
    // playback begins, or null for the start (or the resume offer).
    start: startTime(new URLSearchParams(window.location.search).get('t')),
    say(text) { msg.textContent = text || ''; },
  };
  player.hls = attachSource(player);
  // A stable handle for the browser console and end-to-end tests.
  window.reelPlayer = player;
  player.controls = initControls(player);
  player.menus = initMenus(player);
  initKeys(player);
  initStoryboard(player);
  initResume(player);
  initProgress(player);
}
