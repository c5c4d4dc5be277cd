// Package crashtest holds the workflow engine's tests against real
// `switchboard serve` processes (package proctest): runs surviving kill -9
// of the only node on embedded SQLite, and schedules firing once with two
// processes on one PostgreSQL database. They build the binary, so they are
// skipped with -short and when no go tool is at hand.
package crashtest
