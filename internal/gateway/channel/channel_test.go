package channel

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestCheckText_CountsAsThePlatform(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		typ  Type
		text string
		ok   bool
		msg  string
	}{
		{Telegram, strings.Repeat("😀", 2048), true, ""},
		{Telegram, strings.Repeat("😀", 2048) + "a", false, "is 4097 UTF-16 code units long; TELEGRAM allows at most 4096"},
		{Telegram, strings.Repeat("é", 4096), true, ""},
		{Discord, strings.Repeat("😀", 2000), true, ""},
		{Discord, strings.Repeat("é", 2001), false, "is 2001 characters long; DISCORD allows at most 2000"},
		{WhatsApp, strings.Repeat("ü", 4097), false, "is 4097 characters long; WHATSAPP allows at most 4096"},
		{Slack, strings.Repeat("x", 40000), true, ""},
		{Slack, strings.Repeat("x", 40001), false, "is 40001 characters long; SLACK allows at most 40000"},
	} {
		err := CheckText(c.typ, c.text)
		if (err == nil) != c.ok || (err != nil && err.Error() != c.msg) {
			t.Errorf("%s, %d bytes: %v, want ok=%v %q", c.typ, len(c.text), err, c.ok, c.msg)
		}
	}
}

// Provider error messages are bounded at a character boundary: the result
// is stored as text, which PostgreSQL takes only as valid UTF-8.
func TestClip_StaysValidUTF8(t *testing.T) {
	t.Parallel()
	for _, s := range []string{strings.Repeat("ü", 400), "a" + strings.Repeat("😀", 200), "bad \xff byte"} {
		for _, n := range []int{10, 299, 300, 301} {
			got := Clip(s, n)
			if !utf8.ValidString(got) || len(got) > max(n, len("…")) {
				t.Errorf("Clip(%d bytes, %d) = %d bytes, valid %v", len(s), n, len(got), utf8.ValidString(got))
			}
		}
	}
	if e := Classify(400, 0, strings.Repeat("ж", 200)); !utf8.ValidString(e.Message) || len(e.Message) > 300 {
		t.Errorf("Classify kept %d bytes, valid %v", len(e.Message), utf8.ValidString(e.Message))
	}
}
