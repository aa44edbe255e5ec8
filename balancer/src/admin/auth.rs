//! Who may use `POST /reload` and `POST /purge/…`: a bearer token compared in constant time.

use subtle::ConstantTimeEq;

use crate::config::admin::AdminToken;

/// The outcome of checking a request's `Authorization` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// No token is configured, so the endpoint is closed to everyone.
    Disabled,
    /// The header is missing, malformed or holds another token.
    Denied,
    /// The right token was presented.
    Granted,
}

/// Checks `Authorization: Bearer <token>` against the configured token.
pub fn check(configured: Option<&AdminToken>, authorization: Option<&[u8]>) -> Access {
    let Some(token) = configured else {
        return Access::Disabled;
    };
    let Some(presented) = authorization.and_then(bearer) else {
        return Access::Denied;
    };
    // `ct_eq` on slices returns early only on a length mismatch, which
    // reveals the length but nothing of the token's content.
    if bool::from(presented.ct_eq(token.as_bytes())) {
        Access::Granted
    } else {
        Access::Denied
    }
}

/// The credentials of a `Bearer` authorization value (scheme is
/// case-insensitive per RFC 9110).
fn bearer(value: &[u8]) -> Option<&[u8]> {
    let (scheme, rest) = value.split_at_checked(6)?;
    if !scheme.eq_ignore_ascii_case(b"bearer") {
        return None;
    }
    let start = rest.iter().position(|b| *b != b' ')?;
    if start == 0 {
        return None;
    }
    let creds = &rest[start..];
    let end = creds.iter().rposition(|b| *b != b' ').map_or(0, |i| i + 1);
    Some(&creds[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_tokens() {
        let t = AdminToken::from("0123456789abcdef");
        assert_eq!(check(None, Some(b"Bearer x")), Access::Disabled);
        assert_eq!(check(Some(&t), None), Access::Denied);
        assert_eq!(check(Some(&t), Some(b"Bearer")), Access::Denied);
        assert_eq!(
            check(Some(&t), Some(b"Bearer0123456789abcdef")),
            Access::Denied
        );
        assert_eq!(
            check(Some(&t), Some(b"Basic 0123456789abcdef")),
            Access::Denied
        );
        assert_eq!(
            check(Some(&t), Some(b"Bearer 0123456789abcdeF")),
            Access::Denied
        );
        assert_eq!(
            check(Some(&t), Some(b"Bearer 0123456789abcde")),
            Access::Denied
        );
        assert_eq!(
            check(Some(&t), Some(b"bearer 0123456789abcdef")),
            Access::Granted
        );
        assert_eq!(
            check(Some(&t), Some(b"Bearer  0123456789abcdef ")),
            Access::Granted
        );
    }
}
