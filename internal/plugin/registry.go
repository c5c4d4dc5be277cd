package plugin

import (
	"fmt"
	"sort"
	"sync"
)

// Registry knows the built-in plugins by slug. Installed (marketplace)
// plugins are resolved per installation by the installation service, which
// asks the registry first: a marketplace plugin can never shadow a
// built-in's slug.
type Registry struct {
	mu       sync.RWMutex
	builtins map[string]Builtin
}

// Builtin is a built-in plugin with its catalog entry.
type Builtin struct {
	Runner
	Name        string
	Description string
}

// NewRegistry returns a registry holding the given built-ins.
func NewRegistry(bs ...Builtin) *Registry {
	r := &Registry{builtins: map[string]Builtin{}}
	for _, b := range bs {
		r.Register(b)
	}
	return r
}

// Register adds a built-in; registering a slug twice is a programming
// error.
func (r *Registry) Register(b Builtin) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, dup := r.builtins[b.Slug()]; dup {
		panic(fmt.Sprintf("plugin: built-in %q registered twice", b.Slug()))
	}
	r.builtins[b.Slug()] = b
}

// Builtin returns the built-in with the slug.
func (r *Registry) Builtin(slug string) (Builtin, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	b, ok := r.builtins[slug]
	return b, ok
}

// Builtins lists every built-in, by slug.
func (r *Registry) Builtins() []Builtin {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]Builtin, 0, len(r.builtins))
	for _, b := range r.builtins {
		out = append(out, b)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Slug() < out[j].Slug() })
	return out
}
