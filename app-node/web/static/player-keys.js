// Keyboard shortcuts of the big video sites, active anywhere on the watch
// page except while typing in a form field.

const TYPING = new Set(['text', 'search', 'url', 'email', 'password', 'number', 'file']);

function typing(el) {
  if (!el || !el.tagName) return false;
  if (el.isContentEditable || el.tagName === 'TEXTAREA' || el.tagName === 'SELECT') return true;
  return el.tagName === 'INPUT' && TYPING.has(el.type);
}

export function initKeys(p) {
  const { video } = p;
  const c = p.controls;
  const m = p.menus;
  document.addEventListener('keydown', (e) => {
    if (e.ctrlKey || e.metaKey || e.altKey || e.defaultPrevented || typing(e.target)) return;
    const tag = e.target.tagName;
    // Space and Enter already activate focused buttons, links and summaries.
    if ((e.key === ' ' || e.key === 'Enter') && (tag === 'BUTTON' || tag === 'A' || tag === 'SUMMARY')) return;
    const key = e.key.length === 1 ? e.key.toLowerCase() : e.key;
    switch (key) {
      case ' ': case 'k': c.togglePlay(); break;
      case 'j': c.skip(-10); break;
      case 'l': c.skip(10); break;
      case 'ArrowLeft': c.skip(-5); break;
      case 'ArrowRight': c.skip(5); break;
      case 'ArrowUp': video.muted = false; c.setVolume(video.volume + 0.05); break;
      case 'ArrowDown': c.setVolume(video.volume - 0.05); break;
      case 'f': c.toggleFullscreen(); break;
      case 'm': c.toggleMute(); break;
      case 'c': m.captions.toggle(); break;
      case '<': m.speed.step(-1); break;
      case '>': m.speed.step(1); break;
      default:
        if (key >= '0' && key <= '9' && key.length === 1) c.seekTo((c.duration() * Number(key)) / 10);
        else return;
    }
    e.preventDefault();
  });
}
