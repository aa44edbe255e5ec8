// The speed, quality and captions menus.
import { popupMenu } from './player-menu.js';
import { load, save } from './player-util.js';

const $ = (id) => document.getElementById(id);
const RATES = [0.25, 0.5, 0.75, 1, 1.25, 1.5, 1.75, 2];
const CAPTIONS_KEY = 'reel.captions';

// The captions language this viewer last chose, or null for none. hls.js
// is given it at creation: a track picked only once the manifest is parsed
// is undone by hls.js's own start-up choice.
export function preferredCaptions() {
  const lang = load(CAPTIONS_KEY);
  return lang && lang !== 'off' ? lang : null;
}
// "c" turns captions back on in the language last shown.
const LAST_KEY = 'reel.captions.last';

function speedMenu(video) {
  const btn = $('speed-btn');
  const menu = popupMenu(btn, $('speed-menu'));
  const show = (r) => {
    btn.textContent = `${r}×`;
    btn.setAttribute('aria-label', `Playback speed: ${r === 1 ? 'Normal' : `${r}×`}`);
    menu.check(r);
  };
  // Shown at once, not only when the media element's ratechange event
  // arrives a moment later (the keys and other scripts change it too).
  const set = (rate) => { video.playbackRate = rate; show(rate); };
  menu.fill(RATES.map((r) => ({ label: r === 1 ? 'Normal' : `${r}×`, value: r, checked: r === 1 })), set);
  video.addEventListener('ratechange', () => show(video.playbackRate));
  return {
    set,
    step(dir) {
      const i = RATES.findIndex((r) => r >= video.playbackRate - 1e-9);
      set(RATES[Math.min(RATES.length - 1, Math.max(0, (i < 0 ? RATES.length - 1 : i) + dir))]);
    },
  };
}

function qualityMenu(p) {
  const btn = $('quality-btn');
  const hls = p.hls;
  if (!hls) {
    // Native HLS picks renditions itself and offers no API to choose.
    btn.parentElement.hidden = true;
    return { set() {} };
  }
  const menu = popupMenu(btn, $('quality-menu'));
  const name = (i) => (hls.levels[i] ? `${hls.levels[i].height}p` : '');
  const show = () => {
    const auto = hls.autoLevelEnabled;
    const now = name(hls.currentLevel >= 0 ? hls.currentLevel : hls.nextLoadLevel);
    btn.textContent = auto ? `Auto${now ? ` (${now})` : ''}` : name(hls.manualLevel);
    btn.setAttribute('aria-label', `Quality: ${btn.textContent}`);
    menu.check(auto ? -1 : hls.manualLevel);
  };
  const set = (level) => { hls.currentLevel = level; show(); };
  const build = () => {
    const levels = hls.levels.map((l, i) => ({ i, h: l.height })).sort((a, b) => b.h - a.h);
    menu.fill([{ label: 'Auto', value: -1, checked: true },
      ...levels.map((l) => ({ label: `${l.h}p`, value: l.i }))], set);
    show();
  };
  hls.on(window.Hls.Events.MANIFEST_PARSED, build);
  hls.on(window.Hls.Events.LEVEL_SWITCHED, show);
  return { set };
}

function captionsMenu(p) {
  const { video, hls } = p;
  const btn = $('cc-btn');
  const menu = popupMenu(btn, $('cc-menu'));
  // hls.js owns subtitle selection when present; natively the text tracks do.
  const tracks = () => (hls
    ? hls.subtitleTracks.map((t, i) => ({ i, lang: t.lang, label: t.name }))
    : [...video.textTracks].filter((t) => t.kind === 'subtitles' || t.kind === 'captions')
      .map((t, i) => ({ i, lang: t.language, label: t.label, track: t })));
  let current = -1;
  const select = (i) => {
    current = i;
    if (hls) {
      hls.subtitleTrack = i;
    } else {
      tracks().forEach((t) => { t.track.mode = t.i === i ? 'showing' : 'disabled'; });
    }
    btn.classList.toggle('on', i >= 0);
    const chosen = tracks().find((t) => t.i === i);
    btn.setAttribute('aria-label', `Captions: ${chosen ? chosen.label || chosen.lang : 'Off'}`);
    menu.check(i);
  };
  const pick = (i) => {
    select(i);
    const chosen = tracks()[i];
    save(CAPTIONS_KEY, chosen ? chosen.lang : 'off');
    if (chosen) save(LAST_KEY, chosen.lang);
  };
  const build = () => {
    const list = tracks();
    btn.parentElement.hidden = list.length === 0;
    menu.fill([{ label: 'Off', value: -1, checked: current < 0 },
      ...list.map((t) => ({ label: t.label || t.lang, value: t.i, checked: t.i === current }))], pick);
    const want = load(CAPTIONS_KEY);
    const match = list.find((t) => t.lang === want);
    if (match && current < 0) select(match.i);
  };
  if (hls) {
    hls.on(window.Hls.Events.SUBTITLE_TRACKS_UPDATED, build);
    hls.on(window.Hls.Events.MANIFEST_PARSED, build);
  } else {
    video.textTracks.addEventListener('addtrack', build);
  }
  build();
  return {
    pick,
    toggle() {
      if (current >= 0) { pick(-1); return; }
      const list = tracks();
      const want = list.find((t) => t.lang === load(LAST_KEY)) || list[0];
      if (want) pick(want.i);
    },
  };
}

export function initMenus(p) {
  const speed = speedMenu(p.video);
  const quality = qualityMenu(p);
  const captions = captionsMenu(p);
  return { speed, quality, captions };
}
