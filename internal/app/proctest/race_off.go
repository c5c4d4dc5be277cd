//go:build !race

package proctest

// RaceEnabled: this test binary runs under the race detector, and so does
// the child binary Build makes.
const RaceEnabled = false

// Slowdown stretches wall-clock deadlines under the race detector.
const Slowdown = 1
