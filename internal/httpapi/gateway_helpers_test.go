package httpapi_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/switchboard/switchboard/internal/app/apptest"
	"github.com/switchboard/switchboard/internal/config"
	"github.com/switchboard/switchboard/internal/gateway"
)

// gatewayNode starts a node whose outbound client may reach the given
// local fakes (an operator allow-list, as a private deployment would set)
// and whose send retries are quick.
func gatewayNode(t *testing.T, url string, allow []string, opts ...apptest.Option) *apptest.Harness {
	t.Helper()
	appOpt := apptest.FastHashing
	appOpt.Gateway = gateway.Options{RetryBase: 20 * time.Millisecond, RetryMax: 200 * time.Millisecond, AuthFailuresBeforeError: 2}
	opts = append([]apptest.Option{func(c *config.Config) { c.Gateway.OutboundAllow = allow }}, opts...)
	return apptest.StartWith(t, url, appOpt, opts...)
}

// gw is a gateway as the API returns it.
type gw struct {
	ID, Type, Name, Status, InboundURL, LastError string
	LastErrorAt                                   *time.Time
	Identity                                      *struct{ ID, Name string }
}

func createGateway(t *testing.T, h *apptest.Harness, token string, body map[string]any) gw {
	t.Helper()
	var g gw
	h.Call(http.StatusCreated, "POST", "/api/v1/gateways", token, body).Data(t, &g)
	return g
}

func connectGateway(t *testing.T, h *apptest.Harness, token, id string) gw {
	t.Helper()
	var g gw
	h.Call(http.StatusOK, "POST", "/api/v1/gateways/"+id+"/connect", token, nil).Data(t, &g)
	return g
}

func getGateway(t *testing.T, h *apptest.Harness, token, id string) gw {
	t.Helper()
	var g gw
	h.Call(http.StatusOK, "GET", "/api/v1/gateways/"+id, token, nil).Data(t, &g)
	return g
}

// hookPath is the path part of a gateway's inbound URL.
func hookPath(g gw) string {
	i := strings.Index(g.InboundURL, "/hooks/")
	return g.InboundURL[i:]
}

type eventItem struct {
	ID, WorkspaceID, Type, Status string
	Payload                       struct {
		GatewayID, ProviderEventID, ChatID, Text, Command, Args, UserID string
		Fields                                                          map[string]string
	}
}

func listEvents(t *testing.T, h *apptest.Harness, token, id string) []eventItem {
	t.Helper()
	var p struct{ Items []eventItem }
	h.Call(http.StatusOK, "GET", "/api/v1/gateways/"+id+"/events", token, nil).Data(t, &p)
	return p.Items
}

type sendRec struct {
	ID, Status, LastError, ProviderMessageID string
	Attempts                                 int
}

// waitSend polls a send until it leaves QUEUED (or fails the test).
func waitSend(t *testing.T, h *apptest.Harness, token, gwID, sendID string) sendRec {
	t.Helper()
	deadline := time.Now().Add(40 * time.Second)
	for {
		var s sendRec
		h.Call(http.StatusOK, "GET", "/api/v1/gateways/"+gwID+"/sends/"+sendID, token, nil).Data(t, &s)
		if s.Status != "QUEUED" {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("send %s still QUEUED after 40s: %+v", sendID, s)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func sendMessage(t *testing.T, h *apptest.Harness, token, gwID, chatID, text string) sendRec {
	t.Helper()
	var s sendRec
	h.Call(http.StatusAccepted, "POST", "/api/v1/gateways/"+gwID+"/send", token, map[string]string{"chatId": chatID, "text": text}).Data(t, &s)
	return waitSend(t, h, token, gwID, s.ID)
}

// waitProcessed polls until every event of the gateway is PROCESSED.
func waitProcessed(t *testing.T, h *apptest.Harness, token, gwID string) []eventItem {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		evs := listEvents(t, h, token, gwID)
		done := true
		for _, e := range evs {
			done = done && e.Status == "PROCESSED"
		}
		if done {
			return evs
		}
		if time.Now().After(deadline) {
			t.Fatalf("events not processed: %+v", evs)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
