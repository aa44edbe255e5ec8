// A video still being encoded plays from the start while its ladder grows.
// This keeps the viewer told: how far the encode is, that a pause at the
// end of what is encoded is buffering (not an error), and what happened if
// the encode failed or started over.

const EVERY_MS = 4000;

export function initProgress(p) {
  const { box, video, say } = p;
  const note = document.getElementById('processing');
  if (!box.dataset.processing || !note) return;
  const id = box.dataset.id;
  let src = box.dataset.src.split('?')[0];
  let timer = null;

  const waiting = () => {
    // Stopped at the end of what is encoded so far.
    say('Buffering: the rest of this video is still being encoded…');
  };
  video.addEventListener('waiting', waiting);

  const stop = () => {
    clearTimeout(timer);
    video.removeEventListener('waiting', waiting);
  };

  const check = async () => {
    let v;
    try {
      const ctl = new AbortController();
      const t = setTimeout(() => ctl.abort(), 5000);
      const r = await fetch(`/api/videos/${id}`, { signal: ctl.signal, cache: 'no-store' });
      clearTimeout(t);
      if (r.status === 404) {
        stop();
        note.textContent = 'This video was deleted.';
        say('This video was deleted.');
        if (p.hls) p.hls.destroy();
        return;
      }
      if (!r.ok) throw new Error(String(r.status));
      v = await r.json();
    } catch {
      timer = setTimeout(check, EVERY_MS);
      return;
    }
    if (v.status === 'ready') {
      stop();
      note.textContent = 'Processing finished: the whole video is available.';
      return;
    }
    if (v.status === 'failed') {
      stop();
      note.textContent = `Processing failed: ${v.error || 'unknown error'}.`;
      say(`This video could not be processed: ${v.error || 'unknown error'}.`);
      if (p.hls) p.hls.destroy();
      return;
    }
    if (!v.playable) {
      note.textContent = 'Processing started over after a problem; the video plays again once its first seconds are encoded.';
      say('Processing started over; waiting for the new encode…');
    } else {
      note.textContent = `Still processing (${Math.floor(v.progress * 100)} %): you can watch what is encoded so far.`;
      const next = v.hls_url;
      if (next && next !== src && p.hls) {
        // A new encode (after a retry): play it from where the viewer was.
        src = next;
        const at = video.currentTime;
        p.hls.once && p.hls.once(window.Hls.Events.MANIFEST_PARSED, () => { video.currentTime = at; });
        p.hls.loadSource(next);
        say('');
      }
    }
    timer = setTimeout(check, EVERY_MS);
  };
  timer = setTimeout(check, EVERY_MS);
}
