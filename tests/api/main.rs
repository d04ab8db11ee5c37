//! Black-box tests: the real server on a random port, a fresh database per test.
//! The backend is SQLite unless VERBAND_TEST_DATABASE_URL names a PostgreSQL server
//! (e.g. postgres://postgres@127.0.0.1:5432/postgres); then each test gets its own
//! database, created from a migrated template.
mod admin;
mod assignments;
mod audit;
mod batching;
mod common;
mod concurrency;
mod foundation;
mod hostile;
mod http;
mod idp;
mod imports;
mod instances;
mod members;
mod oidc;
mod persisted;
mod property;
mod reporting;
mod retention;
mod rules;
mod seeds;
mod side_doors;
mod signin;
mod workflows;
