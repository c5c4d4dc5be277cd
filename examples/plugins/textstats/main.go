//go:build wasip1

// Command textstats is an example Switchboard plugin, built with
//
//	GOOS=wasip1 GOARCH=wasm go build -o textstats.wasm ./examples/plugins/textstats
//
// It counts the words and characters of input.text and names the most
// frequent words. Granted "kv", it also keeps a running total of the words
// it has seen for its installation; granted "log", it logs a line per run.
//
// The ABI (docs/plugins.md): the request {input, config, context} is JSON on
// stdin; the output is JSON on stdout; to fail, write the reason to stderr
// and exit with a non-zero status.
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

type request struct {
	Input struct {
		Text string `json:"text"`
	} `json:"input"`
	Config struct {
		Top         int  `json:"top"`
		KeepTotals  bool `json:"keepTotals"`
		LogEachRun  bool `json:"logEachRun"`
		IgnoreShort int  `json:"ignoreShorterThan"`
	} `json:"config"`
	Context struct {
		Trigger        string `json:"trigger"`
		InstallationID string `json:"installationId"`
	} `json:"context"`
}

type wordCount struct {
	Word  string `json:"word"`
	Count int    `json:"count"`
}

type output struct {
	Words      int         `json:"words"`
	Characters int         `json:"characters"`
	Top        []wordCount `json:"top"`
	TotalWords *int        `json:"totalWords,omitempty"`
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func run() error {
	raw, err := io.ReadAll(os.Stdin)
	if err != nil {
		return fmt.Errorf("read request: %w", err)
	}
	var req request
	if err := json.Unmarshal(raw, &req); err != nil {
		return fmt.Errorf("decode request: %w", err)
	}
	top := req.Config.Top
	if top <= 0 {
		top = 3
	}
	counts := map[string]int{}
	words := strings.FieldsFunc(strings.ToLower(req.Input.Text), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r) && r != '\''
	})
	for _, w := range words {
		if utf8.RuneCountInString(w) >= req.Config.IgnoreShort {
			counts[w]++
		}
	}
	out := output{Words: len(words), Characters: utf8.RuneCountInString(req.Input.Text), Top: []wordCount{}}
	for w, n := range counts {
		out.Top = append(out.Top, wordCount{w, n})
	}
	sort.Slice(out.Top, func(i, j int) bool {
		if out.Top[i].Count != out.Top[j].Count {
			return out.Top[i].Count > out.Top[j].Count
		}
		return out.Top[i].Word < out.Top[j].Word
	})
	if len(out.Top) > top {
		out.Top = out.Top[:top]
	}
	if req.Config.KeepTotals {
		total := len(words)
		if v, ok := kvGet("totalWords"); ok {
			prev, _ := strconv.Atoi(string(v))
			total += prev
		}
		if !kvSet("totalWords", []byte(strconv.Itoa(total))) {
			return fmt.Errorf("could not store the running total")
		}
		out.TotalWords = &total
	}
	if req.Config.LogEachRun {
		logInfo(fmt.Sprintf("counted %d words (%s)", len(words), req.Context.Trigger))
	}
	return json.NewEncoder(os.Stdout).Encode(out)
}
