//! Reel app node: the catalog, media store, ingest pipeline, job worker and HTTP surface.
pub mod media;
