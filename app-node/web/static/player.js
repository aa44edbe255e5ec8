// Watch page entry: attaches the stream, then wires the controls, menus,
// keyboard, seek previews, the resume offer and, while the video is still
// being encoded, its progress.
import { attachSource } from './player-source.js';
import { initControls } from './player-controls.js';
import { initMenus } from './player-menus.js';
import { initKeys } from './player-keys.js';
import { initStoryboard } from './player-storyboard.js';
import { initResume } from './player-resume.js';
import { initProgress } from './player-progress.js';

const box = document.getElementById('player');
if (box) {
  const video = document.getElementById('video');
  const msg = document.getElementById('player-msg');
  const player = {
    box,
    video,
    hls: null,
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
