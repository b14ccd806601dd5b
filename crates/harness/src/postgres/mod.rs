//! PostgreSQL as the tools use it: the programs ([`PgBin`]), the account
//! that runs them ([`Account`]), clusters ([`Cluster`], [`Scratch`]),
//! pg_auto_failover formations of a monitor, a primary and a standby
//! ([`Formation`]), connection URLs ([`DatabaseUrl`]) and databases
//! ([`Admin`]).

mod account;
mod admin;
mod autoctl;
mod bin;
mod cluster;
mod formation;
mod scratch;
mod url;

pub use account::Account;
pub use admin::{Admin, DatabaseName, connect};
pub use bin::PgBin;
pub use cluster::{Cluster, Durability, Status};
pub use formation::{FailureDetection, Formation, FormationSettings, NodeState, Replication};
pub use scratch::Scratch;
pub use url::DatabaseUrl;
