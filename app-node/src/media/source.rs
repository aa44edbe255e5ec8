//! How ffmpeg and ffprobe may read a source: only as a plain local file,
//! only through container demuxers. Shared by the probe and every ffmpeg
//! argument list, so the two can never disagree.

use std::ffi::OsString;
use std::path::Path;

/// Demuxers a source may be read with. Playlist-like formats (hls, concat,
/// ffconcat, …) are left out: with the `file` protocol allowed they could make
/// ffmpeg read other local files into a published video. Still-image
/// demuxers stay in so the probe can name the problem precisely.
pub const SOURCE_DEMUXERS: &str = "mov,mp4,m4a,3gp,3g2,mj2,matroska,webm,avi,mpegts,flv,ogg,\
    mpeg,mpegvideo,asf,mxf,dv,h264,hevc,wav,mp3,aac,flac,gif,image2,png_pipe,jpeg_pipe,\
    webp_pipe,bmp_pipe,tiff_pipe";

/// `file:` prefix so names like `http:x.mp4` or `concat:a|b` stay plain files.
pub fn file_url(path: &Path) -> OsString {
    let mut url = OsString::from("file:");
    url.push(path.as_os_str());
    url
}
