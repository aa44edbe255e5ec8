//! Titles as the HTTP layer receives them.

use super::error::ApiError;

/// [`crate::catalog::clean_title`] as an API error; a missing field counts
/// as empty.
pub fn clean_title(raw: Option<&str>) -> Result<String, ApiError> {
    crate::catalog::clean_title(raw.unwrap_or(""))
        .map_err(|(code, msg)| ApiError::bad_request(code, msg))
}
