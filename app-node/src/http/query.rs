//! Query strings of API calls, refused in the API's error shape.
//!
//! axum's own `Query` answers a query it cannot read with a plain-text 400;
//! API clients get `{"error":{"code":"bad-query",…}}` like every other
//! refusal.

use axum::extract::{FromRequestParts, Query};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use super::error::ApiError;

/// A query string read into `T`; a malformed one is a 400 `bad-query` that
/// says which part was wrong.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiQuery<T>(pub T);

impl<T, S> FromRequestParts<S> for ApiQuery<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match Query::<T>::from_request_parts(parts, state).await {
            Ok(Query(q)) => Ok(ApiQuery(q)),
            Err(rejection) => Err(ApiError::bad_request("bad-query", rejection.body_text())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::{Request, StatusCode};
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    struct Q {
        #[allow(dead_code)]
        page: Option<u32>,
    }

    async fn read(uri: &str) -> Result<ApiQuery<Q>, ApiError> {
        let (mut parts, ()) = Request::get(uri).body(()).unwrap().into_parts();
        ApiQuery::<Q>::from_request_parts(&mut parts, &()).await
    }

    #[tokio::test]
    async fn a_bad_query_is_an_api_error() {
        assert!(read("/x?page=2").await.is_ok());
        let e = read("/x?page=two").await.unwrap_err();
        assert_eq!((e.status, e.code), (StatusCode::BAD_REQUEST, "bad-query"));
        assert!(e.message.contains("page"), "{}", e.message);
    }
}
