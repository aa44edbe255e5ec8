// Attaches the HLS stream: hls.js where Media Source Extensions work, the
// browser's own HLS (Safari, iOS) otherwise. Failures become words on the
// player, never a silent black box.

import { cmcdConfig } from './player-qoe.js';
import { preferredCaptions } from './player-menus.js';

const BANDWIDTH_KEY = 'reel-bandwidth';

// Bits per second this browser last measured (kept from earlier videos),
// or the connection's own estimate; 0 when there is neither.
function knownBandwidth() {
  try {
    const saved = Number(localStorage.getItem(BANDWIDTH_KEY));
    if (saved > 0) return saved;
  } catch { /* storage off */ }
  const mbps = navigator.connection && navigator.connection.downlink;
  return mbps > 0 ? mbps * 1e6 : 0;
}

// hls.js 1.7 holds a loaded audio segment until the video's first
// timestamps are known, but, unlike 1.5, does not look at it again when
// they arrive: it waits for its next 100 ms tick, which delays the first
// frame of about half the loads by up to 100 ms. This audio controller looks
// at once, as 1.5 did. (The controller class is a documented config key of
// hls.js; `state` and `tick` are its own.)
function promptAudioController(Hls) {
  const Base = Hls.DefaultConfig && Hls.DefaultConfig.audioStreamController;
  if (typeof Base !== 'function') return undefined;
  return class extends Base {
    onInitPtsFound(event, data) {
      super.onInitPtsFound(event, data);
      if (data && data.id === 'main' && this.state === 'WAITING_INIT_PTS') this.tick();
    }
  };
}

export function attachSource(p) {
  const { video, say } = p;
  const src = p.box.dataset.src;
  const Hls = window.Hls;
  video.addEventListener('playing', () => say(''));

  if (Hls && Hls.isSupported()) {
    const bandwidth = knownBandwidth();
    const hls = new Hls({
      capLevelToPlayerSize: true,
      // Segments are fragmented MP4, which hls.js only reads timestamps
      // from (no transmuxing); its worker would start only when the first
      // segment arrives, putting 30-50 ms of startup before the first
      // frame for no gain.
      enableWorker: false,
      ...(promptAudioController(Hls) ? { audioStreamController: promptAudioController(Hls) } : {}),
      subtitleDisplay: true,
      // Fetch the first segment while the media element is still being
      // attached: the first frame shows sooner.
      startFragPrefetch: true,
      // Start on the rung the known bandwidth carries, rather than on the
      // first one listed (the highest).
      ...(bandwidth ? { startLevel: -1, testBandwidth: false, abrEwmaDefaultEstimate: bandwidth } : {}),
      cmcd: cmcdConfig(p.box),
      ...(preferredCaptions() ? { subtitlePreference: { lang: preferredCaptions() } } : {}),
      // A video still being encoded has growing (EVENT) playlists, which
      // hls.js would otherwise join at their live edge.
      ...(p.box.dataset.processing ? { startPosition: 0 } : {}),
      // A link at a time: hls.js loads from there rather than seeking
      // after fetching the first segments.
      ...(p.start ? { startPosition: p.start } : {}),
    });
    let retries = 0;
    hls.on(Hls.Events.ERROR, (_event, data) => {
      if (!data.fatal) return;
      if (data.type === Hls.ErrorTypes.NETWORK_ERROR) {
        retries += 1;
        const wait = Math.min(30, 2 ** retries);
        say(`Network lost, retrying in ${wait} s…`);
        setTimeout(() => {
          // A failed master playlist has to be asked for again; otherwise
          // loading resumes where it stopped.
          // (`hls.url`: after a retry of the encode the page switches to
          // the new version's master.)
          if (!hls.levels || hls.levels.length === 0) hls.loadSource(hls.url || src);
          else hls.startLoad();
        }, wait * 1000);
      } else if (data.type === Hls.ErrorTypes.MEDIA_ERROR) {
        say('Playback problem, recovering…');
        hls.recoverMediaError();
      } else {
        say(`This video cannot be played (${data.details}).`);
        hls.destroy();
      }
    });
    hls.on(Hls.Events.FRAG_LOADED, () => {
      if (retries) { retries = 0; say(''); }
      try {
        localStorage.setItem(BANDWIDTH_KEY, String(Math.round(hls.bandwidthEstimate)));
      } catch { /* storage off */ }
    });
    hls.loadSource(src);
    hls.attachMedia(video);
    return hls;
  }
  video.addEventListener('error', () => {
    const why = video.error && video.error.message ? video.error.message : 'media error';
    say(`This video cannot be played in this browser (${why}).`);
  });
  if (video.canPlayType('application/vnd.apple.mpegurl')) {
    if (p.start) {
      video.addEventListener('loadedmetadata', () => { video.currentTime = p.start; }, { once: true });
    }
    video.src = src;
  } else {
    say('This browser cannot play HLS video.');
  }
  return null;
}
