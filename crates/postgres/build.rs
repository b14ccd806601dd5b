//! `embed_migrations!` (src/migrate.rs) includes each migration file it finds,
//! so cargo notices an edited migration but not a new one: watching the
//! folder rebuilds the crate, and with it the migrations fingerprint the test
//! templates are named after, when a migration is added.

fn main() {
    println!("cargo:rerun-if-changed=../../migrations");
}
