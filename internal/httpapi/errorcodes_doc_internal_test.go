package httpapi

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/switchboard/switchboard/internal/apperr"
)

// docs/api.md's table of error codes is the contract clients program
// against: every code internal/apperr defines must be in it, with the
// status statusOf really answers.
func TestDocs_ErrorCodeTableMatchesTheCode(t *testing.T) {
	t.Parallel()
	fset := token.NewFileSet()
	names, err := filepath.Glob("../apperr/*.go")
	if err != nil {
		t.Fatal(err)
	}
	var codes []apperr.Code
	for _, name := range names {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			vs, ok := n.(*ast.ValueSpec)
			if !ok {
				return true
			}
			if id, ok := vs.Type.(*ast.Ident); !ok || id.Name != "Code" {
				return true
			}
			for _, v := range vs.Values {
				if lit, ok := v.(*ast.BasicLit); ok && lit.Kind == token.STRING {
					s, _ := strconv.Unquote(lit.Value)
					codes = append(codes, apperr.Code(s))
				}
			}
			return true
		})
	}
	if len(codes) < 10 {
		t.Fatalf("found only %d codes in internal/apperr: %v", len(codes), codes)
	}
	raw, err := os.ReadFile("../../docs/api.md")
	if err != nil {
		t.Fatal(err)
	}
	row := regexp.MustCompile("(?m)^\\| `([A-Z_]+)` \\| ([0-9]{3}) \\|")
	documented := map[apperr.Code]int{}
	for _, m := range row.FindAllStringSubmatch(string(raw), -1) {
		documented[apperr.Code(m[1])], _ = strconv.Atoi(m[2])
	}
	for _, c := range codes {
		status, ok := documented[c]
		if !ok {
			t.Errorf("docs/api.md lacks a row for %s (HTTP %d)", c, statusOf(c))
		} else if status != statusOf(c) {
			t.Errorf("docs/api.md says %s is HTTP %d; it is %d", c, status, statusOf(c))
		}
	}
}
