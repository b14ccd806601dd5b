//! PostgreSQL as the tools use it: the programs ([`PgBin`]), the account
//! that runs them ([`Account`]), clusters ([`Cluster`], [`Scratch`]),
//! connection URLs ([`DatabaseUrl`]) and databases ([`Admin`]).

mod account;
mod admin;
mod bin;
mod cluster;
mod scratch;
mod url;

pub use account::Account;
pub use admin::{Admin, DatabaseName, connect};
pub use bin::PgBin;
pub use cluster::{Cluster, Durability, Status};
pub use scratch::Scratch;
pub use url::DatabaseUrl;
