// Package bench holds Switchboard's benchmarks: whole-node measurements
// over real HTTP on loopback, each beside the baseline it is judged against.
// Numbers and how to reproduce them are in docs/benchmarks.md.
package bench
