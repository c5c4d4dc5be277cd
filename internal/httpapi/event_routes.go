package httpapi

import (
	"net/http"

	"github.com/switchboard/switchboard/internal/actor"
	"github.com/switchboard/switchboard/internal/events"
	"github.com/switchboard/switchboard/internal/ids"
)

var deliveryListParams = append([]param{
	{"status", "pending, succeeded or failed."},
	{"eventType", "run.failed, run.completed, gateway.error, credits.low, plan.changed or event.test."},
}, pageParams...)

// prefixedCursor accepts as a cursor an id with the given prefix.
func prefixedCursor(r *http.Request, prefix string) (string, error) {
	return cursorParam(r, func(c string) bool { return ids.Valid(prefix, c) })
}

func (s *Server) eventRoutes() {
	s.hookSecretRoutes()
	if s.Events == nil {
		return
	}
	const base = "/api/v1/event-subscriptions"
	one := func(w http.ResponseWriter, status int, v any) error {
		writeJSON(w, status, v)
		return nil
	}
	s.handle(route{method: "POST", path: base, doc: routeDoc{errors: []int{402}}, tag: "events", access: signedIn, perm: actor.PermEventsManage,
		status: http.StatusCreated, request: events.CreateInput{}, response: events.WithSecret{},
		summary: "Subscribe a URL to events; the answer holds the signing secret (whsec_…), shown only this once.",
		handler: func(w http.ResponseWriter, r *http.Request) error {
			var in events.CreateInput
			if err := decode(r, &in); err != nil {
				return err
			}
			sub, err := s.Events.Create(r.Context(), s.actorOf(r), in)
			if err != nil {
				return err
			}
			return one(w, http.StatusCreated, sub)
		}})
	s.handle(route{method: "GET", path: base, tag: "events", access: signedIn, perm: actor.PermEventsManage,
		response: events.Page{}, query: pageParams, summary: "The workspace's event subscriptions, newest first (never their secrets).",
		handler: func(w http.ResponseWriter, r *http.Request) error {
			limit, err := queryInt(r, "limit", 1, 200)
			if err != nil {
				return err
			}
			cursor, err := prefixedCursor(r, events.SubscriptionPrefix)
			if err != nil {
				return err
			}
			p, err := s.Events.List(r.Context(), s.actorOf(r), cursor, limit)
			if err != nil {
				return err
			}
			return one(w, http.StatusOK, p)
		}})
	s.handle(route{method: "GET", path: base + "/{id}", tag: "events", access: signedIn, perm: actor.PermEventsManage,
		response: events.Subscription{}, summary: "One event subscription.",
		handler: func(w http.ResponseWriter, r *http.Request) error {
			sub, err := s.Events.Get(r.Context(), s.actorOf(r), r.PathValue("id"))
			if err != nil {
				return err
			}
			return one(w, http.StatusOK, sub)
		}})
	s.handle(route{method: "PATCH", path: base + "/{id}", tag: "events", access: signedIn, perm: actor.PermEventsManage,
		request: events.UpdateInput{}, response: events.Subscription{},
		summary: "Change a subscription's URL, events, description or enabled flag.",
		handler: func(w http.ResponseWriter, r *http.Request) error {
			var in events.UpdateInput
			if err := decode(r, &in); err != nil {
				return err
			}
			sub, err := s.Events.Update(r.Context(), s.actorOf(r), r.PathValue("id"), in)
			if err != nil {
				return err
			}
			return one(w, http.StatusOK, sub)
		}})
	s.handle(route{method: "DELETE", path: base + "/{id}", tag: "events", access: signedIn, perm: actor.PermEventsManage,
		response: messageResponse{}, summary: "Delete a subscription with its deliveries and their log.",
		handler: func(w http.ResponseWriter, r *http.Request) error {
			if err := s.Events.Delete(r.Context(), s.actorOf(r), r.PathValue("id")); err != nil {
				return err
			}
			return one(w, http.StatusOK, messageResponse{Message: "event subscription deleted"})
		}})
	s.handle(route{method: "POST", path: base + "/{id}/rotate-secret", tag: "events", access: signedIn, perm: actor.PermEventsManage,
		response: events.WithSecret{}, summary: "Replace the signing secret; the new one is shown only this once and signs every attempt from now on.",
		handler: func(w http.ResponseWriter, r *http.Request) error {
			sub, err := s.Events.RotateSecret(r.Context(), s.actorOf(r), r.PathValue("id"))
			if err != nil {
				return err
			}
			return one(w, http.StatusOK, sub)
		}})
	s.handle(route{method: "POST", path: base + "/{id}/test", doc: routeDoc{errors: []int{409}}, tag: "events", access: signedIn,
		perm: actor.PermEventsManage, status: http.StatusAccepted, response: events.Delivery{}, idempotent: true,
		summary: "Queue an event.test delivery to this subscription.",
		handler: func(w http.ResponseWriter, r *http.Request) error {
			d, err := s.Events.SendTest(r.Context(), s.actorOf(r), r.PathValue("id"))
			if err != nil {
				return err
			}
			return one(w, http.StatusAccepted, d)
		}})
	s.handle(route{method: "GET", path: base + "/{id}/deliveries", tag: "events", access: signedIn, perm: actor.PermEventsManage,
		response: events.DeliveryPage{}, query: deliveryListParams, summary: "A subscription's deliveries, newest first.",
		handler: func(w http.ResponseWriter, r *http.Request) error {
			limit, err := queryInt(r, "limit", 1, 200)
			if err != nil {
				return err
			}
			cursor, err := prefixedCursor(r, events.DeliveryPrefix)
			if err != nil {
				return err
			}
			q := r.URL.Query()
			p, err := s.Events.Deliveries(r.Context(), s.actorOf(r), r.PathValue("id"),
				events.DeliveryFilter{Status: q.Get("status"), EventType: q.Get("eventType"), Cursor: cursor, Limit: limit})
			if err != nil {
				return err
			}
			return one(w, http.StatusOK, p)
		}})
	s.handle(route{method: "GET", path: base + "/{id}/deliveries/{deliveryId}", tag: "events", access: signedIn, perm: actor.PermEventsManage,
		response: events.Delivery{}, summary: "One delivery with its log: every attempt's status code, response snippet, error and next attempt.",
		handler: func(w http.ResponseWriter, r *http.Request) error {
			d, err := s.Events.Delivery(r.Context(), s.actorOf(r), r.PathValue("id"), r.PathValue("deliveryId"))
			if err != nil {
				return err
			}
			return one(w, http.StatusOK, d)
		}})
	s.handle(route{method: "POST", path: base + "/{id}/deliveries/{deliveryId}/redeliver", doc: routeDoc{errors: []int{409}}, tag: "events",
		access: signedIn, perm: actor.PermEventsManage, status: http.StatusAccepted, response: events.Delivery{}, idempotent: true,
		summary: "Send a finished delivery again (same webhook-id and body, a fresh schedule of attempts); 409 while it is pending.",
		handler: func(w http.ResponseWriter, r *http.Request) error {
			d, err := s.Events.Redeliver(r.Context(), s.actorOf(r), r.PathValue("id"), r.PathValue("deliveryId"))
			if err != nil {
				return err
			}
			return one(w, http.StatusAccepted, d)
		}})
}
