use super::*;

const A: &str = "k1:MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="; // 32 bytes
const B: &str = "k2:ZmVkY2JhOTg3NjU0MzIxMGZlZGNiYTk4NzY1NDMyMTA"; // 32, unpadded
const VIDEO: &str = "0123456789abcdef";
const OTHER: &str = "fedcba9876543210";

fn keys(text: &str) -> Keys {
    Keys::parse(text).unwrap()
}

#[test]
fn a_token_verifies_for_its_video_until_its_expiry() {
    let k = keys(A);
    let t = k.sign(VIDEO, 1_000).unwrap();
    assert!(t.starts_with("k1.1000."), "{t}");
    assert_eq!(k.verify(&t, VIDEO, 999), Ok(1_000));
    assert_eq!(k.verify(&t, VIDEO, 1_000), Ok(1_000));
    assert_eq!(k.verify(&t, VIDEO, 1_001), Err(TokenError::Expired));
}

#[test]
fn a_token_of_another_video_fails() {
    let k = keys(A);
    let t = k.sign(OTHER, 1_000).unwrap();
    assert_eq!(k.verify(&t, VIDEO, 0), Err(TokenError::BadSignature));
}

#[test]
fn tampered_tokens_fail() {
    let k = keys(A);
    let t = k.sign(VIDEO, 1_000).unwrap();
    // A later expiry with the old signature.
    let later = t.replacen(".1000.", ".9000.", 1);
    assert_eq!(k.verify(&later, VIDEO, 0), Err(TokenError::BadSignature));
    // One signature character changed.
    let mut chars: Vec<char> = t.chars().collect();
    let last = chars.len() - 2;
    chars[last] = if chars[last] == 'A' { 'B' } else { 'A' };
    let flipped: String = chars.into_iter().collect();
    assert_eq!(k.verify(&flipped, VIDEO, 0), Err(TokenError::BadSignature));
    for bad in [
        "",
        "k1",
        "k1.1000",
        "k1.1000.sig.extra",
        "k1.+1000.AAAA",
        "k1.1e3.AAAA",
        "k1.1000.not base64!",
        &"k1.1000.".repeat(40),
    ] {
        assert_eq!(k.verify(bad, VIDEO, 0), Err(TokenError::Malformed), "{bad}");
    }
}

#[test]
fn the_same_key_under_another_id_is_another_key() {
    let secret = A.split_once(':').unwrap().1;
    let t = keys(A).sign(VIDEO, 1_000).unwrap();
    let renamed = keys(&format!("k9:{secret}"));
    assert_eq!(renamed.verify(&t, VIDEO, 0), Err(TokenError::UnknownKey));
    let forged = t.replacen("k1.", "k9.", 1);
    assert_eq!(
        renamed.verify(&forged, VIDEO, 0),
        Err(TokenError::BadSignature)
    );
}

#[test]
fn rotation_signs_with_the_first_and_verifies_with_all_listed() {
    let old = keys(A).sign(VIDEO, 1_000).unwrap();
    let rotated = keys(&format!("{B}, {A}"));
    assert_eq!(rotated.signing_id(), Some("k2"));
    assert_eq!(
        rotated.verify(&old, VIDEO, 0),
        Ok(1_000),
        "old key still listed"
    );
    let new = rotated.sign(VIDEO, 1_000).unwrap();
    assert!(new.starts_with("k2."));
    let retired = keys(B);
    assert_eq!(retired.verify(&old, VIDEO, 0), Err(TokenError::UnknownKey));
    assert_eq!(retired.verify(&new, VIDEO, 0), Ok(1_000));
}

#[test]
fn no_keys_signs_nothing_and_verifies_nothing() {
    let k = keys("  ");
    assert!(k.is_empty());
    assert_eq!(k.sign(VIDEO, 1), None);
    assert_eq!(k.verify("k1.1.AAAA", VIDEO, 0), Err(TokenError::NoKeys));
}

#[test]
fn key_lists_are_checked() {
    assert_eq!(Keys::parse("nocolon").unwrap_err(), KeysError::NotAPair(1));
    assert_eq!(
        Keys::parse(&format!("{A},bad id:AAAA")).unwrap_err(),
        KeysError::BadId(2)
    );
    assert_eq!(
        Keys::parse(&format!("{A},{A}")).unwrap_err(),
        KeysError::DuplicateId("k1".into())
    );
    assert_eq!(
        Keys::parse("k:!!!").unwrap_err(),
        KeysError::NotBase64("k".into())
    );
    assert_eq!(
        Keys::parse("k:c2hvcnQ=").unwrap_err(),
        KeysError::TooShort("k".into())
    );
    let e = Keys::parse("k:c2hvcnQ=").unwrap_err().to_string();
    assert!(!e.contains("c2hvcnQ"), "secrets never in messages: {e}");
    let dbg = format!("{:?}", keys(A));
    assert_eq!(dbg, "[\"k1\"]");
}

#[test]
fn signed_paths() {
    let p =
        SignedPath::parse("/v/k1.1.AA/0123456789abcdef/v0123456789ab/720p/seg.m4s?x=1").unwrap();
    assert_eq!(p.token, "k1.1.AA");
    assert_eq!(p.video, VIDEO);
    assert_eq!(p.rest, "v0123456789ab/720p/seg.m4s");
    for bad in [
        "/v/",
        "/v/t",
        "/v/t/id",
        "/v/t/id/",
        "/v//id/x",
        "/media/a/b",
    ] {
        assert!(SignedPath::parse(bad).is_none(), "{bad}");
    }
    assert!(is_signed("/v/x") && is_signed("/v") && !is_signed("/video"));
    assert_eq!(
        signed_path("T", "id/v1", "master.m3u8"),
        "/v/T/id/v1/master.m3u8"
    );
}
