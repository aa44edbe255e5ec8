// Upload page: send a URL or a file to the API with the session's CSRF
// token, show the upload progress, then the processing progress live until
// the video is ready to watch.
(function () {
  'use strict';
  var form = document.getElementById('upload-form');
  var bar = document.getElementById('upload-progress');
  var msg = document.getElementById('upload-msg');
  var button = form.querySelector('button[type="submit"]');
  var csrf = document.querySelector('meta[name="csrf-token"]').getAttribute('content');
  var WORDS = { queued: 'Waiting for a worker', downloading: 'Fetching the source', transcoding: 'Processing' };

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

  form.addEventListener('submit', function (ev) {
    ev.preventDefault();
    var title = form.title.value;
    var file = form.file.files[0];
    if (!file && !form.source_url.value) { show('Give a URL or choose a file.'); return; }
    var xhr = new XMLHttpRequest();
    xhr.open('POST', '/api/videos');
    xhr.setRequestHeader('X-CSRF-Token', csrf);
    xhr.onload = function () { done(xhr); };
    xhr.onerror = function () { show('Upload failed: network error'); button.disabled = false; };
    button.disabled = true;
    if (file) {
      var fd = new FormData();
      fd.append('title', title);
      fd.append('visibility', form.visibility.value);
      fd.append('file', file);
      xhr.upload.onprogress = function (e) {
        if (e.lengthComputable) show('Uploading… ' + Math.round(100 * e.loaded / e.total) + '%', e.loaded / e.total);
      };
      xhr.send(fd);
    } else {
      xhr.setRequestHeader('Content-Type', 'application/json');
      xhr.send(JSON.stringify({
        title: title, source_url: form.source_url.value, visibility: form.visibility.value,
      }));
    }
    show('Sending…', 0);
  });
})();
