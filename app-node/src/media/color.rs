//! Turning any source's pixels into the 8-bit SDR BT.709 every rung, the
//! poster and the storyboard are encoded as.
//!
//! 10-bit (and 4:2:2/4:4:4) sources are converted to `yuv420p` once, before
//! the ladder splits, so H.264 High profile applies to every rung. HDR
//! sources (PQ or HLG transfer) are tone-mapped to BT.709: shown as-is they
//! look washed out and dim on SDR screens. The installed ffmpeg is built
//! with zimg, so the `zscale` filter does the transfer and gamut conversions
//! and `tonemap` (Hable) compresses the highlights; `colorspace` cannot
//! linearise PQ/HLG, which is why it is not used.

use super::probe::FfprobeStream;

/// Colour facts of the source's video stream, as ffprobe names them.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct VideoColor {
    /// Pixel format, e.g. `yuv420p10le`.
    pub pix_fmt: String,
    /// Transfer characteristic, e.g. `smpte2084`.
    pub transfer: Option<String>,
    /// Colour primaries, e.g. `bt2020`.
    pub primaries: Option<String>,
    /// Matrix coefficients, e.g. `bt2020nc`.
    pub matrix: Option<String>,
    /// `tv` (limited) or `pc` (full).
    pub range: Option<String>,
}

/// Transfers that mean high dynamic range.
const HDR_TRANSFERS: &[&str] = &["smpte2084", "arib-std-b67"];
/// Names zscale accepts for each input property. Probe values come from an
/// untrusted file and are spliced into a filter graph, so only these pass.
const ZSCALE_TRANSFERS: &[&str] = &[
    "smpte2084",
    "arib-std-b67",
    "bt709",
    "bt2020-10",
    "bt2020-12",
    "smpte170m",
];
const ZSCALE_MATRICES: &[&str] = &["bt2020nc", "bt2020c", "bt709", "smpte170m", "bt470bg"];
const ZSCALE_PRIMARIES: &[&str] = &["bt2020", "bt709", "smpte170m", "bt470bg"];

impl VideoColor {
    /// Reads the colour fields of a probed stream (`unknown` counts as unset).
    pub fn of(stream: &FfprobeStream) -> Self {
        let known = |v: &Option<String>| {
            v.clone()
                .filter(|s| !s.is_empty() && s != "unknown" && s != "unspecified")
        };
        VideoColor {
            pix_fmt: stream.pix_fmt.clone().unwrap_or_default(),
            transfer: known(&stream.color_transfer),
            primaries: known(&stream.color_primaries),
            matrix: known(&stream.color_space),
            range: known(&stream.color_range),
        }
    }

    /// PQ or HLG: needs tone-mapping.
    pub fn is_hdr(&self) -> bool {
        self.transfer
            .as_deref()
            .is_some_and(|t| HDR_TRANSFERS.contains(&t))
    }

    /// BT.2020 primaries: needs a gamut conversion even when not HDR.
    pub fn is_wide_gamut(&self) -> bool {
        self.primaries.as_deref() == Some("bt2020")
    }

    /// Whether the output is converted to BT.709 and must say so in its tags.
    pub fn converts_to_bt709(&self) -> bool {
        self.is_hdr() || self.is_wide_gamut()
    }

    /// Filters (comma-joined, no labels) that take decoded frames of this
    /// source to 8-bit 4:2:0 SDR BT.709.
    pub fn to_sdr_filters(&self) -> String {
        let pick = |v: &Option<String>, allowed: &[&str], fallback: &'static str| -> String {
            v.as_deref()
                .filter(|x| allowed.contains(x))
                .unwrap_or(fallback)
                .to_string()
        };
        let range = match self.range.as_deref() {
            Some("pc") => "pc",
            _ => "tv",
        };
        let min = pick(&self.matrix, ZSCALE_MATRICES, "bt2020nc");
        let pin = pick(&self.primaries, ZSCALE_PRIMARIES, "bt2020");
        if self.is_hdr() {
            let tin = pick(&self.transfer, ZSCALE_TRANSFERS, "smpte2084");
            // Linear light in float, primaries to BT.709, highlights
            // compressed (Hable keeps mid-tones, desat=0 keeps colour in
            // bright areas), then back to BT.709 gamma and limited range.
            format!(
                "zscale=tin={tin}:min={min}:pin={pin}:rin={range}:t=linear:npl=100,\
                 format=gbrpf32le,zscale=p=bt709,tonemap=tonemap=hable:desat=0,\
                 zscale=t=bt709:m=bt709:r=tv,format=yuv420p"
            )
        } else if self.is_wide_gamut() {
            let tin = pick(&self.transfer, ZSCALE_TRANSFERS, "bt709");
            format!(
                "zscale=tin={tin}:min={min}:pin={pin}:rin={range}:\
                 t=bt709:m=bt709:p=bt709:r=tv,format=yuv420p"
            )
        } else {
            // Already SDR BT.709 or BT.601: only the bit depth and chroma
            // layout change (a no-op for 8-bit 4:2:0).
            "format=yuv420p".to_string()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn color(pix: &str, trc: &str, prim: &str, matrix: &str) -> VideoColor {
        VideoColor::of(&FfprobeStream {
            pix_fmt: Some(pix.into()),
            color_transfer: Some(trc.into()),
            color_primaries: Some(prim.into()),
            color_space: Some(matrix.into()),
            color_range: Some("tv".into()),
            ..FfprobeStream::default()
        })
    }

    #[test]
    fn pq_and_hlg_are_tone_mapped() {
        for trc in ["smpte2084", "arib-std-b67"] {
            let c = color("yuv420p10le", trc, "bt2020", "bt2020nc");
            assert!(c.is_hdr() && c.converts_to_bt709());
            let f = c.to_sdr_filters();
            assert!(f.starts_with(&format!("zscale=tin={trc}:min=bt2020nc:pin=bt2020")));
            assert!(f.contains("tonemap=tonemap=hable"), "{f}");
            assert!(f.ends_with("format=yuv420p"), "{f}");
        }
    }

    #[test]
    fn sdr_only_changes_depth_and_wide_gamut_is_converted() {
        let ten_bit = color("yuv420p10le", "bt709", "bt709", "bt709");
        assert!(!ten_bit.converts_to_bt709());
        assert_eq!(ten_bit.to_sdr_filters(), "format=yuv420p");
        let wide = color("yuv420p10le", "bt2020-10", "bt2020", "bt2020nc");
        assert!(!wide.is_hdr() && wide.converts_to_bt709());
        assert!(!wide.to_sdr_filters().contains("tonemap"));
        let unknown = color("yuv420p", "unknown", "unknown", "unknown");
        assert_eq!(
            unknown,
            VideoColor {
                pix_fmt: "yuv420p".into(),
                range: Some("tv".into()),
                ..VideoColor::default()
            }
        );
    }

    #[test]
    fn hostile_tags_never_reach_the_filter_graph() {
        let c = color(
            "yuv420p10le",
            "smpte2084",
            "bt2020",
            "bt2020nc[x];movie=/etc/passwd",
        );
        let f = c.to_sdr_filters();
        assert!(!f.contains("passwd") && !f.contains(';'), "{f}");
    }
}
