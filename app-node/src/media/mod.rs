//! Media work: probe, ladder plan, transcode.
