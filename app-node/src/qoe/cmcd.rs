//! CMCD (CTA-5004) event reports: the `application/cmcd` body a player
//! POSTs in event mode, one report per line, each line an RFC 9651
//! dictionary such as `br=(3000),cid="abc",e=ps,sid="…",sn=4,sta=p,ts=…,v=2`.
//! Only the keys the session fold needs are read; the rest are ignored.

use sfv::{BareItem, Dictionary, ListEntry, Parser};

/// Longest session id kept (a UUID is 36 characters).
pub const MAX_SID_LEN: usize = 64;

/// A player state (CMCD `sta`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlayerState {
    /// Asked to play, no frame shown yet.
    Starting,
    /// Frames are playing.
    Playing,
    /// Seeking.
    Seeking,
    /// Stalled for want of data.
    Rebuffering,
    /// Paused by the viewer.
    Paused,
    /// Waiting on something other than data (e.g. the viewer).
    Waiting,
    /// Reached the end.
    Ended,
    /// Stopped by an error.
    Fatal,
    /// The viewer left.
    Quit,
    /// Loading before any request to play.
    Preloading,
}

impl PlayerState {
    /// The state's token on the wire and in the catalog.
    pub fn token(self) -> &'static str {
        match self {
            PlayerState::Starting => "s",
            PlayerState::Playing => "p",
            PlayerState::Seeking => "k",
            PlayerState::Rebuffering => "r",
            PlayerState::Paused => "a",
            PlayerState::Waiting => "w",
            PlayerState::Ended => "e",
            PlayerState::Fatal => "f",
            PlayerState::Quit => "q",
            PlayerState::Preloading => "d",
        }
    }

    /// The state a token names.
    pub fn parse(token: &str) -> Option<Self> {
        Some(match token {
            "s" => PlayerState::Starting,
            "p" => PlayerState::Playing,
            "k" => PlayerState::Seeking,
            "r" => PlayerState::Rebuffering,
            "a" => PlayerState::Paused,
            "w" => PlayerState::Waiting,
            "e" => PlayerState::Ended,
            "f" => PlayerState::Fatal,
            "q" => PlayerState::Quit,
            "d" => PlayerState::Preloading,
            _ => return None,
        })
    }
}

/// One event report, reduced to what the session fold reads.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// Session id (`sid`).
    pub sid: String,
    /// Content id (`cid`): the video.
    pub cid: String,
    /// Event type (`e`), e.g. `ps` (play state), `t` (time interval), `e`
    /// (error), `bc` (bitrate change).
    pub event: String,
    /// Player's clock when the event happened, Unix milliseconds (`ts`).
    pub ts: i64,
    /// The report's sequence number within its session (`sn`).
    pub sn: i64,
    /// Player state (`sta`), when sent.
    pub state: Option<PlayerState>,
    /// Encoded bitrate of the rung being loaded, kbit/s (`br`), when sent.
    pub bitrate_kbps: Option<f64>,
    /// Name of a custom event (`cen`, with `e=ce`), when sent.
    pub custom_event: Option<String>,
}

/// Why a body was refused.
#[derive(Debug, thiserror::Error)]
pub enum CmcdError {
    /// A line is not an RFC 9651 dictionary.
    #[error("line {line}: not a CMCD dictionary ({why})")]
    Syntax {
        /// 1-based line number.
        line: usize,
        /// The parser's message.
        why: String,
    },
    /// A key the fold needs is missing.
    #[error("line {line}: `{key}` is missing")]
    Missing {
        /// 1-based line number.
        line: usize,
        /// The key.
        key: &'static str,
    },
    /// A key has a value of the wrong type or out of range.
    #[error("line {line}: `{key}` is not valid")]
    Invalid {
        /// 1-based line number.
        line: usize,
        /// The key.
        key: &'static str,
    },
    /// More reports than one request may carry.
    #[error("at most {0} reports per request")]
    TooMany(usize),
    /// No report at all.
    #[error("the body holds no report")]
    Empty,
}

impl CmcdError {
    /// Stable code for API errors.
    pub fn code(&self) -> &'static str {
        match self {
            CmcdError::TooMany(_) => "too-many-reports",
            CmcdError::Syntax { .. }
            | CmcdError::Missing { .. }
            | CmcdError::Invalid { .. }
            | CmcdError::Empty => "bad-cmcd",
        }
    }
}

/// Parses a whole body: every non-empty line must be a valid report, so a
/// body is taken or refused as a whole.
pub fn parse_body(body: &str, max_reports: usize) -> Result<Vec<Report>, CmcdError> {
    let mut out = Vec::new();
    for (i, line) in body.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        if out.len() == max_reports {
            return Err(CmcdError::TooMany(max_reports));
        }
        out.push(parse_line(line, i + 1)?);
    }
    if out.is_empty() {
        return Err(CmcdError::Empty);
    }
    Ok(out)
}

fn item(dict: &Dictionary, key: &str) -> Option<BareItem> {
    dict.iter()
        .find(|(k, _)| k.as_str() == key)
        .and_then(|(_, v)| match v {
            ListEntry::Item(i) => Some(i.bare_item.clone()),
            // CMCD v2 sends bitrates as inner lists (one per track); the
            // first is the one a single-track report carries.
            ListEntry::InnerList(l) => l.items.first().map(|i| i.bare_item.clone()),
        })
}

fn integer(dict: &Dictionary, key: &'static str, line: usize) -> Result<Option<i64>, CmcdError> {
    match item(dict, key) {
        None => Ok(None),
        Some(BareItem::Integer(n)) => Ok(Some(i64::from(n))),
        Some(_) => Err(CmcdError::Invalid { line, key }),
    }
}

fn text(dict: &Dictionary, key: &'static str, line: usize) -> Result<Option<String>, CmcdError> {
    match item(dict, key) {
        None => Ok(None),
        Some(BareItem::String(s)) => Ok(Some(s.as_str().to_string())),
        Some(BareItem::Token(t)) => Ok(Some(t.as_str().to_string())),
        Some(_) => Err(CmcdError::Invalid { line, key }),
    }
}

fn number(dict: &Dictionary, key: &'static str, line: usize) -> Result<Option<f64>, CmcdError> {
    match item(dict, key) {
        None => Ok(None),
        #[allow(clippy::cast_precision_loss)]
        Some(BareItem::Integer(n)) => Ok(Some(i64::from(n) as f64)),
        Some(BareItem::Decimal(d)) => Ok(Some(f64::from(d))),
        Some(_) => Err(CmcdError::Invalid { line, key }),
    }
}

fn required<T>(v: Option<T>, key: &'static str, line: usize) -> Result<T, CmcdError> {
    v.ok_or(CmcdError::Missing { line, key })
}

fn valid_sid(s: &str) -> bool {
    (1..=MAX_SID_LEN).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

fn parse_line(line: &str, n: usize) -> Result<Report, CmcdError> {
    let dict: Dictionary = Parser::new(line).parse().map_err(|e| CmcdError::Syntax {
        line: n,
        why: e.to_string(),
    })?;
    // Event mode exists from version 2 on (a report without `v` is v1); a
    // later version may give keys other meanings.
    if integer(&dict, "v", n)? != Some(2) {
        return Err(CmcdError::Invalid { line: n, key: "v" });
    }
    let sid = required(text(&dict, "sid", n)?, "sid", n)?;
    if !valid_sid(&sid) {
        return Err(CmcdError::Invalid {
            line: n,
            key: "sid",
        });
    }
    let cid = required(text(&dict, "cid", n)?, "cid", n)?;
    if !crate::catalog::valid_id(&cid) {
        return Err(CmcdError::Invalid {
            line: n,
            key: "cid",
        });
    }
    let event = required(text(&dict, "e", n)?, "e", n)?;
    if event.is_empty() || event.len() > 8 {
        return Err(CmcdError::Invalid { line: n, key: "e" });
    }
    let ts = required(integer(&dict, "ts", n)?, "ts", n)?;
    if ts <= 0 {
        return Err(CmcdError::Invalid { line: n, key: "ts" });
    }
    let sn = required(integer(&dict, "sn", n)?, "sn", n)?;
    if sn < 0 {
        return Err(CmcdError::Invalid { line: n, key: "sn" });
    }
    let state = match text(&dict, "sta", n)? {
        None => None,
        Some(t) => Some(PlayerState::parse(&t).ok_or(CmcdError::Invalid {
            line: n,
            key: "sta",
        })?),
    };
    let custom_event = text(&dict, "cen", n)?;
    if custom_event.as_ref().is_some_and(|c| c.len() > 64) {
        return Err(CmcdError::Invalid {
            line: n,
            key: "cen",
        });
    }
    let bitrate_kbps = number(&dict, "br", n)?;
    if bitrate_kbps.is_some_and(|b| !(0.0..=1_000_000.0).contains(&b)) {
        return Err(CmcdError::Invalid { line: n, key: "br" });
    }
    Ok(Report {
        sid,
        cid,
        event,
        ts,
        sn,
        state,
        bitrate_kbps,
        custom_event,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SID: &str = "6e2fb550-c457-11e9-bb97-0800200c9a66";

    fn line(rest: &str) -> String {
        format!("cid=\"0123456789abcdef\",sid=\"{SID}\",v=2,{rest}")
    }

    #[test]
    fn reads_what_a_player_sends() {
        let body = format!(
            "{}\n{}\n",
            line("br=(2500),e=ps,sn=3,sta=p,ts=1700000000123,bl=(4000)"),
            line("e=t,sn=4,sta=p,ts=1700000010123,br=1200.5"),
        );
        let r = parse_body(&body, 10).unwrap();
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].sid, SID);
        assert_eq!(r[0].cid, "0123456789abcdef");
        assert_eq!(r[0].event, "ps");
        assert_eq!(r[0].ts, 1_700_000_000_123);
        assert_eq!(r[0].sn, 3);
        assert_eq!(r[0].state, Some(PlayerState::Playing));
        assert_eq!(r[0].bitrate_kbps, Some(2500.0));
        assert_eq!(r[1].bitrate_kbps, Some(1200.5));
    }

    #[test]
    fn refuses_what_the_fold_cannot_use() {
        let cases = [
            ("e=ps,sn=1,sta=p", "`ts` is missing"),
            ("e=ps,ts=5,sta=p", "`sn` is missing"),
            ("sn=1,ts=5", "`e` is missing"),
            ("e=ps,sn=1,ts=5,sta=z", "`sta` is not valid"),
            ("e=ps,sn=1,ts=\"5\"", "`ts` is not valid"),
            ("e=ps,sn=-1,ts=5", "`sn` is not valid"),
            ("e=ps,sn=1,ts=5,br=(-3)", "`br` is not valid"),
        ];
        for (rest, want) in cases {
            let err = parse_body(&line(rest), 10).unwrap_err();
            assert!(err.to_string().contains(want), "{rest}: {err}");
            assert_eq!(err.code(), "bad-cmcd");
        }
        let v1 = format!("cid=\"0123456789abcdef\",sid=\"{SID}\",e=ps,sn=1,ts=5");
        assert!(parse_body(&v1, 10).unwrap_err().to_string().contains("`v`"));
        let bad_sid = "cid=\"0123456789abcdef\",sid=\"a b\",v=2,e=ps,sn=1,ts=5";
        assert!(parse_body(bad_sid, 10)
            .unwrap_err()
            .to_string()
            .contains("`sid`"));
        let bad_cid = format!("cid=\"../x\",sid=\"{SID}\",v=2,e=ps,sn=1,ts=5");
        assert!(parse_body(&bad_cid, 10)
            .unwrap_err()
            .to_string()
            .contains("`cid`"));
        let syntax = parse_body("cid=\"unterminated", 10).unwrap_err();
        assert!(syntax
            .to_string()
            .starts_with("line 1: not a CMCD dictionary"));
        assert!(matches!(parse_body("\n\n", 10), Err(CmcdError::Empty)));
    }

    #[test]
    fn one_bad_line_refuses_the_body_and_the_count_is_capped() {
        let body = format!("{}\n{}", line("e=t,sn=1,ts=5"), line("e=t,sn=2"));
        let err = parse_body(&body, 10).unwrap_err();
        assert!(err.to_string().starts_with("line 2:"), "{err}");
        let three = [1, 2, 3]
            .map(|n| line(&format!("e=t,sn={n},ts=5")))
            .join("\n");
        assert_eq!(
            parse_body(&three, 2).unwrap_err().code(),
            "too-many-reports"
        );
        assert_eq!(parse_body(&three, 3).unwrap().len(), 3);
    }
}
