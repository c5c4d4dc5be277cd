//go:build race

package httpapi_test

// raceSlowdown stretches wall-clock deadlines under the race detector, which
// slows everything severalfold; the behaviour asserted is the same.
const raceSlowdown = 3
