package builtin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"

	"github.com/switchboard/switchboard/internal/actor"
	"github.com/switchboard/switchboard/internal/credit"
	"github.com/switchboard/switchboard/internal/plugin"
)

// AI providers the ai-reply built-in speaks.
const (
	ProviderOpenAI    = "openai"    // OpenAI Chat Completions and compatible APIs
	ProviderAnthropic = "anthropic" // Anthropic Messages API
)

// Default public API base URLs.
const (
	DefaultOpenAIBaseURL    = "https://api.openai.com/v1"
	DefaultAnthropicBaseURL = "https://api.anthropic.com"
)

// AIEndpoint is where one provider's API is and the operator's key for it.
// The operator's keys live in the operator's configuration; a user's own
// key lives in the installation's sealed secrets (secret "apiKey"), never
// in its config, which is stored and returned in clear.
type AIEndpoint struct {
	BaseURL string
	APIKey  string
}

// AIReplyOptions wires the ai-reply built-in.
type AIReplyOptions struct {
	// Client makes the outbound calls; production passes a safehttp client.
	Client    *http.Client
	OpenAI    AIEndpoint
	Anthropic AIEndpoint
	Credits   *credit.Service
	Limits    *credit.Limits
	Log       *slog.Logger
}

// AIReply answers a message with an LLM. On the operator's key, before
// the call it reserves the estimated tokens (prompt estimate + maxTokens)
// on the plan's aiTokensPerMonth and their cost (priced from CREDIT_COSTS)
// on the credits, in one transaction; a call that cannot be reserved is
// not made. After the call it settles the tokens the provider reports —
// counted and charged together, so tokens counted equal tokens charged —
// or, when the call failed, releases both holds: a FAILED execution is
// never charged.
//
// With the installation's own key (secret AIKeySecret) the user pays the
// provider directly: nothing is reserved or charged in credits and the
// tokens do not count toward aiTokensPerMonth (that allowance is what the
// platform's key pays for); the execution still counts toward
// executionsPerDay and reports the tokens in its metrics. Only with its own
// key may an installation choose the API's base URL (config baseUrl), so
// the operator's key is never sent to a server a user picked; without
// baseUrl, an own key goes to the provider's public API, never to the
// operator's configured endpoint. Either way the call goes through the
// SSRF-safe client: private and loopback addresses are refused unless the
// operator's --outbound-allow covers them.
type AIReply struct{ opt AIReplyOptions }

// AIKeySecret is the installation secret holding a user's own provider key.
const AIKeySecret = "apiKey"

var (
	aiInput = plugin.MustSchema(`{
		"type": "object",
		"properties": {"text": {"type": "string", "minLength": 1, "maxLength": 32000}},
		"required": ["text"],
		"additionalProperties": false
	}`)
	aiOutput = plugin.MustSchema(`{
		"type": "object",
		"properties": {
			"text": {"type": "string"},
			"provider": {"type": "string"},
			"model": {"type": "string"},
			"usage": {"type": "object", "properties": {
				"inputTokens": {"type": "integer"}, "outputTokens": {"type": "integer"}, "totalTokens": {"type": "integer"}}},
			"costMillicredits": {"type": "integer"}
		},
		"required": ["text", "usage", "costMillicredits"]
	}`)
	aiConfig = plugin.MustSchema(`{
		"type": "object",
		"properties": {
			"provider": {"enum": ["openai", "anthropic"]},
			"model": {"type": "string", "minLength": 1, "maxLength": 200},
			"systemPrompt": {"type": "string", "maxLength": 16000},
			"maxTokens": {"type": "integer", "minimum": 1, "maximum": 8192},
			"temperature": {"type": "number", "minimum": 0, "maximum": 2},
			"baseUrl": {"type": "string", "minLength": 1, "maxLength": 2000},
			"billAs": {"type": "string", "pattern": "^ai\\."}
		},
		"required": ["provider", "model"],
		"additionalProperties": false
	}`)
)

// NewAIReply returns the catalog entry of the ai-reply built-in.
func NewAIReply(opt AIReplyOptions) plugin.Builtin {
	if opt.Client == nil {
		opt.Client = http.DefaultClient
	}
	if opt.Log == nil {
		opt.Log = slog.Default()
	}
	return plugin.Builtin{Runner: AIReply{opt: opt}, Name: "AI reply",
		Description: "Answers a message with an LLM (OpenAI-compatible Chat Completions or Anthropic Messages), paid with credits per token."}
}

func (AIReply) Slug() string                 { return "ai-reply" }
func (AIReply) Version() string              { return "1.0.0" }
func (AIReply) InputSchema() *plugin.Schema  { return aiInput }
func (AIReply) OutputSchema() *plugin.Schema { return aiOutput }
func (AIReply) ConfigSchema() *plugin.Schema { return aiConfig }
func (AIReply) CanBeWorkflowStep() bool      { return true }

type aiConf struct {
	Provider     string   `json:"provider"`
	Model        string   `json:"model"`
	SystemPrompt string   `json:"systemPrompt"`
	MaxTokens    int64    `json:"maxTokens"`
	Temperature  *float64 `json:"temperature"`
	BillAs       string   `json:"billAs"`
	BaseURL      string   `json:"baseUrl"`
}

func parseAIConf(raw json.RawMessage) (aiConf, error) {
	var c aiConf
	if len(raw) == 0 {
		return c, errors.New("config: provider and model are required")
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		return c, fmt.Errorf("config: %w", err)
	}
	if c.MaxTokens == 0 {
		c.MaxTokens = 512
	}
	return c, nil
}

// PriceAction returns the CREDIT_COSTS action a model is billed as on the
// server's key, from the model's name. The price is never the
// installation's to choose: billAs, which once let it name one for a
// model the table does not know, let a tenant run an expensive model on
// the operator's key at the cheapest rate. A model without a price runs
// only with the installation's own key, which is not charged.
func PriceAction(model string) (string, error) {
	m := strings.ToLower(model)
	switch {
	case strings.HasPrefix(m, "gpt-4o-mini"):
		return "ai.gpt-4o-mini", nil
	case strings.HasPrefix(m, "gpt-4o"):
		return "ai.gpt-4o", nil
	case strings.HasPrefix(m, "claude") && strings.Contains(m, "haiku"):
		return "ai.claude-haiku", nil
	case strings.HasPrefix(m, "claude") && strings.Contains(m, "sonnet"):
		return "ai.claude-sonnet", nil
	}
	return "", fmt.Errorf("model %q has no price on this server's key (priced: gpt-4o-mini…, gpt-4o…, claude…haiku…, claude…sonnet…); "+
		"give the installation your own %s secret to use it", model, AIKeySecret)
}

// checkBillAs accepts billAs only where it changes nothing: the model's
// own price, or any ai.* price for a model without one (configurations
// written when billAs set that price; such a model now runs only with
// the installation's own key).
func checkBillAs(model, billAs string) error {
	if billAs == "" {
		return nil
	}
	if _, err := credit.EstimateCost(billAs, 0); err != nil || !strings.HasPrefix(billAs, "ai.") {
		return fmt.Errorf("billAs: %q is not an AI price in the costs table", billAs)
	}
	if price, err := PriceAction(model); err == nil && price != billAs {
		return fmt.Errorf("billAs: model %q is billed as %s; a model's price follows from its name", model, price)
	}
	return nil
}

// ValidateConfig checks the config. A model without a price passes: it
// runs with the installation's own key (Execute refuses it on the
// server's).
func (AIReply) ValidateConfig(raw json.RawMessage) error {
	c, err := parseAIConf(raw)
	if err != nil {
		return err
	}
	if err := checkBillAs(c.Model, c.BillAs); err != nil {
		return err
	}
	if c.BaseURL != "" {
		return checkAIBaseURL(c.BaseURL)
	}
	return nil
}

// checkAIBaseURL accepts an absolute http(s) URL without credentials,
// query or fragment. Where it points is checked when it is dialled.
func checkAIBaseURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("baseUrl: must be an absolute http(s) URL")
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("baseUrl: must not hold credentials, a query or a fragment")
	}
	return nil
}

// estimateTokens over-estimates a prompt's tokens (about 4 bytes a token
// in English; 3 keeps a margin) plus per-message overhead.
func estimateTokens(parts ...string) int64 {
	n := int64(16)
	for _, p := range parts {
		n += int64(len(p))/3 + 4
	}
	return n
}

type aiUsage struct {
	InputTokens  int64 `json:"inputTokens"`
	OutputTokens int64 `json:"outputTokens"`
	TotalTokens  int64 `json:"totalTokens"`
}

// Execute reserves, calls the provider, settles and meters.
func (r AIReply) Execute(ctx context.Context, ec plugin.ExecutionContext, input json.RawMessage) plugin.ExecutionResult {
	var in struct {
		Text string `json:"text"`
	}
	if err := json.Unmarshal(input, &in); err != nil {
		return plugin.Failed("input: " + err.Error())
	}
	c, err := parseAIConf(ec.Config)
	if err != nil {
		return plugin.Failed(err.Error())
	}
	var ep AIEndpoint
	switch c.Provider {
	case ProviderOpenAI:
		ep = r.opt.OpenAI
		if ep.BaseURL == "" {
			ep.BaseURL = DefaultOpenAIBaseURL
		}
	case ProviderAnthropic:
		ep = r.opt.Anthropic
		if ep.BaseURL == "" {
			ep.BaseURL = DefaultAnthropicBaseURL
		}
	default:
		return plugin.Failed(fmt.Sprintf("unknown provider %q", c.Provider))
	}
	own := ec.Secrets[AIKeySecret]
	if c.BaseURL != "" && own == "" {
		// The operator's key only ever goes to the operator's endpoint.
		return plugin.Failed(fmt.Sprintf("config baseUrl needs the installation's own %s secret; the server's key is never sent to another endpoint", AIKeySecret))
	}
	if own != "" {
		if c.BaseURL != "" {
			if err := checkAIBaseURL(c.BaseURL); err != nil {
				return plugin.Failed(err.Error())
			}
			ep.BaseURL = c.BaseURL
		} else if c.Provider == ProviderOpenAI {
			ep.BaseURL = DefaultOpenAIBaseURL
		} else {
			ep.BaseURL = DefaultAnthropicBaseURL
		}
		ep.APIKey = own
		return r.executeOwnKey(ctx, ep, c, in.Text)
	}
	if ep.APIKey == "" {
		return plugin.Failed(fmt.Sprintf("this server has no API key for provider %s; ask the operator to configure one, or give the installation your own %s secret", c.Provider, AIKeySecret))
	}
	action, err := PriceAction(c.Model)
	if err != nil {
		return plugin.Failed(err.Error())
	}
	if r.opt.Credits == nil || r.opt.Limits == nil {
		return plugin.Failed("AI replies are not available on this server (no credits service)")
	}
	a := ec.Actor
	estTokens := estimateTokens(c.SystemPrompt, in.Text) + c.MaxTokens
	estimate, err := credit.EstimateCost(action, estTokens)
	if err != nil {
		return plugin.Failed(err.Error())
	}
	key := "ai-reply:" + ec.IdempotencyKey
	if ec.IdempotencyKey == "" {
		key = ""
	}
	// The estimate is held on the plan's monthly tokens and on the credits
	// at once, before anything is spent: a call that cannot be held is not
	// made, and parallel calls cannot all pass a check that only one fits.
	hold, err := r.opt.Limits.ReserveUsage(ctx, a, actor.ActionAITokens, estTokens, estimate, key, "ai-reply "+c.Model)
	if err != nil {
		return plugin.Failed(err.Error())
	}
	sctx := context.WithoutCancel(ctx)
	release := func() {
		if err := r.opt.Limits.ReleaseUsage(sctx, a, hold); err != nil {
			r.opt.Log.Error("ai-reply: release reservation", "reservation", hold.Reservation.ID, "error", err)
		}
	}
	text, usage, callErr := r.call(ctx, ep, c, in.Text, false)
	if callErr != nil {
		release()
		out := plugin.Failed(callErr.Error())
		out.Metrics.APICalls = 1
		return out
	}
	if usage.TotalTokens == 0 {
		usage.TotalTokens = usage.InputTokens + usage.OutputTokens
	}
	cost, err := credit.EstimateCost(action, usage.TotalTokens)
	if err != nil {
		cost = estimate
	}
	result := plugin.ExecutionResult{Metrics: plugin.Metrics{TokensUsed: usage.TotalTokens, APICalls: 1}}
	// The answer is built before the charge, so nothing can fail the
	// execution once it is charged.
	out, err := json.Marshal(map[string]any{"text": text, "provider": c.Provider, "model": c.Model, "usage": usage, "costMillicredits": cost, "keySource": "server"})
	if err != nil {
		release()
		result.Error = "encode output: " + err.Error()
		return result
	}
	if _, err := r.opt.Limits.SettleUsage(sctx, a, hold, usage.TotalTokens, cost, fmt.Sprintf("ai-reply %s: %d tokens", c.Model, usage.TotalTokens)); err != nil {
		// Nothing was counted or charged (the settlement rolled back): the
		// execution fails and the holds go back.
		r.opt.Log.Error("ai-reply: settle reservation", "reservation", hold.Reservation.ID, "error", err)
		release()
		result.Error = "could not settle the AI call's cost: " + err.Error()
		return result
	}
	result.Success, result.Output = true, out
	result.Metrics.ChargedMillicredits = cost
	return result
}

// executeOwnKey calls the provider with the installation's own key: the
// user pays the provider, so no credits are reserved or charged and the
// plan's aiTokensPerMonth is not consumed.
func (r AIReply) executeOwnKey(ctx context.Context, ep AIEndpoint, c aiConf, text string) plugin.ExecutionResult {
	reply, usage, err := r.call(ctx, ep, c, text, true)
	if err != nil {
		out := plugin.Failed(err.Error())
		out.Metrics.APICalls = 1
		return out
	}
	if usage.TotalTokens == 0 {
		usage.TotalTokens = usage.InputTokens + usage.OutputTokens
	}
	result := plugin.ExecutionResult{Metrics: plugin.Metrics{TokensUsed: usage.TotalTokens, APICalls: 1}}
	out, err := json.Marshal(map[string]any{"text": reply, "provider": c.Provider, "model": c.Model, "usage": usage, "costMillicredits": 0, "keySource": "installation"})
	if err != nil {
		result.Error = "encode output: " + err.Error()
		return result
	}
	result.Success, result.Output = true, out
	return result
}

// call sends one request to the provider and returns the reply's text and
// the provider's token counts. Errors never contain the API key.
func (r AIReply) call(ctx context.Context, ep AIEndpoint, c aiConf, text string, own bool) (string, aiUsage, error) {
	base := strings.TrimRight(ep.BaseURL, "/")
	var body map[string]any
	var url string
	hdr := http.Header{"Content-Type": {"application/json"}}
	switch c.Provider {
	case ProviderOpenAI:
		url = base + "/chat/completions"
		hdr.Set("Authorization", "Bearer "+ep.APIKey)
		msgs := []map[string]string{}
		if c.SystemPrompt != "" {
			msgs = append(msgs, map[string]string{"role": "system", "content": c.SystemPrompt})
		}
		msgs = append(msgs, map[string]string{"role": "user", "content": text})
		body = map[string]any{"model": c.Model, "messages": msgs, "max_tokens": c.MaxTokens}
	default:
		url = base + "/v1/messages"
		hdr.Set("x-api-key", ep.APIKey)
		hdr.Set("anthropic-version", "2023-06-01")
		body = map[string]any{"model": c.Model, "max_tokens": c.MaxTokens,
			"messages": []map[string]string{{"role": "user", "content": text}}}
		if c.SystemPrompt != "" {
			body["system"] = c.SystemPrompt
		}
	}
	if c.Temperature != nil {
		body["temperature"] = *c.Temperature
	}
	b, err := json.Marshal(body)
	if err != nil {
		return "", aiUsage{}, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(b))
	if err != nil {
		return "", aiUsage{}, fmt.Errorf("%s: bad base URL", c.Provider)
	}
	req.Header = hdr
	resp, err := r.opt.Client.Do(req)
	if err != nil {
		return "", aiUsage{}, fmt.Errorf("%s API unreachable: %s", c.Provider, redact(err.Error(), ep.APIKey))
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return "", aiUsage{}, fmt.Errorf("%s API: read answer: %s", c.Provider, redact(err.Error(), ep.APIKey))
	}
	if resp.StatusCode/100 != 2 {
		return "", aiUsage{}, providerError(c.Provider, resp.StatusCode, raw, ep.APIKey, own)
	}
	if c.Provider == ProviderOpenAI {
		var out struct {
			Choices []struct {
				Message struct {
					Content string `json:"content"`
				} `json:"message"`
			} `json:"choices"`
			Usage struct {
				PromptTokens     int64 `json:"prompt_tokens"`
				CompletionTokens int64 `json:"completion_tokens"`
				TotalTokens      int64 `json:"total_tokens"`
			} `json:"usage"`
		}
		if err := json.Unmarshal(raw, &out); err != nil || len(out.Choices) == 0 {
			return "", aiUsage{}, fmt.Errorf("openai API: unexpected answer")
		}
		return out.Choices[0].Message.Content, aiUsage{out.Usage.PromptTokens, out.Usage.CompletionTokens, out.Usage.TotalTokens}, nil
	}
	var out struct {
		Content []struct {
			Type string `json:"type"`
			Text string `json:"text"`
		} `json:"content"`
		Usage struct {
			InputTokens  int64 `json:"input_tokens"`
			OutputTokens int64 `json:"output_tokens"`
		} `json:"usage"`
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		return "", aiUsage{}, fmt.Errorf("anthropic API: unexpected answer")
	}
	var sb strings.Builder
	for _, p := range out.Content {
		if p.Type == "text" {
			sb.WriteString(p.Text)
		}
	}
	u := aiUsage{InputTokens: out.Usage.InputTokens, OutputTokens: out.Usage.OutputTokens}
	u.TotalTokens = u.InputTokens + u.OutputTokens
	return sb.String(), u, nil
}

// providerError turns an error answer of either API ({"error": {"message",
// "type"}}) into a reason for the user.
func providerError(provider string, status int, raw []byte, key string, own bool) error {
	var e struct {
		Error struct {
			Message string `json:"message"`
			Type    string `json:"type"`
		} `json:"error"`
	}
	_ = json.Unmarshal(raw, &e)
	msg := e.Error.Message
	if len(msg) > 300 {
		msg = msg[:300]
	}
	msg = redact(msg, key)
	what := "error"
	switch status {
	case http.StatusUnauthorized, http.StatusForbidden:
		what = "refused the server's API key"
		if own {
			what = "refused the installation's API key"
		}
	case http.StatusTooManyRequests:
		what = "rate limit or quota exceeded"
	}
	if msg == "" {
		return fmt.Errorf("%s API %s (HTTP %d)", provider, what, status)
	}
	return fmt.Errorf("%s API %s (HTTP %d): %s", provider, what, status, msg)
}

func redact(s, key string) string {
	if key == "" {
		return s
	}
	return strings.ReplaceAll(s, key, "[redacted]")
}
