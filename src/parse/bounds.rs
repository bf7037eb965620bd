//! The size bound of every field that comes from a feed, and the tally of what
//! one document lost to them (logged once per document, not once per item).
//!
//! Every stored field is republished in every feed its story is in, in three
//! formats, and kept for the retention period: one feed with megabyte links
//! made every merged feed megabytes long. A field over its bound is dropped
//! whole (a cut link or name would be wrong, not shorter); titles are the
//! exception DESIGN.md makes: cut to `normalize::MAX_TITLE_CHARS`. Summaries
//! are cut to their lead (`normalize::MAX_SUMMARY_BYTES`). Enclosures and
//! attachments are not kept at all, so they need no bound.

/// The longest item link kept, in bytes after canonicalising: browsers and
/// servers commonly stop at about 2,000, so a longer link is not one a reader
/// could follow anyway.
pub const MAX_LINK_BYTES: usize = 2048;

/// A raw link longer than this is not even parsed: canonicalising (dropping
/// tracking parameters, a fragment) never shortens a real link this much.
pub const MAX_LINK_INPUT_BYTES: usize = 4 * MAX_LINK_BYTES;

/// The longest author kept, in characters: a byline of several names fits,
/// a pasted paragraph does not.
pub const MAX_AUTHOR_CHARS: usize = 200;

/// The most categories one item keeps, and the longest category name: each
/// becomes a tag with its own feed, and real feeds carry a handful of short
/// ones; a hostile item with ten thousand must not make ten thousand feeds.
pub const MAX_CATEGORIES: usize = 32;
pub const MAX_CATEGORY_CHARS: usize = 100;

/// The longest feed title kept as its source's title, in characters: it is
/// repeated in every entry of every merged feed the source is in.
pub const MAX_SOURCE_TITLE_CHARS: usize = 300;

/// The longest guid kept, in bytes: it is stored with every item (as its
/// identity) and in the store's keys. Without it, an item is known by its link.
pub const MAX_GUID_BYTES: usize = 1024;

/// How many fields of one document were dropped for being over their bound.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Dropped {
    pub links: u32,
    pub authors: u32,
    pub categories: u32,
    pub guids: u32,
    pub feed_title: bool,
}

impl Dropped {
    pub fn any(&self) -> bool {
        *self != Dropped::default()
    }
}
