package stripefake

// The pages a customer sees: Stripe's hosted Checkout and customer portal,
// cut down to what a browser test needs. A Checkout Session's url opens a
// page that shows what is bought with a "Pay" button and a cancel link;
// paying completes the session as Stripe does, sends the events Stripe
// sends, signed, to the endpoint given to SendWebhooksTo, and redirects to
// the session's success_url. A portal session's url opens a page that lists
// the customer's subscriptions and links back to its return_url.

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"html/template"
	"net/http"
	"sort"
	"strings"
	"time"
)

// Delivery is one event the checkout page caused, and how its webhook
// delivery went.
type Delivery struct {
	EventID, Type string
	Payload       []byte
	// Status is the endpoint's HTTP status; 0 when the event was not sent
	// (no endpoint set) or the request failed (Err says why).
	Status int
	Err    string
}

// SendWebhooksTo makes the checkout page deliver the events it causes to
// url (a server's /hooks/stripe), signed with secret as Stripe signs them.
// Without it the events are only kept (Deliveries).
func (s *Server) SendWebhooksTo(url, secret string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.webhookURL, s.webhookSecret = url, secret
}

// Deliveries lists the events the checkout page caused, oldest first.
func (s *Server) Deliveries() []Delivery {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Delivery(nil), s.events...)
}

// Sign returns the Stripe-Signature header Stripe sends with payload at t:
// "t=<unix>,v1=<hex HMAC-SHA256 of "t.payload" under secret>".
func Sign(payload []byte, secret string, t time.Time) string {
	mac := hmac.New(sha256.New, []byte(secret))
	fmt.Fprintf(mac, "%d.", t.Unix())
	mac.Write(payload)
	return fmt.Sprintf("t=%d,v1=%s", t.Unix(), hex.EncodeToString(mac.Sum(nil)))
}

// page serves the customer-facing pages; it reports whether path was one.
func (s *Server) page(w http.ResponseWriter, r *http.Request, path string) bool {
	if id, ok := strings.CutPrefix(path, "/c/pay/"); ok {
		s.checkoutPage(w, r, id)
		return true
	}
	if id, ok := strings.CutPrefix(path, "/p/session/"); ok {
		s.portalPage(w, r, id)
		return true
	}
	return false
}

var pageTmpl = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,"><title>{{.Title}} · Stripe test fake</title></head>
<body><main>
<p>Stripe test fake: no money moves.</p>
<h1>{{.Title}}</h1>
{{if .Error}}<p role="alert" id="error">{{.Error}}</p>{{end}}
{{range .Lines}}<p class="line">{{.}}</p>{{end}}
{{if .Total}}<p id="total">Total: {{.Total}}</p>{{end}}
{{if .PayAction}}<form method="post" action="{{.PayAction}}"><button type="submit" id="pay">Pay</button></form>{{end}}
{{if .BackURL}}<p><a id="back" href="{{.BackURL}}">{{.BackLabel}}</a></p>{{end}}
</main></body></html>
`))

type pageData struct {
	Title, Error, Total, PayAction, BackURL, BackLabel string
	Lines                                              []string
}

func renderPage(w http.ResponseWriter, status int, d pageData) {
	var buf bytes.Buffer
	if err := pageTmpl.Execute(&buf, d); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

func money(cents int64, currency string) string {
	return fmt.Sprintf("%d.%02d %s", cents/100, cents%100, strings.ToUpper(currency))
}

func (s *Server) checkoutPage(w http.ResponseWriter, r *http.Request, id string) {
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		s.showCheckout(w, id)
	case http.MethodPost:
		s.payCheckout(w, r, id)
	default:
		w.Header().Set("Allow", "GET, HEAD, POST")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	}
}

func (s *Server) showCheckout(w http.ResponseWriter, id string) {
	s.mu.Lock()
	cs := s.objects[id]
	if cs == nil || cs["object"] != "checkout.session" {
		s.mu.Unlock()
		renderPage(w, http.StatusNotFound, pageData{Title: "Checkout", Error: "No such Checkout Session."})
		return
	}
	d := pageData{Title: "Checkout", BackURL: str(cs, "cancel_url"), BackLabel: "Cancel and go back"}
	for _, l := range s.checkouts[id].lines {
		line := fmt.Sprintf("%d × %s", l.Quantity, l.Name)
		if l.Price == "" {
			line += " at " + money(l.UnitAmount, l.Currency)
		}
		d.Lines = append(d.Lines, line)
	}
	if cs["mode"] == "subscription" {
		d.Title = "Subscribe"
	} else if total, ok := cs["amount_total"].(int64); ok {
		d.Total = money(total, str(cs, "currency"))
	}
	if cs["status"] == "open" {
		d.PayAction = s.prefix + "/c/pay/" + id
	} else {
		d.Error = "This Checkout Session is " + str(cs, "status") + "."
	}
	s.mu.Unlock()
	renderPage(w, http.StatusOK, d)
}

// payCheckout plays the customer paying: the session completes, its
// events go to the webhook endpoint in the order Stripe usually sends them,
// and the browser goes to the success URL. A delivery the endpoint refuses
// shows as an error page instead, so a test sees it.
func (s *Server) payCheckout(w http.ResponseWriter, r *http.Request, id string) {
	s.mu.Lock()
	evs, success, err := s.completeForPage(id)
	url, secret := s.webhookURL, s.webhookSecret
	s.mu.Unlock()
	if err != nil {
		renderPage(w, http.StatusBadRequest, pageData{Title: "Checkout", Error: err.Error()})
		return
	}
	var failed []string
	for _, ev := range evs {
		d := s.deliver(r, url, secret, ev)
		s.mu.Lock()
		s.events = append(s.events, d)
		s.mu.Unlock()
		if url != "" && (d.Err != "" || d.Status < 200 || d.Status > 299) {
			failed = append(failed, fmt.Sprintf("%s %s: status %d %s", d.Type, d.EventID, d.Status, d.Err))
		}
	}
	if len(failed) > 0 {
		renderPage(w, http.StatusBadGateway, pageData{Title: "Checkout", Error: "The webhook endpoint refused: " + strings.Join(failed, "; "),
			BackURL: success, BackLabel: "Continue"})
		return
	}
	http.Redirect(w, r, success, http.StatusSeeOther)
}

type event struct {
	id, typ string
	payload []byte
}

// completeForPage completes an open session (s.mu held) and returns the
// events Stripe would send and where the customer goes next.
func (s *Server) completeForPage(id string) ([]event, string, error) {
	cs := s.objects[id]
	if cs == nil || cs["object"] != "checkout.session" {
		return nil, "", fmt.Errorf("no such Checkout Session")
	}
	if cs["status"] != "open" {
		return nil, "", fmt.Errorf("this Checkout Session is %s", str(cs, "status"))
	}
	now := time.Now()
	var evs []event
	add := func(typ string, obj map[string]any) {
		evID := s.newID("evt")
		evs = append(evs, event{id: evID, typ: typ, payload: Event(evID, typ, now, obj)})
	}
	switch cs["mode"] {
	case "payment":
		done, err := s.completePayment(id)
		if err != nil {
			return nil, "", err
		}
		add("checkout.session.completed", done)
	case "subscription":
		extra := s.checkouts[id]
		if len(extra.lines) == 0 || extra.lines[0].Price == "" {
			return nil, "", fmt.Errorf("a subscription checkout here needs a line item with a price id")
		}
		cust := str(cs, "customer")
		if cust == "" {
			c, _ := s.createCustomer(map[string]any{})
			cust = c["id"].(string)
			cs["customer"] = cust
		}
		sub := s.addSubscription(cust, extra.lines[0].Price, clone(extra.subscriptionMetadata))
		cs["status"], cs["payment_status"], cs["subscription"] = "complete", "paid", sub["id"]
		add("customer.subscription.created", sub)
		add("checkout.session.completed", clone(cs))
	default:
		return nil, "", fmt.Errorf("only payment and subscription sessions are paid here")
	}
	return evs, strings.ReplaceAll(str(cs, "success_url"), "{CHECKOUT_SESSION_ID}", id), nil
}

var webhookClient = &http.Client{Timeout: 30 * time.Second}

func (s *Server) deliver(r *http.Request, url, secret string, ev event) Delivery {
	d := Delivery{EventID: ev.id, Type: ev.typ, Payload: ev.payload}
	if url == "" {
		return d
	}
	req, err := http.NewRequestWithContext(r.Context(), http.MethodPost, url, bytes.NewReader(ev.payload))
	if err != nil {
		d.Err = err.Error()
		return d
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set("User-Agent", "Stripe/1.0 (+https://stripe.com/docs/webhooks)")
	req.Header.Set("Stripe-Signature", Sign(ev.payload, secret, time.Now()))
	res, err := webhookClient.Do(req)
	if err != nil {
		d.Err = err.Error()
		return d
	}
	defer res.Body.Close()
	d.Status = res.StatusCode
	return d
}

func (s *Server) portalPage(w http.ResponseWriter, r *http.Request, id string) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	s.mu.Lock()
	ps := s.objects[id]
	if ps == nil || ps["object"] != "billing_portal.session" {
		s.mu.Unlock()
		renderPage(w, http.StatusNotFound, pageData{Title: "Customer portal", Error: "No such portal session."})
		return
	}
	d := pageData{Title: "Customer portal", BackURL: str(ps, "return_url"), BackLabel: "Return"}
	cust := str(ps, "customer")
	for _, o := range s.objects {
		if o["object"] == "subscription" && o["customer"] == cust {
			price := ""
			if items, ok := o["items"].(map[string]any); ok {
				if data, ok := items["data"].([]any); ok && len(data) > 0 {
					price = str(sub(data[0].(map[string]any), "price"), "id")
				}
			}
			d.Lines = append(d.Lines, fmt.Sprintf("Subscription %s: %s, %s", str(o, "id"), price, str(o, "status")))
		}
	}
	sort.Strings(d.Lines)
	if len(d.Lines) == 0 {
		d.Lines = []string{"No subscriptions."}
	}
	s.mu.Unlock()
	renderPage(w, http.StatusOK, d)
}
