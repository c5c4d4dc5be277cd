// Package templates holds the gallery of ready workflows: the examples of
// the README and docs/workflows.md, each a definition that runs as
// shipped (a test imports and runs every one of them). A template that
// needs a resource of the workspace (a gateway to send to) names a
// placeholder id in needs; importing it with replace: {placeholder: id}
// puts the workspace's own in its place.
package templates

import (
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"slices"
	"sync"
)

//go:embed files/*.json
var files embed.FS

// Template is one ready workflow of the gallery.
type Template struct {
	Slug        string `json:"slug"`
	Name        string `json:"name"`
	Description string `json:"description"`
	// Source is where the example comes from in the documentation.
	Source string `json:"source"`
	// TriggerType and StepTypes summarize the definition.
	TriggerType string   `json:"triggerType"`
	StepTypes   []string `json:"stepTypes"`
	// Needs lists what the workspace must provide, each with the
	// placeholder id the definition holds until it is replaced.
	Needs []Need `json:"needs"`
	// SampleInput is a run's input the template works with (for a webhook
	// trigger: the request, {body: …}); SampleOutput what that run gives
	// (absent when its last step's output varies, e.g. a message id).
	SampleInput  json.RawMessage `json:"sampleInput"`
	SampleOutput json.RawMessage `json:"sampleOutput,omitempty"`
	// SampleReply is, for a conversation, the answer to send in the
	// sample input's chat while the run waits for it.
	SampleReply string `json:"sampleReply,omitempty"`
	// Definition is the workflow's definition, as POST /workflows/import
	// takes it.
	Definition json.RawMessage `json:"definition"`
}

// Need is a resource a template must be given.
type Need struct {
	// Kind is gateway or installation.
	Kind string `json:"kind"`
	// ID is the placeholder the definition names.
	ID    string `json:"id"`
	Label string `json:"label"`
}

var (
	once sync.Once
	all  []Template
	err  error
)

// All returns the gallery, by name.
func All() ([]Template, error) {
	once.Do(func() { all, err = load(files) })
	return all, err
}

// Get returns one template by slug.
func Get(slug string) (Template, bool) {
	l, _ := All()
	for _, t := range l {
		if t.Slug == slug {
			return t, true
		}
	}
	return Template{}, false
}

func load(fsys fs.FS) ([]Template, error) {
	names, err := fs.Glob(fsys, "files/*.json")
	if err != nil {
		return nil, err
	}
	out := make([]Template, 0, len(names))
	for _, n := range names {
		raw, err := fs.ReadFile(fsys, n)
		if err != nil {
			return nil, err
		}
		var t Template
		if err := json.Unmarshal(raw, &t); err != nil {
			return nil, fmt.Errorf("template %s: %w", n, err)
		}
		var d struct {
			Trigger struct{ Type string }
			Steps   []struct{ Type string }
		}
		if err := json.Unmarshal(t.Definition, &d); err != nil {
			return nil, fmt.Errorf("template %s: definition: %w", n, err)
		}
		t.TriggerType = d.Trigger.Type
		for _, s := range d.Steps {
			if !slices.Contains(t.StepTypes, s.Type) {
				t.StepTypes = append(t.StepTypes, s.Type)
			}
		}
		if t.Needs == nil {
			t.Needs = []Need{}
		}
		if len(t.SampleInput) == 0 {
			t.SampleInput = json.RawMessage("{}")
		}
		out = append(out, t)
	}
	slices.SortFunc(out, func(a, b Template) int {
		// Those that need nothing first: they run as they come.
		if (len(a.Needs) == 0) != (len(b.Needs) == 0) {
			if len(a.Needs) == 0 {
				return -1
			}
			return 1
		}
		if a.Name < b.Name {
			return -1
		}
		return 1
	})
	return out, nil
}
