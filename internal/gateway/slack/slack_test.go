package slack_test

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/switchboard/switchboard/internal/gateway/channel"
	"github.com/switchboard/switchboard/internal/gateway/gatewaytest"
	"github.com/switchboard/switchboard/internal/gateway/slack"
)

const token = "xoxb-1234-5678-fakeSlackBotToken"

func target() channel.Target {
	return channel.Target{Credentials: map[string]string{"botToken": token, "signingSecret": "8f742231b10e8888abcd99yyyzzz85a5"}}
}

// chat.postMessage gets its JSON with the charset Slack asks for, and a
// "ratelimited" answer is retried after its Retry-After within the call.
func TestSend_CharsetAndRateLimitRetry(t *testing.T) {
	t.Parallel()
	f := gatewaytest.NewSlack(t, token)
	a := slack.New(f.URL, http.DefaultClient)
	f.FailSends(gatewaytest.Failure{Status: http.StatusTooManyRequests, RetryAfter: 1})
	sent, err := a.Send(context.Background(), target(), channel.Message{ID: "gwsnd_1", ChatID: "C0123", Text: "hello"})
	if err != nil || sent.ProviderMessageID == "" {
		t.Fatalf("send after a ratelimited answer: %+v %v", sent, err)
	}
	if n := f.Calls("send"); n != 2 {
		t.Fatalf("chat.postMessage called %d times, want 2", n)
	}
	msgs := f.Sent()
	if len(msgs) != 1 || msgs[0].Header.Get("Content-Type") != "application/json; charset=utf-8" {
		t.Fatalf("sent %+v", msgs)
	}
}

// The wait is bounded: a Retry-After beyond the call's deadline (or
// retries beyond the bound) hands the RateLimited error to the caller
// without sleeping past the context.
func TestSend_RateLimitRespectsContext(t *testing.T) {
	t.Parallel()
	f := gatewaytest.NewSlack(t, token)
	a := slack.New(f.URL, http.DefaultClient)
	f.FailSends(gatewaytest.Failure{Status: http.StatusTooManyRequests, RetryAfter: 30})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := a.Send(ctx, target(), channel.Message{ChatID: "C0123", Text: "hello"})
	var se *channel.SendError
	if !errors.As(err, &se) || se.Kind != channel.RateLimited || se.RetryAfter != 30*time.Second {
		t.Fatalf("want RateLimited with RetryAfter 30s, got %v", err)
	}
	if ctx.Err() != nil {
		t.Fatal("the call waited past its deadline")
	}
	f.FailSends(gatewaytest.Failure{Status: http.StatusTooManyRequests, RetryAfter: 0}, gatewaytest.Failure{Status: http.StatusTooManyRequests},
		gatewaytest.Failure{Status: http.StatusTooManyRequests})
	_, err = a.Send(context.Background(), target(), channel.Message{ChatID: "C0123", Text: "hello"})
	if !errors.As(err, &se) || se.Kind != channel.RateLimited {
		t.Fatalf("after three ratelimited answers: %v", err)
	}
	if n := f.Calls("send"); n != 4 {
		t.Fatalf("chat.postMessage called %d times, want 1 + 3", n)
	}
}
