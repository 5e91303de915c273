package transfer

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	hotlinev1 "github.com/hotline12345/hotline-gw/api/hotline/v1"
	"github.com/hotline12345/hotline-gw/gateway/store"
	"github.com/hotline12345/hotline-gw/internal/conf"
	"github.com/hotline12345/hotline-gw/test/redistest"
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

// A record 110 did not take before the gateway stopped is in the outbox
// (Redis) and goes out, with the same ID, when the next gateway starts;
// then the outbox is empty.
func TestWebhookOutboxResendsAfterRestart(t *testing.T) {
	rd := redistest.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: rd.Addr})
	t.Cleanup(func() { rdb.Close() })
	outbox := NewWebhookOutbox(rdb, store.NewKeys("hl"))

	var mu sync.Mutex
	up := false
	var got []string // "<key>/<status>"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		mu.Lock()
		defer mu.Unlock()
		code := http.StatusServiceUnavailable
		if up {
			code = http.StatusNoContent
		}
		got = append(got, fmt.Sprintf("%s/%d", r.Header.Get(HeaderIdempotencyKey), code))
		w.WriteHeader(code)
	}))
	defer srv.Close()
	cfg := WebhookConfig{URL: srv.URL, Secret: "0123456789abcdef", MaxAttempts: 2, RetryMax: conf.Duration(10 * time.Millisecond)}
	start := func() (*PoliceWebhook, context.CancelFunc, chan struct{}) {
		w, err := NewPoliceWebhook(cfg, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		w.retryMin = 5 * time.Millisecond
		w.UseOutbox(outbox)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { w.Run(ctx); close(done) }()
		return w, cancel, done
	}
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); !ok(); {
			if time.Now().After(deadline) {
				mu.Lock()
				defer mu.Unlock()
				t.Fatalf("%s; deliveries %v", what, got)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	w1, stop1, done1 := start()
	w1.Notify(&hotlinev1.TransferRecord{TransferId: "xfer-durable-1", CallId: "c1", State: hotlinev1.TransferState_TRANSFER_STATE_COMPLETED})
	waitFor("two refused attempts", func() bool { mu.Lock(); defer mu.Unlock(); return len(got) == 2 })
	stop1()
	<-done1
	if p, err := outbox.Pending(context.Background()); err != nil || len(p) != 1 || !strings.Contains(p["xfer-durable-1"], `"call_id":"c1"`) {
		t.Fatalf("outbox after the gateway stopped: %v %v", p, err)
	}

	mu.Lock()
	up = true
	mu.Unlock()
	_, stop2, done2 := start()
	defer func() { stop2(); <-done2 }()
	waitFor("the record resent after the restart", func() bool { mu.Lock(); defer mu.Unlock(); return len(got) == 3 })
	mu.Lock()
	if got[2] != "xfer-durable-1/204" {
		t.Errorf("deliveries %v; want the third to be xfer-durable-1 taken", got)
	}
	mu.Unlock()
	waitFor("an empty outbox", func() bool { p, err := outbox.Pending(context.Background()); return err == nil && len(p) == 0 })
}
