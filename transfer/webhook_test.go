package transfer

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	hotlinev1 "github.com/hotline12345/hotline-gw/api/hotline/v1"
	"github.com/hotline12345/hotline-gw/internal/conf"
)

// The README's worked example of the signature.
func TestSignMatchesTheREADMEExample(t *testing.T) {
	got := Sign([]byte("s3cret-shared-with-110"), "1767225600", []byte(`{"transfer_id":"x1"}`))
	if want := "sha256=548cb9f58d9d0e06bb826f842f6495c9949808c54e7c65b5a9a6b1dc22bc653e"; got != want {
		t.Fatalf("Sign = %s, want %s", got, want)
	}
}

func TestWebhookConfigErrorsNameTheField(t *testing.T) {
	ok := WebhookConfig{URL: "http://127.0.0.1:8080/x", Secret: "0123456789abcdef"}
	for _, tt := range []struct {
		name   string
		mutate func(*WebhookConfig)
		want   string
	}{
		{"valid", func(*WebhookConfig) {}, ""},
		{"off", func(c *WebhookConfig) { *c = WebhookConfig{} }, ""},
		{"plain http off loopback", func(c *WebhookConfig) { c.URL = "http://110.example/x" }, "police_webhook.url: plain http only"},
		{"not a URL", func(c *WebhookConfig) { c.URL = "110.example" }, "police_webhook.url"},
		{"ftp", func(c *WebhookConfig) { c.URL = "ftp://110.example/x" }, "scheme"},
		{"credentials in URL", func(c *WebhookConfig) { c.URL = "https://u:p@110.example/x" }, "no credentials"},
		{"short secret", func(c *WebhookConfig) { c.Secret = "short" }, "police_webhook.secret: at least 16"},
		{"secret and file", func(c *WebhookConfig) { c.SecretFile = "/nonexistent" }, "police_webhook.secret_file"},
		{"secret without url", func(c *WebhookConfig) { c.URL = "" }, "police_webhook.url: required"},
		{"one attempt", func(c *WebhookConfig) { c.MaxAttempts = 1 }, "max_attempts"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := ok
			tt.mutate(&c)
			c.setDefaults()
			err := c.validate()
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
}

// A 4xx other than 408/429 is final; a 503 is retried until MaxAttempts;
// records of a transfer in progress are not pushed; a final record queued
// twice goes out once.
func TestWebhookRetriesOnlyWhatMayHeal(t *testing.T) {
	var mu sync.Mutex
	hits := map[string]int{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		id := r.Header.Get(HeaderIdempotencyKey)
		mu.Lock()
		hits[id]++
		mu.Unlock()
		switch id {
		case "bad-request":
			w.WriteHeader(http.StatusBadRequest)
		case "unavailable":
			w.WriteHeader(http.StatusServiceUnavailable)
		default:
			w.WriteHeader(http.StatusOK)
		}
	}))
	defer srv.Close()
	w, err := NewPoliceWebhook(WebhookConfig{URL: srv.URL, Secret: "0123456789abcdef", MaxAttempts: 3, RetryMax: conf.Duration(20 * time.Millisecond)}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	w.retryMin = 5 * time.Millisecond
	final := func(id string) *hotlinev1.TransferRecord {
		return &hotlinev1.TransferRecord{TransferId: id, State: hotlinev1.TransferState_TRANSFER_STATE_FAILED}
	}
	w.Notify(&hotlinev1.TransferRecord{TransferId: "ringing", State: hotlinev1.TransferState_TRANSFER_STATE_RINGING})
	w.Notify(final("bad-request"))
	w.Notify(final("unavailable"))
	w.Notify(final("ok"))
	w.Notify(final("ok"))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	go w.Run(ctx)
	deadline := time.Now().Add(5 * time.Second)
	for {
		mu.Lock()
		done := hits["ok"] == 1 && hits["unavailable"] == 3
		mu.Unlock()
		if done || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	want := map[string]int{"bad-request": 1, "unavailable": 3, "ok": 1}
	for k, v := range want {
		if hits[k] != v {
			t.Errorf("%s: %d deliveries, want %d (all: %v)", k, hits[k], v, hits)
		}
	}
	if hits["ringing"] != 0 {
		t.Errorf("a record in progress was pushed: %v", hits)
	}
}
