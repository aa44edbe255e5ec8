//! H.264 level selection and RFC 6381 codec strings.
//!
//! The master playlist must announce `CODECS` before a player fetches any
//! media, so the level is chosen here and forced on the encoder rather than
//! read back from the output.

/// `profile_idc` of the High profile, the first byte of `avc1.PPCCLL`.
const HIGH_PROFILE_IDC: u8 = 0x64;

/// (level_idc, max macroblocks/s, max frame size in macroblocks, max bitrate kb/s
/// for High profile, i.e. 1.25 × the Annex A value).
const LEVELS: &[(u8, u64, u64, u64)] = &[
    (30, 40_500, 1_620, 12_500),
    (31, 108_000, 3_600, 17_500),
    (32, 216_000, 5_120, 25_000),
    (40, 245_760, 8_192, 25_000),
    (41, 245_760, 8_192, 62_500),
    (42, 522_240, 8_704, 62_500),
    (50, 589_824, 22_080, 168_750),
    (51, 983_040, 36_864, 300_000),
    (52, 2_073_600, 36_864, 300_000),
    (60, 4_177_920, 139_264, 300_000),
    (61, 8_355_840, 139_264, 600_000),
    (62, 16_711_680, 139_264, 1_000_000),
];

/// Smallest level (never below 3.0, which every HLS client handles) that fits
/// the frame size, macroblock rate and peak bitrate; the top level otherwise.
pub fn level_for(width: u32, height: u32, fps: f64, maxrate_kbps: u32) -> u8 {
    let mbs = u64::from(width.div_ceil(16)) * u64::from(height.div_ceil(16));
    let mbps = (mbs as f64 * fps.max(1.0)).ceil() as u64;
    LEVELS
        .iter()
        .find(|(_, max_mbps, max_fs, max_br)| {
            mbs <= *max_fs && mbps <= *max_mbps && u64::from(maxrate_kbps) <= *max_br
        })
        .or(LEVELS.last())
        .map(|l| l.0)
        .unwrap_or(30)
}

/// Level as ffmpeg's `-level` wants it (`31` → `"3.1"`).
pub fn level_arg(level_idc: u8) -> String {
    format!("{}.{}", level_idc / 10, level_idc % 10)
}

/// `avc1.64xxLL` for High profile at `level_idc`; constraint flags are zero
/// because x264 sets none for High.
pub fn codecs_high(level_idc: u8) -> String {
    format!("avc1.{HIGH_PROFILE_IDC:02x}00{level_idc:02x}")
}

/// Codec string for the AAC-LC audio rendition.
pub const AAC_LC_CODECS: &str = "mp4a.40.2";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_sizes_get_the_expected_levels() {
        assert_eq!(level_for(1920, 1080, 30.0, 5350), 40);
        assert_eq!(level_for(1280, 720, 30.0, 2996), 31);
        // 854x480 is 1620 macroblocks; at 30 fps that is 48600 MB/s, just
        // over level 3.0's 40500, so it needs 3.1.
        assert_eq!(level_for(854, 480, 30.0, 1498), 31);
        assert_eq!(level_for(854, 480, 25.0, 1498), 30);
        assert_eq!(level_for(640, 360, 30.0, 856), 30);
        assert_eq!(level_for(426, 240, 30.0, 428), 30);
        // 60 fps needs more macroblocks per second.
        assert_eq!(level_for(1280, 720, 60.0, 2996), 32);
        assert_eq!(level_for(1920, 1080, 60.0, 5350), 42);
        // Portrait uses the same frame size as landscape.
        assert_eq!(level_for(720, 1280, 30.0, 2996), 31);
    }

    #[test]
    fn codec_strings() {
        assert_eq!(codecs_high(31), "avc1.64001f");
        assert_eq!(codecs_high(40), "avc1.640028");
        assert_eq!(codecs_high(30), "avc1.64001e");
        assert_eq!(level_arg(31), "3.1");
        assert_eq!(level_arg(40), "4.0");
    }
}
