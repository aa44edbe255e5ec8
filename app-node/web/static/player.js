// Watch page: attach the HLS stream with hls.js, or natively where the
// browser plays HLS itself (Safari), and say in words when something breaks.
(function () {
  'use strict';
  var box = document.getElementById('player');
  if (!box) return;
  var video = document.getElementById('video');
  var msg = document.getElementById('player-msg');
  var src = box.getAttribute('data-src');
  function say(text) { msg.textContent = text || ''; }

  video.addEventListener('playing', function () { say(''); });
  video.addEventListener('error', function () { say('This video cannot be played in this browser.'); });

  if (window.Hls && window.Hls.isSupported()) {
    var hls = new window.Hls({ capLevelToPlayerSize: true });
    window.reelHls = hls;
    hls.on(window.Hls.Events.ERROR, function (_e, data) {
      if (!data.fatal) return;
      if (data.type === window.Hls.ErrorTypes.NETWORK_ERROR) {
        say('Network lost, retrying…');
        setTimeout(function () { hls.startLoad(); }, 2000);
      } else if (data.type === window.Hls.ErrorTypes.MEDIA_ERROR) {
        say('Playback problem, recovering…');
        hls.recoverMediaError();
      } else {
        say('This video cannot be played: ' + data.details);
        hls.destroy();
      }
    });
    hls.on(window.Hls.Events.FRAG_LOADED, function () { if (msg.textContent.indexOf('Network') === 0) say(''); });
    hls.loadSource(src);
    hls.attachMedia(video);
  } else if (video.canPlayType('application/vnd.apple.mpegurl')) {
    video.src = src;
  } else {
    say('This browser cannot play HLS video.');
  }
})();
