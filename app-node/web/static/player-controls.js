// Transport controls: play/pause, seek bar with buffered range, ±10 s,
// time, volume, mute, fullscreen and picture-in-picture.
import { clock, clamp } from './player-util.js';

const $ = (id) => document.getElementById(id);

export function initControls(p) {
  const { video, box } = p;
  const play = $('play');
  const seek = $('seek');
  const buffered = $('buffered');
  const played = $('played');
  const cur = $('cur');
  const dur = $('dur');
  const mute = $('mute');
  const volume = $('volume');
  const fs = $('fs');
  const pip = $('pip');
  let dragging = false;

  const duration = () => (Number.isFinite(video.duration) ? video.duration : 0);
  const togglePlay = () => {
    if (video.paused || video.ended) {
      video.play().catch((e) => {
        // AbortError only means a pause or seek overtook the start.
        if (e.name !== 'AbortError') p.say(`Press play to start (${e.message}).`);
      });
    } else {
      video.pause();
    }
  };
  const seekTo = (t) => {
    const d = duration();
    if (d) video.currentTime = clamp(t, 0, Math.max(0, d - 0.1));
  };
  const skip = (s) => seekTo(video.currentTime + s);
  const setVolume = (v) => {
    video.volume = clamp(v, 0, 1);
    video.muted = video.volume === 0;
  };
  const toggleMute = () => { video.muted = !video.muted; };
  const toggleFullscreen = () => {
    if (document.fullscreenElement) return document.exitFullscreen();
    if (box.requestFullscreen) {
      return box.requestFullscreen().catch((e) => p.say(`Fullscreen is not available (${e.message}).`));
    }
    // iOS only lets the video element itself go fullscreen.
    if (video.webkitEnterFullscreen) return video.webkitEnterFullscreen();
    return undefined;
  };

  const showTime = (t) => {
    const d = duration();
    cur.textContent = clock(t);
    if (!dragging) seek.value = d ? Math.round((t / d) * 1000) : 0;
    seek.setAttribute('aria-valuetext', `${clock(t)} of ${clock(d)}`);
    played.style.width = d ? `${(t / d) * 100}%` : '0';
  };
  const showBuffered = () => {
    const d = duration();
    const t = video.currentTime;
    for (let i = 0; i < video.buffered.length; i += 1) {
      const a = video.buffered.start(i);
      const b = video.buffered.end(i);
      if (d && a <= t + 0.5 && t <= b) {
        buffered.style.left = `${(a / d) * 100}%`;
        buffered.style.width = `${((b - a) / d) * 100}%`;
        return;
      }
    }
    buffered.style.width = '0';
  };
  const showPlaying = () => {
    const paused = video.paused || video.ended;
    play.setAttribute('aria-label', paused ? 'Play' : 'Pause');
    box.classList.toggle('paused', paused);
  };
  const showVolume = () => {
    mute.classList.toggle('muted', video.muted || video.volume === 0);
    mute.setAttribute('aria-label', video.muted ? 'Unmute' : 'Mute');
    volume.value = video.muted ? 0 : video.volume;
  };

  play.addEventListener('click', togglePlay);
  video.addEventListener('click', togglePlay);
  video.addEventListener('dblclick', toggleFullscreen);
  $('back10').addEventListener('click', () => skip(-10));
  $('fwd10').addEventListener('click', () => skip(10));
  mute.addEventListener('click', toggleMute);
  volume.addEventListener('input', () => setVolume(Number(volume.value)));
  fs.addEventListener('click', toggleFullscreen);
  seek.addEventListener('input', () => {
    dragging = true;
    showTime((seek.value / 1000) * duration());
  });
  seek.addEventListener('change', () => {
    dragging = false;
    seekTo((seek.value / 1000) * duration());
  });
  if (document.pictureInPictureEnabled && !video.disablePictureInPicture) {
    pip.addEventListener('click', () => (document.pictureInPictureElement
      ? document.exitPictureInPicture()
      : video.requestPictureInPicture()).catch((e) => p.say(`Picture-in-picture failed (${e.message}).`)));
  } else {
    pip.hidden = true;
  }

  video.addEventListener('timeupdate', () => { showTime(video.currentTime); showBuffered(); });
  video.addEventListener('progress', showBuffered);
  video.addEventListener('durationchange', () => { dur.textContent = clock(duration()); showTime(video.currentTime); });
  video.addEventListener('play', showPlaying);
  video.addEventListener('pause', showPlaying);
  video.addEventListener('ended', showPlaying);
  video.addEventListener('volumechange', showVolume);
  document.addEventListener('fullscreenchange', () => {
    fs.setAttribute('aria-label', document.fullscreenElement ? 'Exit fullscreen' : 'Fullscreen');
  });

  showPlaying();
  showVolume();

  return { togglePlay, seekTo, skip, setVolume, toggleMute, toggleFullscreen, duration };
}
