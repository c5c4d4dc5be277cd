package httpapi

import (
	"net/http"

	"github.com/switchboard/switchboard/internal/actor"
	"github.com/switchboard/switchboard/internal/ids"
	"github.com/switchboard/switchboard/internal/plugin/install"
	"github.com/switchboard/switchboard/internal/plugin/market"
)

// wasmFlag gates installing sandboxed (marketplace) plugins; built-ins are
// always installable.
const wasmFlag = "wasm_sandbox"

type featuredRequest struct {
	Featured bool `json:"featured"`
}

func (s *Server) pluginRoutes() {
	s.handle(route{method: "GET", path: "/api/v1/plugins", tag: "plugins", access: signedIn, perm: actor.PermPluginRead, response: page[market.Entry]{},
		summary: "The catalog: built-in plugins, then marketplace plugins with an approved version (featured first).",
		handler: func(w http.ResponseWriter, r *http.Request) error {
			list, err := s.Market.Catalog(r.Context(), s.actorOf(r))
			if err != nil {
				return err
			}
			return writeWholePage(w, r, list)
		}})
	s.handle(route{method: "GET", path: "/api/v1/plugins/{slug}", tag: "plugins", access: signedIn, perm: actor.PermPluginRead, response: market.Entry{},
		summary: "One catalog plugin with its installable versions and schemas.",
		handler: func(w http.ResponseWriter, r *http.Request) error {
			e, err := s.Market.Plugin(r.Context(), s.actorOf(r), r.PathValue("slug"))
			if err != nil {
				return err
			}
			writeJSON(w, http.StatusOK, e)
			return nil
		}})
	s.marketRoutes()
	s.installationRoutes()
	s.analyticsRoutes()
}

func (s *Server) marketRoutes() {
	s.handle(route{method: "POST", path: "/api/v1/marketplace/submissions", doc: routeDoc{errors: []int{402, 409}}, tag: "marketplace", access: signedIn, perm: actor.PermMarketSubmit, upload: true,
		status: http.StatusCreated, request: market.SubmitInput{}, response: market.Version{},
		summary: "Submit a plugin version (manifest + base64 WebAssembly module, optionally gzipped) for review; it starts PENDING.",
		handler: func(w http.ResponseWriter, r *http.Request) error {
			var in market.SubmitInput
			if err := decode(r, &in); err != nil {
				return err
			}
			v, err := s.Market.Submit(r.Context(), s.actorOf(r), in)
			if err != nil {
				return err
			}
			writeJSON(w, http.StatusCreated, v)
			return nil
		}})
	s.handle(route{method: "GET", path: "/api/v1/marketplace/submissions", tag: "marketplace", access: signedIn, perm: actor.PermMarketSubmit,
		response: page[market.Version]{}, query: pageParams, summary: "The versions you submitted and how their review went, newest first.",
		handler: func(w http.ResponseWriter, r *http.Request) error {
			after, n, err := pageQuery(r, newestFirst(ids.PluginVersion))
			if err != nil {
				return err
			}
			list, err := s.Market.Submissions(r.Context(), s.actorOf(r), after, n)
			if err != nil {
				return err
			}
			p, err := keyset(r, list, func(x market.Version) string { return x.ID }, newestFirst(ids.PluginVersion))
			if err != nil {
				return err
			}
			writeJSON(w, http.StatusOK, p)
			return nil
		}})
	s.handle(route{method: "POST", path: "/api/v1/marketplace/versions/{id}/yank", doc: routeDoc{errors: []int{409}}, tag: "marketplace", access: signedIn,
		request: market.ReviewInput{}, response: market.Version{},
		summary: "Withdraw an approved version (its author or a reviewer): installed copies keep running, new installs cannot pick it.",
		handler: func(w http.ResponseWriter, r *http.Request) error {
			var in market.ReviewInput
			if err := decode(r, &in); err != nil {
				return err
			}
			v, err := s.Market.Yank(r.Context(), s.actorOf(r), r.PathValue("id"), in)
			if err != nil {
				return err
			}
			writeJSON(w, http.StatusOK, v)
			return nil
		}})
	s.handle(route{method: "GET", path: "/api/v1/admin/marketplace/versions", tag: "admin", access: signedIn, perm: actor.PermMarketReview,
		response: page[market.Version]{}, query: append([]param{{"status", "PENDING (default), APPROVED, REJECTED or YANKED."}}, pageParams...),
		summary: "The review queue: submitted versions by status (ADMIN, SUPER_ADMIN).",
		handler: func(w http.ResponseWriter, r *http.Request) error {
			after, n, err := pageQuery(r, newestFirst(ids.PluginVersion))
			if err != nil {
				return err
			}
			list, err := s.Market.ReviewQueue(r.Context(), s.actorOf(r), market.Status(r.URL.Query().Get("status")), after, n)
			if err != nil {
				return err
			}
			p, err := keyset(r, list, func(x market.Version) string { return x.ID }, newestFirst(ids.PluginVersion))
			if err != nil {
				return err
			}
			writeJSON(w, http.StatusOK, p)
			return nil
		}})
	review := func(verb string, fn func(*Server, *http.Request, market.ReviewInput) (market.Version, error), summary string) {
		s.handle(route{method: "POST", path: "/api/v1/admin/marketplace/versions/{id}/" + verb, doc: routeDoc{errors: []int{409}}, tag: "admin", access: signedIn,
			perm: actor.PermMarketReview, request: market.ReviewInput{}, response: market.Version{}, summary: summary,
			handler: func(w http.ResponseWriter, r *http.Request) error {
				var in market.ReviewInput
				if r.ContentLength != 0 {
					if err := decode(r, &in); err != nil {
						return err
					}
				}
				v, err := fn(s, r, in)
				if err != nil {
					return err
				}
				writeJSON(w, http.StatusOK, v)
				return nil
			}})
	}
	review("approve", func(s *Server, r *http.Request, in market.ReviewInput) (market.Version, error) {
		return s.Market.Approve(r.Context(), s.actorOf(r), r.PathValue("id"), in)
	}, "Approve a pending version: it becomes installable (ADMIN, SUPER_ADMIN).")
	review("reject", func(s *Server, r *http.Request, in market.ReviewInput) (market.Version, error) {
		return s.Market.Reject(r.Context(), s.actorOf(r), r.PathValue("id"), in)
	}, "Reject a pending version with a reason for its author (ADMIN, SUPER_ADMIN).")
	s.handle(route{method: "PUT", path: "/api/v1/admin/marketplace/plugins/{slug}/featured", tag: "admin", access: signedIn,
		perm: actor.PermMarketFeature, request: featuredRequest{}, response: market.Entry{},
		summary: "Feature or unfeature a marketplace plugin in the catalog (ADMIN+).",
		handler: func(w http.ResponseWriter, r *http.Request) error {
			var in featuredRequest
			if err := decode(r, &in); err != nil {
				return err
			}
			e, err := s.Market.SetFeatured(r.Context(), s.actorOf(r), r.PathValue("slug"), in.Featured)
			if err != nil {
				return err
			}
			writeJSON(w, http.StatusOK, e)
			return nil
		}})
}

func (s *Server) installationRoutes() {
	s.handle(route{method: "POST", path: "/api/v1/installations", doc: routeDoc{errors: []int{402, 404, 409}}, tag: "installations", access: signedIn, perm: actor.PermPluginInstall,
		status: http.StatusCreated, request: install.InstallInput{}, response: install.Installation{},
		summary: "Install a built-in or an approved marketplace plugin, within the plan's plugin limit (marketplace plugins need the wasm_sandbox flag). Optional write-only secrets are sealed; answers list only their names.",
		handler: func(w http.ResponseWriter, r *http.Request) error {
			var in install.InstallInput
			if err := decode(r, &in); err != nil {
				return err
			}
			do := func(w http.ResponseWriter, r *http.Request) error {
				inst, err := s.Installs.Install(r.Context(), s.actorOf(r), in)
				if err != nil {
					return err
				}
				writeJSON(w, http.StatusCreated, inst)
				return nil
			}
			if in.Plugin != "" && s.Installs.IsSandboxed(in.Plugin) {
				return s.requireFlag(wasmFlag)(do)(w, r)
			}
			return do(w, r)
		}})
	s.handle(route{method: "GET", path: "/api/v1/installations", tag: "installations", access: signedIn, perm: actor.PermPluginRead,
		response: page[install.Installation]{}, query: pageParams, summary: "The workspace's installed plugins, newest first.",
		handler: func(w http.ResponseWriter, r *http.Request) error {
			list, err := s.Installs.List(r.Context(), s.actorOf(r))
			if err != nil {
				return err
			}
			p, err := keyset(r, list, func(x install.Installation) string { return x.ID }, newestFirst(ids.Installation))
			if err != nil {
				return err
			}
			writeJSON(w, http.StatusOK, p)
			return nil
		}})
	s.handle(route{method: "GET", path: "/api/v1/installations/{id}", tag: "installations", access: signedIn, perm: actor.PermPluginRead,
		response: install.Installation{}, summary: "One installed plugin.",
		handler: func(w http.ResponseWriter, r *http.Request) error {
			inst, err := s.Installs.Get(r.Context(), s.actorOf(r), r.PathValue("id"))
			if err != nil {
				return err
			}
			writeJSON(w, http.StatusOK, inst)
			return nil
		}})
	s.handle(route{method: "PATCH", path: "/api/v1/installations/{id}", doc: routeDoc{errors: []int{409}}, tag: "installations", access: signedIn, perm: actor.PermPluginConfigure,
		request: install.UpdateInput{}, response: install.Installation{},
		summary: "Change config or gateways (plugin:configure), or grants or version — upgrade to another approved version (plugin:install). secrets replaces the named write-only secrets (null deletes one; plugin:configure).",
		handler: func(w http.ResponseWriter, r *http.Request) error {
			var in install.UpdateInput
			if err := decode(r, &in); err != nil {
				return err
			}
			inst, err := s.Installs.Update(r.Context(), s.actorOf(r), r.PathValue("id"), in)
			if err != nil {
				return err
			}
			writeJSON(w, http.StatusOK, inst)
			return nil
		}})
	s.handle(route{method: "DELETE", path: "/api/v1/installations/{id}", tag: "installations", access: signedIn, perm: actor.PermPluginInstall,
		response: messageResponse{}, summary: "Uninstall a plugin with its stored data and execution history.",
		handler: func(w http.ResponseWriter, r *http.Request) error {
			if err := s.Installs.Uninstall(r.Context(), s.actorOf(r), r.PathValue("id")); err != nil {
				return err
			}
			writeJSON(w, http.StatusOK, messageResponse{Message: "plugin uninstalled"})
			return nil
		}})
	for _, verb := range []string{"enable", "disable"} {
		enabled := verb == "enable"
		s.handle(route{method: "POST", path: "/api/v1/installations/{id}/" + verb, doc: routeDoc{errors: []int{409}}, tag: "installations", access: signedIn,
			perm: actor.PermPluginConfigure, response: install.Installation{},
			summary: map[bool]string{true: "Enable an installation.", false: "Disable an installation: it no longer executes."}[enabled],
			handler: func(w http.ResponseWriter, r *http.Request) error {
				inst, err := s.Installs.SetEnabled(r.Context(), s.actorOf(r), r.PathValue("id"), enabled)
				if err != nil {
					return err
				}
				writeJSON(w, http.StatusOK, inst)
				return nil
			}})
	}
	s.handle(route{method: "POST", path: "/api/v1/installations/{id}/execute", doc: routeDoc{errors: []int{402, 409},
		sameBody: map[int]string{http.StatusAccepted: "With async: true (or a run still under way), the queued execution; poll its history."}}, tag: "installations", access: signedIn, perm: actor.PermWorkflowExecute,
		request: install.ExecuteInput{}, response: install.Execution{}, idempotent: true,
		summary: "Run the plugin standalone: 200 with the finished execution, or with async:true 202 with the queued one (poll its history). A synchronous run waits up to 10 s for one of the plan's cpuCores slots, then answers 429 RATE_LIMITED with Retry-After.",
		handler: func(w http.ResponseWriter, r *http.Request) error {
			var in install.ExecuteInput
			if r.ContentLength != 0 {
				if err := decode(r, &in); err != nil {
					return err
				}
			}
			if in.IdempotencyKey == "" {
				in.IdempotencyKey = idempotencyKeyOf(r)
			}
			e, _, err := s.Installs.Execute(r.Context(), s.actorOf(r), r.PathValue("id"), in)
			if err != nil {
				return err
			}
			status := http.StatusOK
			if e.Status == install.Queued || e.Status == install.Running {
				status = http.StatusAccepted
			}
			writeJSON(w, status, e)
			return nil
		}})
	s.handle(route{method: "GET", path: "/api/v1/installations/{id}/executions", tag: "installations", access: signedIn, perm: actor.PermPluginRead,
		response: install.ExecutionPage{}, query: pageParams, summary: "The installation's executions with results and metrics, newest first.",
		handler: func(w http.ResponseWriter, r *http.Request) error {
			limit, err := queryInt(r, "limit", 1, 200)
			if err != nil {
				return err
			}
			cursor, err := idCursor(r, ids.PluginExecution)
			if err != nil {
				return err
			}
			p, err := s.Installs.Executions(r.Context(), s.actorOf(r), r.PathValue("id"), cursor, limit)
			if err != nil {
				return err
			}
			writeJSON(w, http.StatusOK, p)
			return nil
		}})
	s.handle(route{method: "GET", path: "/api/v1/installations/{id}/executions/{executionId}", tag: "installations", access: signedIn,
		perm: actor.PermPluginRead, response: install.Execution{}, summary: "One execution with its result, logs and metrics.",
		handler: func(w http.ResponseWriter, r *http.Request) error {
			e, err := s.Installs.Execution(r.Context(), s.actorOf(r), r.PathValue("id"), r.PathValue("executionId"))
			if err != nil {
				return err
			}
			writeJSON(w, http.StatusOK, e)
			return nil
		}})
}
