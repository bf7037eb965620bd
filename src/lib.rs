//! newsdesk: a newsroom wire desk. Polls feeds, keeps every item in an embedded
//! store, clusters items into stories, files them under sections, and
//! republishes merged feeds over HTTP.
//!
//! The data path lives in [`pipeline::ingest_source`]: fetch → parse → normalise →
//! identify → cluster → categorise → store; [`publish`] then renders the feeds.

pub mod app;
pub mod categorize;
pub mod cluster;
pub mod config;
pub mod events;
pub mod http;
pub mod logging;
pub mod metrics;
pub mod model;
pub mod opml;
pub mod parse;
pub mod pipeline;
pub mod poll;
pub mod publish;
pub mod store;
pub mod stories;
pub mod text;
pub mod xmlchars;
