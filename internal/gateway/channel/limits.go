package channel

import (
	"fmt"
	"unicode/utf8"
)

// TextLimit is the longest message text a provider accepts, counted the way
// that provider counts.
type TextLimit struct {
	Max int
	// Unit names what Count counts, for messages.
	Unit  string
	Count func(string) int
}

// Message text limits. Telegram counts UTF-16 code units (sendMessage,
// 1–4096 after entity parsing; texts are sent without parse_mode); Discord
// 2,000 characters (code points) of content; WhatsApp 4,096 characters of
// text.body; Slack truncates chat.postMessage text beyond 40,000
// characters, so longer texts are refused here rather than cut there.
// WEBHOOK has no provider: its limit is Switchboard's own.
var textLimits = map[Type]TextLimit{
	Telegram: {Max: 4096, Unit: "UTF-16 code units", Count: UTF16Len},
	Discord:  {Max: 2000, Unit: "characters", Count: utf8.RuneCountInString},
	WhatsApp: {Max: 4096, Unit: "characters", Count: utf8.RuneCountInString},
	Slack:    {Max: 40000, Unit: "characters", Count: utf8.RuneCountInString},
	Webhook:  {Max: 4000, Unit: "characters", Count: utf8.RuneCountInString},
}

// LimitOf returns a provider's text limit.
func LimitOf(t Type) TextLimit {
	if l, ok := textLimits[t]; ok {
		return l
	}
	return TextLimit{Max: 4000, Unit: "characters", Count: utf8.RuneCountInString}
}

// CheckText refuses a text longer than the provider accepts, naming the
// limit and the text's length; texts are never shortened.
func CheckText(t Type, text string) error {
	l := LimitOf(t)
	if n := l.Count(text); n > l.Max {
		return fmt.Errorf("is %d %s long; %s allows at most %d", n, l.Unit, t, l.Max)
	}
	return nil
}

// UTF16Len counts a string's UTF-16 code units: code points beyond the
// Basic Multilingual Plane (most emoji) count twice.
func UTF16Len(s string) int {
	n := 0
	for _, r := range s {
		n++
		if r >= 0x10000 {
			n++
		}
	}
	return n
}
