// Package pgtest finds or starts a throwaway PostgreSQL server for the tests,
// examples and benchmarks, and creates databases on it with the two roles
// every Row-Level-Security test needs: an owner that creates the tables, and
// an ordinary application role (NOSUPERUSER, NOBYPASSRLS, not the owner) that
// the code under test connects as. Superusers and table owners bypass RLS, so
// a test connected as either proves nothing.
//
// # Where the server comes from
//
// In this order:
//  1. PGX_TENANT_TEST_DATABASE: a DSN of a role that may create roles and
//     databases (a superuser, usually);
//  2. a throwaway cluster from local PostgreSQL binaries (initdb and postgres
//     on PATH or under /usr/lib/postgresql/*/bin) in a temporary directory on
//     a free loopback port; as root, the server runs as the user "nobody",
//     because PostgreSQL refuses to run as root;
//  3. a postgres container through testcontainers-go when a Docker daemon
//     answers;
//  4. none: tests skip, or fail when the CI environment variable is set.
//
// A test that restarts its server gets a private local cluster from
// StartPrivate, whatever PGX_TENANT_TEST_DATABASE says: it skips without
// local binaries, or fails under CI, like every missing dependency.
package pgtest
