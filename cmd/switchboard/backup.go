package main

import (
	"context"
	"io"
)

func cmdBackup(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	return exitError{code: 2, msg: "not yet"}
}

func cmdRestore(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	return exitError{code: 2, msg: "not yet"}
}
