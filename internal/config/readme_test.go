package config

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// The README's configuration table is what an operator reads: it must list
// every setting exactly as --help does, and nothing else.
func TestREADME_ConfigurationTableMatchesTheSettings(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	row := regexp.MustCompile("(?m)^\\| `(--[a-z0-9-]+)` \\| `(SWITCHBOARD_[A-Z0-9_]+)` \\| (`[^`]*`)? *\\| (.*) \\|$")
	inREADME := map[string]string{}
	for _, m := range row.FindAllStringSubmatch(string(raw), -1) {
		inREADME[m[1]] = strings.Join([]string{m[2], strings.Trim(m[3], "`"), m[4]}, " | ")
	}
	for _, s := range Documented() {
		want := strings.Join([]string{s.Env, s.Default, s.Help}, " | ")
		got, ok := inREADME[s.Flag]
		switch {
		case !ok:
			t.Errorf("README lacks the row:\n| `%s` | `%s` | %s | %s |", s.Flag, s.Env, quote(s.Default), s.Help)
		case got != want:
			t.Errorf("README row of %s says\n  %s\nbut the setting is\n  %s", s.Flag, got, want)
		}
		delete(inREADME, s.Flag)
	}
	for flag := range inREADME {
		t.Errorf("README lists %s, which is no setting", flag)
	}
}

func quote(def string) string {
	if def == "" {
		return ""
	}
	return "`" + def + "`"
}
