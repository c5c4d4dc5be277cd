package billing

import (
	"strings"
	"testing"
	"time"
)

func TestVerifySignature(t *testing.T) {
	t.Parallel()
	payload := []byte(`{"id":"evt_1","type":"invoice.paid"}`)
	now := time.Unix(1_800_000_000, 0)
	good := Sign(payload, "whsec_a", now)
	other := Sign(payload, "whsec_b", now)
	cases := []struct {
		name, header string
		at           time.Time
		ok           bool
	}{
		{"valid", good, now, true},
		{"several v1, one valid", other + "," + strings.Split(good, ",")[1], now, true},
		{"v0 ignored, v1 valid", good + ",v0=deadbeef", now, true},
		{"within tolerance", good, now.Add(299 * time.Second), true},
		{"stale", good, now.Add(301 * time.Second), false},
		{"from the future", good, now.Add(-301 * time.Second), false},
		{"wrong secret", other, now, false},
		{"no timestamp", "v1=" + strings.TrimPrefix(strings.Split(good, ",")[1], "v1="), now, false},
		{"no signature", strings.Split(good, ",")[0], now, false},
		{"garbage", "nonsense", now, false},
		{"empty", "", now, false},
		{"bad hex only", strings.Split(good, ",")[0] + ",v1=zz", now, false},
	}
	for _, c := range cases {
		err := VerifySignature(payload, c.header, "whsec_a", c.at)
		if (err == nil) != c.ok {
			t.Errorf("%s: err = %v, want ok=%v", c.name, err, c.ok)
		}
	}
	if err := VerifySignature(append(payload, ' '), good, "whsec_a", now); err == nil {
		t.Error("a changed payload verified")
	}
	if err := VerifySignature(payload, good, "", now); err == nil {
		t.Error("an empty secret verified")
	}
}

func TestShare_IsExactForFullRefundsAndNeverOverflows(t *testing.T) {
	t.Parallel()
	cases := []struct{ credits, total, refunded, want int64 }{
		{1_000_000, 1000, 500, 500_000},
		{1_000_000, 1000, 1000, 1_000_000},
		{1_000_000, 1000, 2000, 1_000_000},
		{1_000_000, 3, 1, 333_333},
		{1 << 60, 99_999_999, 99_999_998, (1 << 60) / 99_999_999 * 99_999_998},
		{5, 0, 5, 0},
	}
	for _, c := range cases {
		got := share(c.credits, c.total, c.refunded)
		if c.credits == 1<<60 {
			// exact value by big arithmetic is within one unit of the estimate
			if d := got - c.want; d < -99_999_999 || d > 99_999_999 || got <= 0 {
				t.Errorf("share(%d, %d, %d) = %d", c.credits, c.total, c.refunded, got)
			}
			continue
		}
		if got != c.want {
			t.Errorf("share(%d, %d, %d) = %d, want %d", c.credits, c.total, c.refunded, got, c.want)
		}
	}
}
