//! The fast path for standing feeds: a GET or HEAD of `/feeds/...` with no
//! query whose bytes are in the snapshot is answered from them without
//! parsing the path, reading the configuration or counting a reference.
//! Anything else (variants, unknown feeds, other routes) goes to `handle`.

use super::{full, respond, Resp, Shared};
use bytes::Bytes;
use hyper::{Method, Request};

/// The response for a standing feed, or `None` when `handle` must answer.
pub fn serve<B>(shared: &Shared, req: &Request<B>) -> Option<Resp> {
    let head = match *req.method() {
        Method::GET => false,
        Method::HEAD => true,
        _ => return None,
    };
    let uri = req.uri();
    if uri.query().is_some() || !uri.path().starts_with("/feeds/") {
        return None;
    }
    let snapshot = shared.publisher.snapshot_ref();
    let rendered = snapshot.files.get(uri.path())?;
    let mut resp = respond(req, rendered);
    if head {
        *resp.body_mut() = full(Bytes::new());
    }
    shared.metrics.request("/feeds", resp.status().as_u16());
    Some(resp)
}
