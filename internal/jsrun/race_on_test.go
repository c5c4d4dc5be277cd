//go:build race

package jsrun

const raceDetector = true
