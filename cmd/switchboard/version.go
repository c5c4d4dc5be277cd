package main

import (
	"fmt"
	"io"
	"runtime/debug"
)

// printVersion writes the version and where the binary came from: the
// module's version and, when it was built from a git checkout, the commit,
// its time and whether the tree had uncommitted changes.
func printVersion(w io.Writer, bi *debug.BuildInfo, ok bool) {
	fmt.Fprintln(w, "switchboard", version())
	if !ok || bi == nil {
		fmt.Fprintln(w, "build information: not available (binary built without module support)")
		return
	}
	mod := bi.Main.Path
	if mod == "" {
		mod = "(unknown module)"
	}
	fmt.Fprintf(w, "module:   %s %s\n", mod, orUnknown(bi.Main.Version))
	settings := map[string]string{}
	for _, s := range bi.Settings {
		settings[s.Key] = s.Value
	}
	if settings["vcs.revision"] == "" {
		fmt.Fprintln(w, "revision: unknown (not built from a version-controlled checkout, or built with -buildvcs=false)")
	} else {
		fmt.Fprintf(w, "revision: %s\n", settings["vcs.revision"])
		fmt.Fprintf(w, "time:     %s\n", orUnknown(settings["vcs.time"]))
		fmt.Fprintf(w, "modified: %s\n", orUnknown(settings["vcs.modified"]))
	}
	fmt.Fprintf(w, "go:       %s\n", orUnknown(bi.GoVersion))
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}
