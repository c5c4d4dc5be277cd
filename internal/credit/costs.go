package credit

import (
	"fmt"
	"sort"

	"github.com/switchboard/switchboard/internal/apperr"
)

// Cost is the price of one action: Millicredits per Per units of it.
type Cost struct {
	Action       string `json:"action"`
	Description  string `json:"description"`
	Unit         string `json:"unit"`
	Per          int64  `json:"per"`
	Millicredits int64  `json:"millicredits"`
}

// CreditCosts is the CREDIT_COSTS table: what each metered action costs. It
// is data, shown at GET /api/v1/credits/costs; change it here and every
// estimate and overage charge follows. AI prices are per 1,000 tokens.
var CreditCosts = []Cost{
	{Action: "ai.gpt-4o-mini", Description: "AI completion, gpt-4o-mini", Unit: "token", Per: 1000, Millicredits: 200},
	{Action: "ai.gpt-4o", Description: "AI completion, gpt-4o", Unit: "token", Per: 1000, Millicredits: 5000},
	{Action: "ai.claude-haiku", Description: "AI completion, Claude Haiku", Unit: "token", Per: 1000, Millicredits: 400},
	{Action: "ai.claude-sonnet", Description: "AI completion, Claude Sonnet", Unit: "token", Per: 1000, Millicredits: 6000},
	{Action: "overage.executions", Description: "Workflow executions beyond the plan's daily limit", Unit: "execution", Per: 10, Millicredits: 100},
	{Action: "overage.aiTokens", Description: "AI tokens beyond the plan's monthly allowance", Unit: "token", Per: 1000, Millicredits: 200},
	{Action: "storage.gbMonth", Description: "Storage beyond the plan, per GB and month", Unit: "GB-month", Per: 1, Millicredits: 2000},
	{Action: "queue.priority", Description: "Priority queue, per execution", Unit: "execution", Per: 1, Millicredits: 50},
}

var costIndex = func() map[string]Cost {
	m := make(map[string]Cost, len(CreditCosts))
	for _, c := range CreditCosts {
		m[c.Action] = c
	}
	return m
}()

// Costs returns the CREDIT_COSTS table sorted by action.
func Costs() []Cost {
	out := append([]Cost(nil), CreditCosts...)
	sort.Slice(out, func(i, j int) bool { return out[i].Action < out[j].Action })
	return out
}

// MaxQuantity bounds one estimate (a trillion units).
const MaxQuantity int64 = 1_000_000_000_000

// EstimateCost returns what quantity units of action cost, in millicredits,
// rounded up to the next millicredit (so a fraction is never given away).
func EstimateCost(action string, quantity int64) (int64, error) {
	c, ok := costIndex[action]
	if !ok {
		return 0, apperr.Invalid(apperr.FieldError{Field: "action", Message: fmt.Sprintf("unknown action %q", action)})
	}
	if quantity < 0 || quantity > MaxQuantity {
		return 0, apperr.Invalid(apperr.FieldError{Field: "quantity", Message: fmt.Sprintf("must be from 0 to %d", MaxQuantity)})
	}
	// quantity ≤ 1e12 and prices ≤ 1e6 keep the product inside int64.
	return (quantity*c.Millicredits + c.Per - 1) / c.Per, nil
}
