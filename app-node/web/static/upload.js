// Upload page: send a URL or a file to the API with the session's CSRF
// token, show upload progress, then poll the video until it is ready.
(function () {
  'use strict';
  var form = document.getElementById('upload-form');
  var bar = document.getElementById('upload-progress');
  var msg = document.getElementById('upload-msg');
  var csrf = document.querySelector('meta[name="csrf-token"]').getAttribute('content');

  function show(text, frac) {
    msg.textContent = text;
    if (typeof frac === 'number') { bar.hidden = false; bar.value = frac; }
  }

  function poll(id) {
    fetch('/api/videos/' + encodeURIComponent(id), { credentials: 'same-origin' })
      .then(function (r) { return r.json(); })
      .then(function (v) {
        if (v.status === 'ready') {
          show('Ready. ', 1);
          var a = document.createElement('a');
          a.href = v.watch_url; a.textContent = 'Watch “' + v.title + '”';
          msg.appendChild(a);
        } else if (v.status === 'failed') {
          show('Failed: ' + (v.error || 'unknown reason'), 0);
        } else {
          show(v.status + ' ' + Math.round(v.progress * 100) + '%', v.progress);
          setTimeout(function () { poll(id); }, 1000);
        }
      })
      .catch(function () { show('Lost contact with the server, retrying…'); setTimeout(function () { poll(id); }, 3000); });
  }

  function done(xhr) {
    var body = {};
    try { body = JSON.parse(xhr.responseText); } catch (e) { /* keep empty */ }
    if (xhr.status === 202) { show('Queued', 0); poll(body.id); }
    else { show('Error: ' + ((body.error && body.error.message) || xhr.statusText)); }
  }

  form.addEventListener('submit', function (ev) {
    ev.preventDefault();
    var title = form.title.value;
    var file = form.file.files[0];
    var xhr = new XMLHttpRequest();
    xhr.open('POST', '/api/videos');
    xhr.setRequestHeader('X-CSRF-Token', csrf);
    xhr.onload = function () { done(xhr); };
    xhr.onerror = function () { show('Upload failed: network error'); };
    if (file) {
      var fd = new FormData();
      fd.append('title', title);
      fd.append('file', file);
      xhr.upload.onprogress = function (e) { if (e.lengthComputable) show('Uploading ' + Math.round(100 * e.loaded / e.total) + '%', e.loaded / e.total); };
      xhr.send(fd);
    } else {
      xhr.setRequestHeader('Content-Type', 'application/json');
      xhr.send(JSON.stringify({ title: title, source_url: form.source_url.value }));
    }
    show('Sending…', 0);
  });
})();
