//! Embedded text subtitles → WebVTT files.

use std::path::Path;

use super::args::subtitle_args;
use super::error::MediaError;
use super::probe::SubtitleStream;
use super::process::{self, StdoutMode, ToolCommand};
use super::MediaTools;

/// Text subtitle codecs ffmpeg can convert to WebVTT. Bitmap formats
/// (PGS, DVB, VobSub) would need OCR and are skipped.
const TEXT_CODECS: &[&str] = &["mov_text", "subrip", "srt", "ass", "ssa", "webvtt", "text"];

/// Whether [`extract_subtitle`] can handle this stream.
pub fn is_text_subtitle(stream: &SubtitleStream) -> bool {
    TEXT_CODECS.contains(&stream.codec.as_str())
}

/// Writes stream `stream.index` of `input` as WebVTT to `out`.
pub async fn extract_subtitle(
    tools: &MediaTools,
    input: &Path,
    stream: &SubtitleStream,
    out: &Path,
) -> Result<(), MediaError> {
    if !is_text_subtitle(stream) {
        return Err(MediaError::Unsupported {
            what: format!("subtitle format {} is not text", stream.codec),
        });
    }
    let mut tmp = out.as_os_str().to_owned();
    tmp.push(".part");
    let tmp = std::path::PathBuf::from(tmp);
    let cmd = ToolCommand::new(
        &tools.ffmpeg,
        subtitle_args(input, stream.index, &tmp),
        tools.probe_timeout,
    );
    process::run(&cmd, StdoutMode::Capture).await?;
    tokio::fs::rename(&tmp, out)
        .await
        .map_err(|e| MediaError::io(format!("renaming subtitles to {}", out.display()), e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_codecs_only() {
        let s = |codec: &str| SubtitleStream {
            index: 2,
            codec: codec.into(),
            language: None,
        };
        assert!(is_text_subtitle(&s("mov_text")));
        assert!(is_text_subtitle(&s("subrip")));
        assert!(!is_text_subtitle(&s("hdmv_pgs_subtitle")));
    }
}
