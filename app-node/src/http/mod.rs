//! The HTTP surface of a node: pages, JSON API, media and operator endpoints.

mod access_log;
mod account;
mod api;
mod assets;
mod auth;
mod body;
mod client;
mod cors;
mod embed;
mod error;
mod listing_cache;
mod master;
mod media;
mod middleware;
pub mod openapi;
mod ops;
mod pages;
mod playback;
mod qoe;
mod query;
pub mod range;
pub mod server;
mod subtitles;
mod templates;
mod title;
mod tus;
mod upload;
mod video_json;
mod visibility;
mod webhooks;

use axum::extract::DefaultBodyLimit;
use axum::routing::get;
use axum::Router;

pub use error::ApiError;
pub use video_json::{rfc3339, VideoJson};

use crate::state::AppState;

/// Builds the node's router; tests drive it with `tower::ServiceExt::oneshot`.
pub fn app(state: AppState) -> Router {
    let upload_limit = (state.config.ingest.max_bytes as usize).saturating_add(1 << 20);
    let pools = middleware::Pools::new(&state);
    let guarded =
        Router::new()
            .route("/", get(pages::index))
            .route("/watch/{id}", get(pages::watch))
            .route("/login", get(account::login_form).post(account::login))
            .route("/logout", axum::routing::post(account::logout))
            .route("/upload", get(account::upload_form))
            .route(
                "/api/videos",
                get(api::list)
                    .post(api::create)
                    .layer(DefaultBodyLimit::max(upload_limit)),
            )
            .route(
                "/api/videos/{id}",
                get(api::get).patch(api::patch).delete(api::delete),
            )
            .route(
                "/api/videos/{id}/subtitles",
                axum::routing::post(subtitles::upload)
                    .layer(DefaultBodyLimit::max(subtitles::BODY_LIMIT)),
            )
            .route("/api/videos/{id}/qoe", get(qoe::summary))
            .route(
                "/api/videos/{id}/playback-token",
                axum::routing::post(playback::token),
            )
            .route(
                tus::BASE,
                axum::routing::post(tus::create)
                    .options(tus::options)
                    .layer(axum::middleware::from_fn(tus::tus_headers)),
            )
            .route(
                "/api/uploads/{id}",
                axum::routing::head(tus::head)
                    .patch(tus::patch)
                    .delete(tus::terminate)
                    .options(tus::options)
                    .layer(axum::middleware::from_fn(tus::tus_headers)),
            )
            .route("/api/webhooks/deliveries", get(webhooks::deliveries))
            .route("/api/openapi.json", get(openapi::spec))
            .route("/api/docs", get(openapi::docs))
            .route(
                "/api/qoe",
                axum::routing::post(qoe::report).layer(axum::Extension(qoe::QoeLimiter::new(
                    state.config.qoe.reports_per_ip_per_min,
                    state.config.qoe.sessions_per_ip_per_min,
                ))),
            )
            .route("/embed/{id}", get(embed::embed))
            .route(
                "/oembed",
                get(embed::oembed).layer(axum::middleware::from_fn_with_state(
                    state.clone(),
                    cors::allow,
                )),
            )
            // CORS on media only (and oEmbed): other sites' players read them;
            // pages and the API stay same-origin.
            .route(
                "/media/{id}/{*path}",
                get(media::serve).options(cors::preflight).layer(
                    axum::middleware::from_fn_with_state(state.clone(), cors::allow),
                ),
            )
            // The same files for private videos, behind a token checked
            // before anything is read.
            .route(
                "/v/{token}/{id}/{*path}",
                get(playback::serve).options(cors::preflight).layer(
                    axum::middleware::from_fn_with_state(state.clone(), cors::allow),
                ),
            )
            .route("/static/{file}", get(assets::asset))
            // Outermost first: the small body is read, then a slot is taken.
            .layer(axum::middleware::from_fn_with_state(
                (state.clone(), pools),
                middleware::shed,
            ))
            .layer(axum::middleware::from_fn_with_state(
                (
                    state.clone(),
                    // Counted in KiB.
                    std::sync::Arc::new(tokio::sync::Semaphore::new(
                        state.config.http.body_budget_mib.saturating_mul(1024),
                    )),
                ),
                body::read_first,
            ))
            .layer(axum::middleware::from_fn(
                listing_cache::clear_after_changes,
            ))
            .layer(axum::Extension(listing_cache::ListingCache::new(
                std::time::Duration::from_millis(state.config.http.listing_cache_ms),
            )))
            .layer(axum::Extension(visibility::VisibilityCache::new(
                std::time::Duration::from_millis(state.config.http.visibility_cache_ms),
            )));
    Router::new()
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(ops::metrics))
        .merge(guarded)
        .fallback(|| async {
            ApiError::new(
                axum::http::StatusCode::NOT_FOUND,
                "not-found",
                "no such route",
            )
        })
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            middleware::observe,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            access_log::access_log,
        ))
        .with_state(state)
}
