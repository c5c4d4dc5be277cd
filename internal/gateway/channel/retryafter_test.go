package channel

import (
	"testing"
	"time"
)

// A provider's wait is taken as given up to a day; absurd, negative or
// unparsable values never wrap into a negative duration.
func TestParseRetryAfter_Bounds(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"1.5": 1500 * time.Millisecond, "0": 0, "-3": 0, "soon": 0, "NaN": 0,
		"1e300": MaxRetryAfter, "9223372037": MaxRetryAfter, "+Inf": MaxRetryAfter,
	} {
		if got := ParseRetryAfter(in); got != want {
			t.Errorf("ParseRetryAfter(%q) = %v, want %v", in, got, want)
		}
	}
}
