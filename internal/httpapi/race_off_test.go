//go:build !race

package httpapi_test

// raceSlowdown stretches wall-clock deadlines under the race detector.
const raceSlowdown = 1
