//go:build !race

package jsrun

const raceDetector = false
