package stripefake

// The endpoints the fake serves, each checking its parameters as Stripe
// documents them.

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

func (s *Server) get(kind, id string) (map[string]any, *apiError) {
	o := s.objects[id]
	if o == nil || o["object"] != kind {
		return nil, &apiError{status: http.StatusNotFound, typ: "invalid_request_error", code: "resource_missing", param: "id",
			msg: fmt.Sprintf("No such %s: '%s'", strings.ReplaceAll(kind, "_", ""), id)}
	}
	return o, nil
}

func (s *Server) createCustomer(in map[string]any) (map[string]any, *apiError) {
	if e := only(in, "", "email", "name", "description", "metadata", "expand"); e != nil {
		return nil, e
	}
	id := s.newID("cus")
	out := map[string]any{"id": id, "object": "customer", "email": nilIfEmpty(str(in, "email")), "metadata": sub(in, "metadata"),
		"invoice_settings": map[string]any{"default_payment_method": nil, "custom_fields": nil, "footer": nil},
		"created":          time.Now().Unix(), "livemode": false}
	s.objects[id] = out
	return out, nil
}

// updateCustomer takes invoice_settings[default_payment_method] only for a
// payment method attached to the customer, as Stripe does.
func (s *Server) updateCustomer(id string, in map[string]any) (map[string]any, *apiError) {
	c, e := s.get("customer", id)
	if e != nil {
		return nil, e
	}
	if e := only(in, "", "email", "name", "description", "metadata", "invoice_settings", "expand"); e != nil {
		return nil, e
	}
	if is, ok := in["invoice_settings"].(map[string]any); ok {
		if e := only(is, "invoice_settings", "default_payment_method", "custom_fields", "footer"); e != nil {
			return nil, e
		}
		if pm, set := is["default_payment_method"]; set {
			pmID, _ := pm.(string)
			if o := s.objects[pmID]; pmID != "" && (o == nil || o["object"] != "payment_method" || o["customer"] != id) {
				return nil, invalid("resource_missing", "invoice_settings[default_payment_method]",
					"The customer does not have a payment method with the ID %s. The payment method must be attached to the customer.", pmID)
			}
			sub(c, "invoice_settings")["default_payment_method"] = nilIfEmpty(pmID)
		}
	}
	if v, ok := in["email"].(string); ok {
		c["email"] = v
	}
	for k, v := range sub(in, "metadata") {
		sub(c, "metadata")[k] = v
	}
	return c, nil
}

func (s *Server) createCheckout(in map[string]any) (map[string]any, *apiError) {
	if e := only(in, "", "mode", "customer", "customer_email", "customer_creation", "client_reference_id", "metadata", "success_url",
		"cancel_url", "line_items", "payment_intent_data", "subscription_data", "payment_method_types", "allow_promotion_codes", "expand"); e != nil {
		return nil, e
	}
	mode := str(in, "mode")
	switch mode {
	case "":
		return nil, missing("mode")
	case "payment", "subscription", "setup":
	default:
		return nil, invalid("", "mode", "Invalid mode: must be one of payment, setup, or subscription")
	}
	if str(in, "success_url") == "" {
		return nil, missing("success_url")
	}
	cust := str(in, "customer")
	if cust != "" && s.objects[cust] == nil {
		return nil, invalid("resource_missing", "customer", "No such customer: '%s'", cust)
	}
	if _, ok := in["customer_creation"]; ok && (cust != "" || mode != "payment") {
		return nil, invalid("", "customer_creation", "customer_creation can only be used in payment mode and without customer.")
	}
	if _, ok := in["payment_intent_data"]; ok && mode != "payment" {
		return nil, invalid("", "payment_intent_data", "You can not pass `payment_intent_data` in `%s` mode.", mode)
	}
	if _, ok := in["subscription_data"]; ok && mode != "subscription" {
		return nil, invalid("", "subscription_data", "You can not pass `subscription_data` in `%s` mode.", mode)
	}
	pid := sub(in, "payment_intent_data")
	if e := only(pid, "payment_intent_data", "setup_future_usage", "metadata", "description", "capture_method", "receipt_email"); e != nil {
		return nil, e
	}
	sfu := str(pid, "setup_future_usage")
	if sfu != "" && sfu != "on_session" && sfu != "off_session" {
		return nil, invalid("", "payment_intent_data[setup_future_usage]", "Invalid payment_intent_data[setup_future_usage]: must be one of on_session or off_session")
	}
	total, lines, e := lineItemsTotal(in, mode)
	if e != nil {
		return nil, e
	}
	id := s.newID("cs")
	// The URL is the fake's own checkout page (pages.go), as Stripe's is
	// its hosted one.
	out := map[string]any{"id": id, "object": "checkout.session", "mode": mode, "customer": nilIfEmpty(cust),
		"client_reference_id": nilIfEmpty(str(in, "client_reference_id")), "metadata": sub(in, "metadata"), "amount_total": total,
		"currency": "usd", "payment_status": "unpaid", "status": "open", "payment_intent": nil, "subscription": nil,
		"url": s.URL + "/c/pay/" + id, "success_url": str(in, "success_url"), "cancel_url": nilIfEmpty(str(in, "cancel_url")), "livemode": false}
	s.objects[id] = out
	s.checkouts[id] = checkoutExtra{setupFutureUsage: sfu, piMetadata: sub(pid, "metadata"), lines: lines,
		subscriptionMetadata: sub(sub(in, "subscription_data"), "metadata")}
	return out, nil
}

// lineItemsTotal checks the line items and returns the total of those
// priced inline, and each item as the checkout page lists it.
func lineItemsTotal(in map[string]any, mode string) (int64, []lineItem, *apiError) {
	items := sub(in, "line_items")
	if len(items) == 0 && mode != "setup" {
		return 0, nil, missing("line_items")
	}
	total := int64(0)
	var lines []lineItem
	for i := 0; i < len(items); i++ {
		item, ok := items[strconv.Itoa(i)].(map[string]any)
		name := fmt.Sprintf("line_items[%d]", i)
		if !ok {
			return 0, nil, invalid("", "line_items", "Invalid array")
		}
		if e := only(item, name, "price", "price_data", "quantity"); e != nil {
			return 0, nil, e
		}
		q, err := strconv.ParseInt(str(item, "quantity"), 10, 64)
		if err != nil || q < 1 {
			return 0, nil, missing(name + "[quantity]")
		}
		if price := str(item, "price"); price != "" {
			lines = append(lines, lineItem{Name: price, Price: price, Quantity: q})
			continue
		}
		pd, ok := item["price_data"].(map[string]any)
		if !ok {
			return 0, nil, invalid("", name, "You must specify either `price` or `price_data` for each line item.")
		}
		if str(pd, "currency") == "" {
			return 0, nil, missing(name + "[price_data][currency]")
		}
		amt, err := strconv.ParseInt(str(pd, "unit_amount"), 10, 64)
		if err != nil || amt < 0 {
			return 0, nil, missing(name + "[price_data][unit_amount]")
		}
		product := str(sub(pd, "product_data"), "name")
		if product == "" && str(pd, "product") == "" {
			return 0, nil, missing(name + "[price_data][product_data][name]")
		}
		if product == "" {
			product = str(pd, "product")
		}
		lines = append(lines, lineItem{Name: product, Quantity: q, UnitAmount: amt, Currency: str(pd, "currency")})
		total += q * amt
	}
	return total, lines, nil
}

func (s *Server) createPortal(in map[string]any) (map[string]any, *apiError) {
	if e := only(in, "", "customer", "return_url", "configuration", "expand"); e != nil {
		return nil, e
	}
	cust := str(in, "customer")
	if cust == "" {
		return nil, missing("customer")
	}
	if s.objects[cust] == nil {
		return nil, invalid("resource_missing", "customer", "No such customer: '%s'", cust)
	}
	id := s.newID("bps")
	out := map[string]any{"id": id, "object": "billing_portal.session", "customer": cust,
		"url": s.URL + "/p/session/" + id, "return_url": str(in, "return_url"), "livemode": false}
	s.objects[id] = out
	return out, nil
}

// createPaymentIntent follows Stripe's rules for an immediate charge: a
// confirmed intent needs a payment method, and one confirmed off-session
// for a customer needs a payment method attached to that customer.
func (s *Server) createPaymentIntent(in map[string]any) (map[string]any, *apiError) {
	if e := only(in, "", "amount", "currency", "customer", "payment_method", "off_session", "confirm", "metadata", "description",
		"setup_future_usage", "payment_method_types", "receipt_email", "error_on_requires_action", "statement_descriptor_suffix", "expand"); e != nil {
		return nil, e
	}
	amount, err := strconv.ParseInt(str(in, "amount"), 10, 64)
	if err != nil || amount < 1 {
		return nil, missing("amount")
	}
	if str(in, "currency") == "" {
		return nil, missing("currency")
	}
	cust, pm := str(in, "customer"), str(in, "payment_method")
	if cust != "" {
		if c := s.objects[cust]; c == nil || c["object"] != "customer" {
			return nil, invalid("resource_missing", "customer", "No such customer: '%s'", cust)
		}
	}
	confirm, offSession := str(in, "confirm") == "true", str(in, "off_session") == "true"
	if _, set := in["off_session"]; set && !confirm {
		return nil, invalid("", "off_session", "off_session can only be used when confirm=true.")
	}
	if pm != "" {
		o := s.objects[pm]
		if o == nil || o["object"] != "payment_method" {
			return nil, invalid("resource_missing", "payment_method", "No such PaymentMethod: '%s'", pm)
		}
		if owner, _ := o["customer"].(string); (cust != "" || offSession) && owner != cust {
			return nil, invalid("", "payment_method",
				"The provided PaymentMethod was previously used with a PaymentIntent without Customer attachment, shared with a connected account without Customer attachment, or was detached from a Customer. It may not be used again. To use a PaymentMethod multiple times, you must attach it to a Customer first.")
		}
	}
	if confirm && pm == "" {
		return nil, invalid("payment_intent_unexpected_state", "",
			"You cannot confirm this PaymentIntent because it's missing a payment method. To confirm the PaymentIntent with %s, specify a payment method attached to this customer along with the customer ID.", cust)
	}
	if confirm && s.declineNext {
		s.declineNext = false
		return nil, &apiError{status: http.StatusPaymentRequired, typ: "card_error", code: "card_declined", param: "", msg: "Your card was declined."}
	}
	status, received := "requires_payment_method", int64(0)
	switch {
	case confirm:
		status, received = "succeeded", amount
	case pm != "":
		status = "requires_confirmation"
	}
	id := s.newID("pi")
	out := map[string]any{"id": id, "object": "payment_intent", "amount": amount, "amount_received": received, "currency": str(in, "currency"),
		"customer": nilIfEmpty(cust), "payment_method": nilIfEmpty(pm), "status": status,
		"metadata": sub(in, "metadata"), "created": time.Now().Unix(), "livemode": false}
	s.objects[id] = out
	return out, nil
}

func (s *Server) updateSubscription(id string, in map[string]any) (map[string]any, *apiError) {
	out, e := s.get("subscription", id)
	if e != nil {
		return nil, e
	}
	if e := only(in, "", "items", "proration_behavior", "metadata", "cancel_at_period_end", "expand"); e != nil {
		return nil, e
	}
	if first := sub(sub(in, "items"), "0"); str(first, "price") != "" {
		data := out["items"].(map[string]any)["data"].([]any)
		item := data[0].(map[string]any)
		if str(first, "id") != "" && str(first, "id") != str(item, "id") {
			return nil, invalid("resource_missing", "items[0][id]", "No such subscription item: '%s'", str(first, "id"))
		}
		item["price"] = map[string]any{"id": str(first, "price"), "object": "price"}
	}
	for k, v := range sub(in, "metadata") {
		out["metadata"].(map[string]any)[k] = v
	}
	return out, nil
}
