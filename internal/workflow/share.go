package workflow

// Sharing workflows: export as a JSON document, import one (a new,
// disabled workflow), duplicate. An export carries no secrets — a
// definition never holds any (installations and gateways keep theirs) —
// and lists the ids of other resources it names (installations,
// gateways) under references, since those mean nothing in another
// workspace: an import that still names them fails validation on the
// field, like a save would.

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/switchboard/switchboard/internal/actor"
	"github.com/switchboard/switchboard/internal/apperr"
)

// ExportFormat names the export document's format.
const ExportFormat = "switchboard.workflow/v1"

// Export is a workflow as a portable document.
type Export struct {
	Format      string     `json:"format"`
	Name        string     `json:"name"`
	Description string     `json:"description"`
	Definition  Definition `json:"definition"`
	Layout      *Layout    `json:"layout"`
	// References are the ids of this workspace's resources that the
	// definition names: replace them before importing elsewhere.
	References []Reference `json:"references"`
	ExportedAt time.Time   `json:"exportedAt"`
}

// Reference is one id of another resource named by a definition.
type Reference struct {
	// Field is where, as validation errors name fields
	// (definition.steps[0].config.gatewayId).
	Field string `json:"field"`
	// Kind is installation or gateway.
	Kind string `json:"kind"`
	ID   string `json:"id"`
}

// ImportInput is the body of POST /workflows/import: an export document
// (format, references and exportedAt are read but not needed).
type ImportInput struct {
	Format      string          `json:"format,omitempty"`
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	Definition  json.RawMessage `json:"definition"`
	Layout      *Layout         `json:"layout,omitempty"`
	References  []Reference     `json:"references,omitempty"`
	ExportedAt  *time.Time      `json:"exportedAt,omitempty"`
	// Replace maps ids the definition names (its references) to ids of
	// this workspace's resources; an empty id removes the reference
	// (a gateway id from a trigger's list, a step's gatewayId or
	// installationId). At most 100 entries.
	Replace map[string]string `json:"replace,omitempty"`
}

// DuplicateInput is the optional body of POST /workflows/{id}/duplicate.
type DuplicateInput struct {
	// Name of the copy (default: the original's name and " (copy)").
	Name string `json:"name,omitempty"`
}

// references lists the resource ids a definition names.
func references(d Definition) []Reference {
	out := []Reference{}
	for i, g := range d.Trigger.GatewayIDs {
		out = append(out, Reference{Field: fmt.Sprintf("definition.trigger.gatewayIds[%d]", i), Kind: "gateway", ID: g})
	}
	for i, st := range d.Steps {
		f := fmt.Sprintf("definition.steps[%d].config", i)
		switch st.Type {
		case StepPlugin:
			var pc PluginConfig
			if json.Unmarshal(st.Config, &pc) == nil && pc.InstallationID != "" {
				out = append(out, Reference{Field: f + ".installationId", Kind: "installation", ID: pc.InstallationID})
			}
		case StepGateway:
			var gc GatewayConfig
			if json.Unmarshal(st.Config, &gc) == nil && gc.GatewayID != "" {
				out = append(out, Reference{Field: f + ".gatewayId", Kind: "gateway", ID: gc.GatewayID})
			}
		}
	}
	return out
}

// ExportWorkflow returns a workflow's current version as a document.
func (s *Service) ExportWorkflow(ctx context.Context, a actor.Actor, id string) (Export, error) {
	w, err := s.Get(ctx, a, id)
	if err != nil {
		return Export{}, err
	}
	return Export{Format: ExportFormat, Name: w.Name, Description: w.Description, Definition: w.Definition, Layout: w.Layout,
		References: references(w.Definition), ExportedAt: s.now()}, nil
}

// Import creates a workflow from an export document, disabled (its
// triggers start nothing until it is enabled), at version 1.
func (s *Service) Import(ctx context.Context, a actor.Actor, in ImportInput) (Workflow, error) {
	if in.Format != "" && in.Format != ExportFormat {
		return Workflow{}, apperr.Invalid(apperr.FieldError{Field: "format", Message: fmt.Sprintf("must be %q (or left out)", ExportFormat)})
	}
	if len(in.Replace) > 0 {
		def, err := replaceReferences(in.Definition, in.Replace)
		if err != nil {
			return Workflow{}, err
		}
		in.Definition = def
	}
	return s.createCopy(ctx, a, in.Name, in.Description, in.Definition, in.Layout)
}

// Duplicate copies a workflow's current version and layout into a new,
// disabled workflow.
func (s *Service) Duplicate(ctx context.Context, a actor.Actor, id string, in DuplicateInput) (Workflow, error) {
	if err := allow(a, actor.PermWorkflowCreate); err != nil {
		return Workflow{}, err
	}
	w, err := s.Get(ctx, a, id)
	if err != nil {
		return Workflow{}, err
	}
	name := in.Name
	if name == "" {
		name = w.Name + " (copy)"
		if utf8.RuneCountInString(name) > 200 {
			name = w.Name
		}
	}
	raw, err := json.Marshal(w.Definition)
	if err != nil {
		return Workflow{}, apperr.Wrap(err, "duplicate workflow")
	}
	return s.createCopy(ctx, a, name, w.Description, raw, w.Layout)
}

func (s *Service) createCopy(ctx context.Context, a actor.Actor, name, desc string, def json.RawMessage, layout *Layout) (Workflow, error) {
	if layout != nil {
		if _, err := checkLayout(layout); err != nil {
			return Workflow{}, err
		}
	}
	off := false
	w, err := s.Create(ctx, a, CreateInput{Name: name, Description: desc, Enabled: &off, Definition: def})
	if err != nil || layout == nil {
		return w, err
	}
	return s.SetLayout(ctx, a, w.ID, LayoutInput{Layout: layout})
}

// replaceReferences puts the ids of repl in place of the ones a
// definition names where references() finds them: the event trigger's
// gatewayIds and the gatewayId or installationId of each step's config.
// Everything else in the definition is left as it is.
func replaceReferences(raw json.RawMessage, repl map[string]string) (json.RawMessage, error) {
	if len(repl) > 100 {
		return nil, apperr.Invalid(apperr.FieldError{Field: "replace", Message: "must have at most 100 entries"})
	}
	for k, v := range repl {
		if len(k) > 200 || len(v) > 200 {
			return nil, apperr.Invalid(apperr.FieldError{Field: "replace", Message: "ids must be at most 200 characters"})
		}
	}
	var d map[string]json.RawMessage
	if err := json.Unmarshal(raw, &d); err != nil {
		return raw, nil // validation names the problem
	}
	if t, ok := d["trigger"]; ok {
		var trig map[string]json.RawMessage
		var gws []string
		if json.Unmarshal(t, &trig) == nil && json.Unmarshal(trig["gatewayIds"], &gws) == nil && gws != nil {
			out := []string{}
			for _, g := range gws {
				if n, ok := repl[g]; !ok {
					out = append(out, g)
				} else if n != "" {
					out = append(out, n)
				}
			}
			trig["gatewayIds"], _ = json.Marshal(out)
			d["trigger"], _ = json.Marshal(trig)
		}
	}
	var steps []map[string]json.RawMessage
	if json.Unmarshal(d["steps"], &steps) == nil {
		for _, st := range steps {
			var cfg map[string]json.RawMessage
			if json.Unmarshal(st["config"], &cfg) != nil || cfg == nil {
				continue
			}
			changed := false
			for _, key := range []string{"gatewayId", "installationId"} {
				var id string
				if json.Unmarshal(cfg[key], &id) != nil {
					continue
				}
				if n, ok := repl[id]; ok {
					changed = true
					if n == "" {
						delete(cfg, key)
					} else {
						cfg[key], _ = json.Marshal(n)
					}
				}
			}
			if changed {
				st["config"], _ = json.Marshal(cfg)
			}
		}
		d["steps"], _ = json.Marshal(steps)
	}
	return json.Marshal(d)
}
