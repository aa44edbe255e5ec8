//! Shared by the subtitle targets: what the node stores must be WebVTT that
//! reads back as the same cues (sanitising is a fixed point), so a file the
//! node wrote, uploaded again, changes nothing; and no cue text can end
//! its cue early in a browser.

use reel_node::subtitles::{parse, to_webvtt};

/// Converts `data`; if accepted, the output must parse to the same cues.
pub fn check(data: &[u8]) {
    let Ok(vtt) = to_webvtt(data) else {
        return;
    };
    assert!(vtt.starts_with("WEBVTT\n"));
    let cues = parse(&vtt).expect("our own WebVTT parses");
    for c in &cues {
        // WebVTT ends a cue's text at a line holding "-->" (a browser would
        // read the rest as a new cue) and at a blank line.
        assert!(!c.text.contains("-->"), "cue text with -->: {:?}", c.text);
        assert!(c.text.lines().all(|l| !l.trim().is_empty()), "{:?}", c.text);
    }
    let again = reel_node::subtitles::render_webvtt(&cues);
    assert_eq!(vtt, again, "render ∘ parse is not the identity");
}
