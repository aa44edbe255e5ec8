// Watch page, signed-in uploaders: attach an SRT or WebVTT file, then reload
// so the player picks the new track up from the master playlist.

const form = document.getElementById('subs-form');
if (form) {
  const msg = document.getElementById('subs-msg');
  const csrf = document.querySelector('meta[name="csrf-token"]').getAttribute('content');
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const button = form.querySelector('button');
    button.disabled = true;
    msg.textContent = 'Sending…';
    try {
      const r = await fetch(`/api/videos/${encodeURIComponent(form.dataset.id)}/subtitles`, {
        method: 'POST',
        headers: { 'X-CSRF-Token': csrf },
        body: new FormData(form),
        credentials: 'same-origin',
      });
      const body = await r.json().catch(() => ({}));
      if (r.ok) {
        msg.textContent = 'Subtitles added. Reloading…';
        window.location.reload();
        return;
      }
      msg.textContent = `Not added: ${(body.error && body.error.message) || r.statusText}`;
    } catch (e) {
      msg.textContent = `Not added: ${e.message}`;
    }
    button.disabled = false;
  });
}
