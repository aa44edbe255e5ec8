// Upload page: send a URL to the API, or a file with resumable tus uploads
// (tus-js-client, /api/uploads), with the session's CSRF token; show the
// upload's progress, speed and time left, then the processing progress live
// until the video is ready to watch. An interrupted file upload (a dropped
// network, a reload) continues where it stopped when the same file is
// chosen again: tus-js-client keeps the upload's URL in localStorage.
(function () {
  'use strict';
  var form = document.getElementById('upload-form');
  var bar = document.getElementById('upload-progress');
  var msg = document.getElementById('upload-msg');
  var button = form.querySelector('button[type="submit"]');
  var csrf = document.querySelector('meta[name="csrf-token"]').getAttribute('content');
  var WORDS = { uploading: 'Receiving the file', queued: 'Waiting for a worker', downloading: 'Fetching the source', transcoding: 'Processing' };

  function show(text, frac) {
    msg.textContent = text;
    if (typeof frac === 'number') { bar.hidden = false; bar.value = frac; bar.textContent = Math.round(frac * 100) + '%'; }
  }

  function poll(id, failures) {
    fetch('/api/videos/' + encodeURIComponent(id), { credentials: 'same-origin' })
      .then(function (r) { if (!r.ok) throw new Error('HTTP ' + r.status); return r.json(); })
      .then(function (v) {
        if (v.status === 'ready') {
          show('Ready. ', 1);
          var a = document.createElement('a');
          a.href = v.watch_url;
          a.id = 'watch-link';
          a.textContent = 'Watch “' + v.title + '”';
          msg.appendChild(a);
          button.disabled = false;
        } else if (v.status === 'failed') {
          show('Failed: ' + (v.error || 'unknown reason'), 0);
          button.disabled = false;
        } else {
          show((WORDS[v.status] || v.status) + '… ' + Math.round(v.progress * 100) + '%', v.progress);
          setTimeout(function () { poll(id, 0); }, 1000);
        }
      })
      .catch(function () {
        show('Lost contact with the server, retrying…');
        setTimeout(function () { poll(id, failures + 1); }, Math.min(10000, 1000 * (failures + 2)));
      });
  }

  function done(xhr) {
    var body = {};
    try { body = JSON.parse(xhr.responseText); } catch (e) { /* not JSON: use the status text */ }
    if (xhr.status === 202) { show('Queued', 0); poll(body.id, 0); }
    else {
      show('Not added: ' + ((body.error && body.error.message) || xhr.statusText || 'error ' + xhr.status));
      button.disabled = false;
    }
  }

  // Speed over the last few seconds, so a stall shows at once.
  function meter() {
    var samples = [];
    return function (sent) {
      var now = Date.now();
      samples.push([now, sent]);
      while (samples.length > 2 && now - samples[0][0] > 5000) samples.shift();
      var dt = (now - samples[0][0]) / 1000;
      return dt > 0.2 ? (sent - samples[0][1]) / dt : 0;
    };
  }

  function size(bytes) {
    if (bytes >= 1e9) return (bytes / 1e9).toFixed(1) + ' GB';
    if (bytes >= 1e6) return (bytes / 1e6).toFixed(1) + ' MB';
    return Math.round(bytes / 1e3) + ' kB';
  }

  function duration(s) {
    if (!isFinite(s)) return '…';
    s = Math.round(s);
    if (s < 60) return s + ' s';
    if (s < 3600) return Math.floor(s / 60) + ' min ' + (s % 60) + ' s';
    return Math.floor(s / 3600) + ' h ' + Math.floor((s % 3600) / 60) + ' min';
  }

  function sendFile(file, title) {
    var videoId = null;
    var speed = meter();
    var upload = new window.tus.Upload(file, {
      endpoint: '/api/uploads',
      // Each request carries at most this much, so a dropped network costs
      // little even where the server could not keep a partial body.
      chunkSize: 8 * 1024 * 1024,
      // Keeps trying through a dropped network for several minutes.
      retryDelays: [0, 1000, 2000, 5000, 10000, 15000, 20000, 30000, 30000, 30000, 60000, 60000],
      metadata: {
        title: title, filename: file.name, filetype: file.type || 'application/octet-stream',
        visibility: form.visibility.value,
      },
      headers: { 'X-CSRF-Token': csrf },
      removeFingerprintOnSuccess: true,
      onAfterResponse: function (req, res) {
        var id = res.getHeader('Reel-Video-Id');
        if (id) videoId = id;
      },
      onProgress: function (sent, total) {
        var rate = speed(sent);
        var text = 'Uploading… ' + Math.round(100 * sent / total) + '%';
        if (rate > 0) text += ' · ' + size(rate) + '/s · ' + duration((total - sent) / rate) + ' left';
        show(text, sent / total);
      },
      onShouldRetry: function (err, attempt, opts) {
        show('Connection lost, retrying (' + (attempt + 1) + ')…');
        var status = err.originalResponse ? err.originalResponse.getStatus() : 0;
        return !status || status === 409 || status === 423 || status >= 500;
      },
      onSuccess: function () {
        forgetHint();
        show('Queued', 0);
        poll(videoId, 0);
      },
      onError: function (err) {
        var body = {};
        try { body = JSON.parse(err.originalResponse.getBody()); } catch (e) { /* no JSON answer */ }
        show('Upload stopped: ' + ((body.error && body.error.message) || err.message) + '. Choose the same file again to continue.');
        button.disabled = false;
      },
    });
    upload.findPreviousUploads().then(function (previous) {
      if (previous.length) {
        upload.resumeFromPreviousUpload(previous[0]);
        show('Resuming an earlier upload of this file…', 0);
      } else {
        show('Starting the upload…', 0);
      }
      upload.start();
    });
  }

  // After a reload, say that an upload is waiting for its file again.
  var hint = document.getElementById('resume-hint');
  function forgetHint() { if (hint) hint.hidden = true; }
  (function showHint() {
    if (!hint) return;
    try {
      for (var i = 0; i < localStorage.length; i++) {
        var key = localStorage.key(i);
        if (key && key.indexOf('tus::') === 0) {
          var entry = JSON.parse(localStorage.getItem(key));
          var name = entry && entry.metadata && entry.metadata.filename;
          hint.textContent = 'The upload of “' + (name || 'a file') + '” was interrupted. Choose the same file and press Add to continue where it stopped.';
          hint.hidden = false;
          return;
        }
      }
    } catch (e) { /* storage unavailable: nothing to offer */ }
  })();

  form.addEventListener('submit', function (ev) {
    ev.preventDefault();
    var title = form.title.value;
    var file = form.file.files[0];
    if (!file && !form.source_url.value) { show('Give a URL or choose a file.'); return; }
    button.disabled = true;
    if (file) {
      sendFile(file, title);
      return;
    }
    var xhr = new XMLHttpRequest();
    xhr.open('POST', '/api/videos');
    xhr.setRequestHeader('X-CSRF-Token', csrf);
    xhr.onload = function () { done(xhr); };
    xhr.onerror = function () { show('Upload failed: network error'); button.disabled = false; };
    xhr.setRequestHeader('Content-Type', 'application/json');
    xhr.send(JSON.stringify({
      title: title, source_url: form.source_url.value, visibility: form.visibility.value,
    }));
    show('Sending…', 0);
  });
})();
