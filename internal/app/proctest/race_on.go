//go:build race

package proctest

// RaceEnabled: this test binary runs under the race detector, and so does
// the child binary Build makes.
const RaceEnabled = true

// Slowdown stretches wall-clock deadlines under the race detector, which
// slows the child (and the test) severalfold.
const Slowdown = 4
