//! What the end-to-end tests (`tests/e2e`) use from the library: creating
//! the fixture, parsing the benchmark's CSV, hashing files, finding tools.
//! Nothing else of the library is public.

pub use crate::core::boo_csv::{parse as parse_boo_csv, Row as BooRow};
pub use crate::core::digest::sha256_hex;
pub use crate::infra::fixture::{materialize as materialize_fixture, Fixture, Options as FixtureOptions};
pub use crate::infra::proc::which;
