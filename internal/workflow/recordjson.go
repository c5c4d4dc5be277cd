package workflow

import (
	"encoding/json"
	"strconv"
	"time"
)

// appendRecord appends r as json.Marshal encodes it, byte for byte.
// Encoding every step record by reflection was a noticeable share of a
// webhook run's CPU; records of the common shape (plain identifiers and
// text, compact JSON values, no metrics, console lines or wait) are
// written here directly, and any other goes through json.Marshal.
// TestAppendRecord_AsJSONMarshal holds the two to the same bytes.
func appendRecord(b []byte, r StepRecord) ([]byte, error) {
	if r.Metrics != nil || len(r.Logs) > 0 || r.WaitUntil != nil || !plainRaw(r.Input) || !plainRaw(r.Output) ||
		!plainText(r.StepID) || !plainText(string(r.Type)) || !plainText(r.Status) || !plainText(r.Error) || !plainText(r.Branch) ||
		!plainTime(r.StartedAt) || !plainTime(r.FinishedAt) {
		enc, err := json.Marshal(r)
		return append(b, enc...), err
	}
	b = append(b, `{"seq":`...)
	b = strconv.AppendInt(b, int64(r.Seq), 10)
	b = appendField(b, "stepId", r.StepID)
	b = appendField(b, "type", string(r.Type))
	b = append(b, `,"attempt":`...)
	b = strconv.AppendInt(b, int64(r.Attempt), 10)
	b = appendField(b, "status", r.Status)
	if len(r.Input) > 0 {
		b = append(append(b, `,"input":`...), r.Input...)
	}
	if len(r.Output) > 0 {
		b = append(append(b, `,"output":`...), r.Output...)
	}
	if r.Error != "" {
		b = appendField(b, "error", r.Error)
	}
	if r.Branch != "" {
		b = appendField(b, "branch", r.Branch)
	}
	b = append(b, `,"startedAt":"`...)
	b = r.StartedAt.AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","finishedAt":"`...)
	b = r.FinishedAt.AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","durationUs":`...)
	b = strconv.AppendInt(b, r.DurationUs, 10)
	if r.Pinned {
		b = append(b, `,"pinned":true`...)
	}
	return append(b, '}'), nil
}

func appendField(b []byte, key, text string) []byte {
	b = append(append(append(b, `,"`...), key...), `":"`...)
	return append(append(b, text...), '"')
}

// plainText is text json.Marshal writes as it is between quotes:
// printable ASCII without quote, backslash or the characters it escapes
// for HTML.
func plainText(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			return false
		}
	}
	return true
}

// plainRaw is JSON json.Marshal copies unchanged: valid, with no space
// outside strings to take out and nothing it escapes for HTML (json.Marshal
// writes the step values so; a plugin's raw output may differ).
func plainRaw(raw json.RawMessage) bool {
	inString := false
	for i := 0; i < len(raw); i++ {
		switch c := raw[i]; {
		case c == '<' || c == '>' || c == '&' || c >= 0x80:
			return false
		case inString && c == '\\':
			i++
		case c == '"':
			inString = !inString
		case !inString && (c == ' ' || c == '\t' || c == '\n' || c == '\r'):
			return false
		}
	}
	return len(raw) == 0 || json.Valid(raw)
}

// plainTime is a time time.Time.MarshalJSON writes without error.
func plainTime(t time.Time) bool {
	y := t.Year()
	return y >= 0 && y <= 9999
}
