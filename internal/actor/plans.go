package actor

// Plan is a subscription plan of a workspace.
type Plan string

const (
	Free       Plan = "FREE"
	Starter    Plan = "STARTER"
	Pro        Plan = "PRO"
	Business   Plan = "BUSINESS"
	Enterprise Plan = "ENTERPRISE"
)

// Plans lists every plan, cheapest first.
var Plans = []Plan{Free, Starter, Pro, Business, Enterprise}

// Valid reports whether p is a known plan.
func (p Plan) Valid() bool {
	for _, v := range Plans {
		if p == v {
			return true
		}
	}
	return false
}

// Unlimited marks a limit that does not apply.
const Unlimited int64 = -1

// Limits are a plan's quotas. A value of Unlimited (−1) means no limit.
type Limits struct {
	Gateways         int64 `json:"gateways"`
	Plugins          int64 `json:"plugins"`
	ExecutionsPerDay int64 `json:"executionsPerDay"`
	AITokensPerMonth int64 `json:"aiTokensPerMonth"`
	StorageMB        int64 `json:"storageMb"`
	CPUCores         int64 `json:"cpuCores"`
	RAMMB            int64 `json:"ramMb"`
	// RunRetentionDays is how long workflow run history is kept.
	RunRetentionDays int64 `json:"runRetentionDays"`
	// APIRequestsPerMinute caps the authenticated /api/v1 requests of one
	// credential (an API key, or a user's sessions) acting in the
	// workspace; APIWorkspaceRequestsPerMinute caps all of the
	// workspace's credentials together. Inbound hooks are not counted
	// (executionsPerDay governs them). See internal/httpapi/apilimit.go.
	APIRequestsPerMinute          int64 `json:"apiRequestsPerMinute"`
	APIWorkspaceRequestsPerMinute int64 `json:"apiWorkspaceRequestsPerMinute"`
}

// PlanLimits is the quota table. It is data, read by the limits service and
// shown to admins; change it here and every check follows.
var PlanLimits = map[Plan]Limits{
	Free:       {Gateways: 1, Plugins: 3, ExecutionsPerDay: 100, AITokensPerMonth: 10_000, StorageMB: 100, CPUCores: 1, RAMMB: 128, RunRetentionDays: 7, APIRequestsPerMinute: 60, APIWorkspaceRequestsPerMinute: 120},
	Starter:    {Gateways: 3, Plugins: 10, ExecutionsPerDay: 1_000, AITokensPerMonth: 100_000, StorageMB: 1_024, CPUCores: 1, RAMMB: 256, RunRetentionDays: 30, APIRequestsPerMinute: 300, APIWorkspaceRequestsPerMinute: 600},
	Pro:        {Gateways: 10, Plugins: 50, ExecutionsPerDay: 10_000, AITokensPerMonth: 1_000_000, StorageMB: 10_240, CPUCores: 2, RAMMB: 512, RunRetentionDays: 90, APIRequestsPerMinute: 1_200, APIWorkspaceRequestsPerMinute: 2_400},
	Business:   {Gateways: 50, Plugins: 200, ExecutionsPerDay: 100_000, AITokensPerMonth: 10_000_000, StorageMB: 102_400, CPUCores: 4, RAMMB: 1_024, RunRetentionDays: 365, APIRequestsPerMinute: 3_000, APIWorkspaceRequestsPerMinute: 6_000},
	Enterprise: {Gateways: Unlimited, Plugins: Unlimited, ExecutionsPerDay: Unlimited, AITokensPerMonth: Unlimited, StorageMB: Unlimited, CPUCores: 8, RAMMB: 4_096, RunRetentionDays: Unlimited, APIRequestsPerMinute: 30_000, APIWorkspaceRequestsPerMinute: 60_000},
}

// Action names a quota-consuming action.
type Action string

const (
	ActionCreateGateway Action = "gateways"
	ActionInstallPlugin Action = "plugins"
	ActionExecute       Action = "executionsPerDay"
	ActionAITokens      Action = "aiTokensPerMonth"
	ActionStorage       Action = "storageMb"
)

// Limit returns the plan's limit for an action; unknown plans get FREE's,
// unknown actions are denied (0).
func (p Plan) Limit(a Action) int64 {
	l, ok := PlanLimits[p]
	if !ok {
		l = PlanLimits[Free]
	}
	switch a {
	case ActionCreateGateway:
		return l.Gateways
	case ActionInstallPlugin:
		return l.Plugins
	case ActionExecute:
		return l.ExecutionsPerDay
	case ActionAITokens:
		return l.AITokensPerMonth
	case ActionStorage:
		return l.StorageMB
	}
	return 0
}

// CanDoAction reports whether a workspace on plan p that has used `used` of
// an action may use `amount` more.
func CanDoAction(p Plan, a Action, used, amount int64) bool {
	limit := p.Limit(a)
	if limit == Unlimited {
		return true
	}
	return used+amount <= limit
}
