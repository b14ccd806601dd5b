//! The committed `rest-docs/` against the code: the files are what the
//! code and the catalog make, the collection covers every documented
//! operation, and the committed Insomnia export, replayed against the real
//! service on a freshly seeded database, answers every status it documents.

// clippy.toml allows these in #[test] functions; the helpers beside them
// are test code too, where a panic is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod coverage;
mod replay;

use recordshop_rest_docs::files;

#[test]
fn the_committed_files_are_up_to_date() {
    if let Err(error) = files::check(&files::default_dir()) {
        panic!("{error:#}");
    }
}
