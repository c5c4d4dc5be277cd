// Command vulnreport reads `govulncheck -format json` from stdin and fails
// when Switchboard calls a vulnerable function of a module it requires: those
// are fixed by upgrading the module in go.mod. Vulnerabilities in the Go
// standard library are fixed only by a newer Go toolchain than the machine
// has (CI cannot download one), so they are listed as warnings naming the
// Go release that fixes them, without failing the run.
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
)

type frame struct {
	Module   string `json:"module"`
	Version  string `json:"version"`
	Package  string `json:"package"`
	Function string `json:"function"`
	Receiver string `json:"receiver"`
	Position *struct {
		Filename string `json:"filename"`
		Line     int    `json:"line"`
	} `json:"position"`
}

type message struct {
	OSV *struct {
		ID      string `json:"id"`
		Summary string `json:"summary"`
	} `json:"osv"`
	Finding *struct {
		OSV          string  `json:"osv"`
		FixedVersion string  `json:"fixed_version"`
		Trace        []frame `json:"trace"`
	} `json:"finding"`
}

type finding struct {
	id, summary, module, version, fixed, where string
}

func main() {
	failed, err := report(os.Stdin, os.Stdout)
	if err != nil {
		fmt.Fprintln(os.Stderr, "vulnreport:", err)
		os.Exit(2)
	}
	if failed {
		os.Exit(1)
	}
}

func report(in io.Reader, out io.Writer) (failed bool, err error) {
	summaries := map[string]string{}
	called := map[string]finding{}
	dec := json.NewDecoder(in)
	for {
		var m message
		if err := dec.Decode(&m); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return false, err
		}
		if m.OSV != nil {
			summaries[m.OSV.ID] = m.OSV.Summary
		}
		f := m.Finding
		// Only a trace that reaches a function is code Switchboard calls;
		// the others name a package or module it merely depends on.
		if f == nil || len(f.Trace) == 0 || f.Trace[0].Function == "" {
			continue
		}
		vuln, where := f.Trace[0], ""
		if last := f.Trace[len(f.Trace)-1]; last.Position != nil {
			where = fmt.Sprintf("%s:%d", last.Position.Filename, last.Position.Line)
		}
		// One call site per vulnerability, the same on every run.
		if prev, seen := called[f.OSV]; seen && prev.where <= where {
			continue
		}
		called[f.OSV] = finding{id: f.OSV, module: vuln.Module, version: vuln.Version, fixed: f.FixedVersion, where: where}
	}
	ids := make([]string, 0, len(called))
	for id := range called {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	var errs, warns int
	for _, id := range ids {
		f := called[id]
		if f.module == "stdlib" || f.module == "toolchain" {
			warns++
			fmt.Fprintf(out, "warning: %s (Go standard library %s, fixed in %s; upgrade Go): %s\n    called from %s\n", id, f.version, f.fixed, summaries[id], f.where)
			continue
		}
		errs++
		fmt.Fprintf(out, "error: %s (%s %s, fixed in %s; upgrade it in go.mod): %s\n    called from %s\n", id, f.module, f.version, f.fixed, summaries[id], f.where)
	}
	fmt.Fprintf(out, "%d called vulnerabilities in required modules, %d in the Go standard library\n", errs, warns)
	return errs > 0, nil
}
