package httpapi

import (
	"errors"
	"io"
	"net/http"

	"github.com/switchboard/switchboard/internal/actor"
	"github.com/switchboard/switchboard/internal/apperr"
	"github.com/switchboard/switchboard/internal/gateway"
	"github.com/switchboard/switchboard/internal/gateway/channel"
	"github.com/switchboard/switchboard/internal/ids"
)

type gatewayChatRequest struct {
	// ChatID is where the test message goes; default config.defaultChatId.
	ChatID string `json:"chatId,omitempty"`
}

var gatewayListParams = append([]param{
	{"type", "TELEGRAM, DISCORD, SLACK, WHATSAPP or WEBHOOK."},
	{"status", "DISCONNECTED, CONNECTING, CONNECTED or ERROR."},
}, pageParams...)

var gatewayEventParams = append([]param{
	{"type", "gateway.message, gateway.command, gateway.member_joined, gateway.member_left or gateway.webhook."},
	{"status", "RECEIVED or PROCESSED."},
}, pageParams...)

func (s *Server) gatewayRoutes() {
	s.handle(route{method: "POST", path: "/api/v1/gateways", doc: routeDoc{errors: []int{402}}, tag: "gateways", access: signedIn, perm: actor.PermGatewayCreate,
		status: http.StatusCreated, request: gateway.CreateInput{}, response: gateway.Gateway{},
		summary: "Create a gateway (credentials are sealed and never returned), within the plan's gateway limit.",
		handler: func(w http.ResponseWriter, r *http.Request) error {
			var in gateway.CreateInput
			if err := decode(r, &in); err != nil {
				return err
			}
			g, err := s.Gateways.Create(r.Context(), s.actorOf(r), in)
			if err != nil {
				return err
			}
			writeJSON(w, http.StatusCreated, g)
			return nil
		}})
	s.handle(route{method: "GET", path: "/api/v1/gateways", tag: "gateways", access: signedIn, perm: actor.PermGatewayRead,
		response: gateway.Page{}, query: gatewayListParams,
		summary: "The workspace's gateways, newest first.",
		handler: func(w http.ResponseWriter, r *http.Request) error {
			limit, err := queryInt(r, "limit", 1, 200)
			if err != nil {
				return err
			}
			cursor, err := idCursor(r, ids.Gateway)
			if err != nil {
				return err
			}
			q := r.URL.Query()
			p, err := s.Gateways.List(r.Context(), s.actorOf(r), gateway.Filter{Type: channel.Type(q.Get("type")),
				Status: gateway.Status(q.Get("status")), Cursor: cursor, Limit: limit})
			if err != nil {
				return err
			}
			writeJSON(w, http.StatusOK, p)
			return nil
		}})
	s.handle(route{method: "GET", path: "/api/v1/gateways/{id}", tag: "gateways", access: signedIn, perm: actor.PermGatewayRead,
		response: gateway.Gateway{}, summary: "One gateway (without its credentials).",
		handler: func(w http.ResponseWriter, r *http.Request) error {
			g, err := s.Gateways.Get(r.Context(), s.actorOf(r), r.PathValue("id"))
			if err != nil {
				return err
			}
			writeJSON(w, http.StatusOK, g)
			return nil
		}})
	s.handle(route{method: "PATCH", path: "/api/v1/gateways/{id}", tag: "gateways", access: signedIn, perm: actor.PermGatewayUpdate,
		request: gateway.UpdateInput{}, response: gateway.Gateway{},
		summary: "Rename a gateway, replace its credentials (it must then be connected again) or its config.",
		handler: func(w http.ResponseWriter, r *http.Request) error {
			var in gateway.UpdateInput
			if err := decode(r, &in); err != nil {
				return err
			}
			g, err := s.Gateways.Update(r.Context(), s.actorOf(r), r.PathValue("id"), in)
			if err != nil {
				return err
			}
			writeJSON(w, http.StatusOK, g)
			return nil
		}})
	s.handle(route{method: "DELETE", path: "/api/v1/gateways/{id}", tag: "gateways", access: signedIn, perm: actor.PermGatewayDelete,
		response: messageResponse{}, summary: "Delete a gateway (its inbound webhook is unregistered where the provider allows).",
		handler: func(w http.ResponseWriter, r *http.Request) error {
			if err := s.Gateways.Delete(r.Context(), s.actorOf(r), r.PathValue("id")); err != nil {
				return err
			}
			writeJSON(w, http.StatusOK, messageResponse{Message: "gateway deleted"})
			return nil
		}})
	s.handle(route{method: "POST", path: "/api/v1/gateways/{id}/connect", tag: "gateways", access: signedIn, perm: actor.PermGatewayUpdate,
		response: gateway.Gateway{},
		summary:  "Verify the credentials with the provider and register the inbound webhook: status CONNECTED, or ERROR with lastError.",
		handler: func(w http.ResponseWriter, r *http.Request) error {
			g, err := s.Gateways.Connect(r.Context(), s.actorOf(r), r.PathValue("id"))
			if err != nil {
				return err
			}
			writeJSON(w, http.StatusOK, g)
			return nil
		}})
	s.handle(route{method: "POST", path: "/api/v1/gateways/{id}/disconnect", tag: "gateways", access: signedIn, perm: actor.PermGatewayUpdate,
		response: gateway.Gateway{}, summary: "Stop inbound delivery and mark the gateway DISCONNECTED.",
		handler: func(w http.ResponseWriter, r *http.Request) error {
			g, err := s.Gateways.Disconnect(r.Context(), s.actorOf(r), r.PathValue("id"))
			if err != nil {
				return err
			}
			writeJSON(w, http.StatusOK, g)
			return nil
		}})
	s.handle(route{method: "POST", path: "/api/v1/gateways/{id}/test", doc: routeDoc{errors: []int{409}}, tag: "gateways", access: signedIn, perm: actor.PermGatewayUpdate,
		request: gatewayChatRequest{}, response: gateway.TestResult{}, idempotent: true,
		summary: "Send a test message now and report whether the provider accepted it.",
		handler: func(w http.ResponseWriter, r *http.Request) error {
			var in gatewayChatRequest
			if r.ContentLength != 0 {
				if err := decode(r, &in); err != nil {
					return err
				}
			}
			res, err := s.Gateways.Test(r.Context(), s.actorOf(r), r.PathValue("id"), in.ChatID)
			if err != nil {
				return err
			}
			writeJSON(w, http.StatusOK, res)
			return nil
		}})
	s.handle(route{method: "POST", path: "/api/v1/gateways/{id}/send", doc: routeDoc{errors: []int{409}}, tag: "gateways", access: signedIn, perm: actor.PermGatewaySend,
		status: http.StatusAccepted, request: gateway.SendInput{}, response: gateway.SendRecord{}, idempotent: true,
		summary: "Queue a message; a job delivers it with retries. Poll GET …/sends/{sendId} for its status.",
		handler: func(w http.ResponseWriter, r *http.Request) error {
			var in gateway.SendInput
			if err := decode(r, &in); err != nil {
				return err
			}
			if in.IdempotencyKey == "" {
				in.IdempotencyKey = idempotencyKeyOf(r)
			}
			rec, err := s.Gateways.Send(r.Context(), s.actorOf(r), r.PathValue("id"), in)
			if err != nil {
				return err
			}
			writeJSON(w, http.StatusAccepted, rec)
			return nil
		}})
	s.handle(route{method: "GET", path: "/api/v1/gateways/{id}/sends/{sendId}", tag: "gateways", access: signedIn, perm: actor.PermGatewayRead,
		response: gateway.SendRecord{}, summary: "One outbound message and how its delivery went.",
		handler: func(w http.ResponseWriter, r *http.Request) error {
			rec, err := s.Gateways.GetSend(r.Context(), s.actorOf(r), r.PathValue("id"), r.PathValue("sendId"))
			if err != nil {
				return err
			}
			writeJSON(w, http.StatusOK, rec)
			return nil
		}})
	s.handle(route{method: "GET", path: "/api/v1/gateways/{id}/sends", tag: "gateways", access: signedIn, perm: actor.PermGatewayRead,
		response: gateway.SendPage{}, query: []param{{"status", "QUEUED, SENT or FAILED"}, {"since", "created at or after (RFC 3339)"},
			{"cursor", "nextCursor of the previous page"}, {"limit", "1–200 (default 50)"}},
		summary: "The gateway's outbound messages and their delivery state, newest first.", handler: s.gatewaySends})
	s.handle(route{method: "GET", path: "/api/v1/gateways/{id}/events", tag: "gateways", access: signedIn, perm: actor.PermGatewayRead,
		response: gateway.EventPage{}, query: gatewayEventParams, summary: "The gateway's inbound events, newest first.",
		handler: func(w http.ResponseWriter, r *http.Request) error {
			limit, err := queryInt(r, "limit", 1, 200)
			if err != nil {
				return err
			}
			cursor, err := idCursor(r, ids.GatewayEvent)
			if err != nil {
				return err
			}
			q := r.URL.Query()
			p, err := s.Gateways.ListEvents(r.Context(), s.actorOf(r), r.PathValue("id"), gateway.EventFilter{Type: q.Get("type"),
				Status: q.Get("status"), Cursor: cursor, Limit: limit})
			if err != nil {
				return err
			}
			writeJSON(w, http.StatusOK, p)
			return nil
		}})
	s.handle(route{method: "POST", path: "/api/v1/gateways/{id}/hook/rotate", tag: "gateways", access: signedIn, perm: actor.PermGatewayUpdate,
		response: gateway.HookRotation{},
		summary:  "Give the gateway a new inbound URL (the old one stops at once); re-registered with Telegram and Discord, to be pasted into the provider's console for Slack, WhatsApp and webhooks (registered: false and nextStep say so).",
		handler: func(w http.ResponseWriter, r *http.Request) error {
			g, err := s.Gateways.RotateHook(r.Context(), s.actorOf(r), r.PathValue("id"))
			if err != nil {
				return err
			}
			writeJSON(w, http.StatusOK, g)
			return nil
		}})
	for _, method := range []string{"POST", "GET"} {
		summary := "Inbound delivery from the provider, authenticated by the path token and the provider's signature."
		if method == "GET" {
			summary = "Provider verification handshake (WhatsApp hub.challenge)."
		}
		// 401: the provider's signature (or WhatsApp's verify token) is
		// missing or wrong.
		s.handle(route{method: method, path: "/hooks/gateways/{id}/{token}", doc: routeDoc{rawBody: true, errors: []int{401}}, tag: "gateways", summary: summary,
			handler: s.inbound})
	}
}

// inbound serves a provider's delivery: the raw body (capped by the body
// limit) is authenticated and stored before the answer.
func (s *Server) inbound(w http.ResponseWriter, r *http.Request) error {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if ok := asMaxBytes(err, &mbe); ok {
			return apperr.New(apperr.PayloadTooLarge, "request body exceeds %d bytes", mbe.Limit)
		}
		return apperr.New(apperr.Validation, "cannot read request body")
	}
	if err := checkRawBody(r, body); err != nil {
		return err
	}
	res, err := s.Gateways.Inbound(r.Context(), r.PathValue("id"), r.PathValue("token"), channel.Request{
		Method: r.Method, Header: r.Header, Query: r.URL.Query(), Body: body})
	if err != nil {
		return err
	}
	if rep := res.Reply; rep != nil {
		w.Header().Set("Content-Type", rep.ContentType)
		w.WriteHeader(rep.Status)
		_, err := w.Write(rep.Body)
		return err
	}
	writeJSON(w, http.StatusOK, map[string]int{"stored": res.Stored, "duplicates": res.Duplicates})
	return nil
}

func asMaxBytes(err error, target **http.MaxBytesError) bool { return errors.As(err, target) }
