package transfer

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"google.golang.org/protobuf/encoding/protojson"

	hotlinev1 "github.com/hotline12345/hotline-gw/api/hotline/v1"
	"github.com/hotline12345/hotline-gw/internal/backoff"
	"github.com/hotline12345/hotline-gw/internal/conf"
	"github.com/hotline12345/hotline-gw/tlsconf"
)

// The 110 webhook's contract (README, "The 110 platform over HTTP").
const (
	// HeaderTimestamp carries the Unix time (seconds) of the attempt.
	HeaderTimestamp = "X-Hotline-Timestamp"
	// HeaderSignature is "sha256=" + hex(HMAC-SHA256(secret, timestamp + "." + body)).
	HeaderSignature = "X-Hotline-Signature"
	// HeaderIdempotencyKey is the transfer record's ID: the same on every
	// attempt, so the receiver keeps one record per key.
	HeaderIdempotencyKey = "Idempotency-Key"
	// HeaderAttempt counts the attempts of one record from 1.
	HeaderAttempt = "X-Hotline-Delivery-Attempt"
)

// WebhookConfig is `transfer.police_webhook`: transfer records pushed to
// the 110 platform as signed HTTP POSTs. Unset URL: off.
type WebhookConfig struct {
	// URL receives the POSTs: https, or http on loopback only.
	URL string `yaml:"url"`
	// Secret (or SecretFile) is the HMAC key shared with 110, at least 16
	// characters.
	Secret     string `yaml:"secret"`
	SecretFile string `yaml:"secret_file"`
	// Timeout bounds one attempt.
	Timeout conf.Duration `yaml:"timeout"`
	// MaxAttempts bounds the attempts of one record (at least 2).
	MaxAttempts int `yaml:"max_attempts"`
	// RetryMax caps the backoff between attempts (it doubles from 500ms).
	RetryMax conf.Duration `yaml:"retry_max"`
	// TLS secures an https URL; unset: the system's roots.
	TLS tlsconf.Client `yaml:"tls"`
}

// webhook defaults.
const (
	DefaultWebhookTimeout     = 5 * time.Second
	DefaultWebhookMaxAttempts = 8
	DefaultWebhookRetryMax    = 30 * time.Second
)

func (w *WebhookConfig) setDefaults() {
	if w.Timeout == 0 {
		w.Timeout = conf.Duration(DefaultWebhookTimeout)
	}
	if w.MaxAttempts == 0 {
		w.MaxAttempts = DefaultWebhookMaxAttempts
	}
	if w.RetryMax == 0 {
		w.RetryMax = conf.Duration(DefaultWebhookRetryMax)
	}
}

// validate reads the secret file and checks every field; errors name the
// YAML path.
func (w *WebhookConfig) validate() error {
	const p = "transfer.police_webhook"
	if w.URL == "" {
		if w.Secret != "" || w.SecretFile != "" {
			return fmt.Errorf("%s.url: required with a secret", p)
		}
		return nil
	}
	u, err := url.Parse(w.URL)
	switch {
	case err != nil || u.Host == "":
		return fmt.Errorf("%s.url: %q is not an absolute URL", p, w.URL)
	case u.Scheme == "http" && !tlsconf.Loopback(hostPort(u)):
		return fmt.Errorf("%s.url: plain http only to a loopback address; use https for %s", p, u.Host)
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("%s.url: scheme %q is not http or https", p, u.Scheme)
	case u.User != nil:
		return fmt.Errorf("%s.url: no credentials in the URL; the HMAC secret authenticates", p)
	}
	if err := conf.ReadSecret(&w.Secret, w.SecretFile, p+".secret_file"); err != nil {
		return err
	}
	if len(w.Secret) < 16 {
		return fmt.Errorf("%s.secret: at least 16 characters (from secret or secret_file)", p)
	}
	if w.Timeout.D() <= 0 || w.RetryMax.D() <= 0 {
		return fmt.Errorf("%s: timeout and retry_max must be positive", p)
	}
	if w.MaxAttempts < 2 {
		return fmt.Errorf("%s.max_attempts: %d; at least 2 (a failed delivery is retried)", p, w.MaxAttempts)
	}
	if _, err := w.TLS.TLSConfig(p + ".tls"); err != nil {
		return err
	}
	return nil
}

func hostPort(u *url.URL) string {
	if u.Port() != "" {
		return u.Host
	}
	return u.Host + ":80"
}

// Sign is the signature header's value of body sent at ts.
func Sign(secret []byte, ts string, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(ts))
	m.Write([]byte("."))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// PoliceWebhook pushes each transfer record that reached its final state
// (completed, cancelled, failed) to the 110 platform as a signed POST,
// from one goroutine, so a slow or absent 110 side never holds up a call.
// Each record is delivered at least once with its ID as idempotency key,
// retried with capped backoff on a network error, 408, 429 or 5xx; other
// answers are final. Records live in Redis and on the ticket whatever
// happens here; the queue itself is in memory.
type PoliceWebhook struct {
	cfg    WebhookConfig
	client *http.Client
	log    *slog.Logger
	q      chan *hotlinev1.TransferRecord
	sent   map[string]bool // IDs queued already (bounded by order)
	order  []string
	// retryMin is the first backoff (tests shorten it).
	retryMin time.Duration
	outbox   *WebhookOutbox // nil: the queue is only in memory
}

// NewPoliceWebhook returns the notifier of a validated cfg; run it with Run.
func NewPoliceWebhook(cfg WebhookConfig, log *slog.Logger) (*PoliceWebhook, error) {
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	tc, err := cfg.TLS.TLSConfig("transfer.police_webhook.tls")
	if err != nil {
		return nil, err
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tc
	return &PoliceWebhook{cfg: cfg, log: log, client: &http.Client{Transport: tr, Timeout: cfg.Timeout.D(),
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
		q: make(chan *hotlinev1.TransferRecord, 1024), sent: map[string]bool{}, retryMin: 500 * time.Millisecond}, nil
}

// Notify queues a final record without blocking; records of a transfer
// still in progress are not pushed (110 reads them with ListTransfers),
// and a full queue drops the record with a log (it is on the ticket).
func (w *PoliceWebhook) Notify(rec *hotlinev1.TransferRecord) {
	switch rec.GetState() {
	case hotlinev1.TransferState_TRANSFER_STATE_COMPLETED, hotlinev1.TransferState_TRANSFER_STATE_CANCELLED, hotlinev1.TransferState_TRANSFER_STATE_FAILED:
	default:
		return
	}
	select {
	case w.q <- rec:
	default:
		w.log.Warn("110 webhook queue full; record not pushed (it is on the ticket)", "transfer_id", rec.GetTransferId())
	}
}

// UseOutbox keeps undelivered records in o (Redis), so a restart does not
// lose them; call it before Run.
func (w *PoliceWebhook) UseOutbox(o *WebhookOutbox) { w.outbox = o }

// Run first resends what the outbox holds, then delivers queued records
// until ctx ends.
func (w *PoliceWebhook) Run(ctx context.Context) {
	if w.outbox != nil {
		rctx, cancel := context.WithTimeout(ctx, w.cfg.Timeout.D())
		pending, err := w.outbox.Pending(rctx)
		cancel()
		if err != nil {
			w.log.Warn("110 webhook: undelivered records not read; they are sent at the next start", "err", err)
		}
		for id, body := range pending {
			if !w.seen(id) {
				w.log.Info("110 webhook: resending a record not acknowledged before", "transfer_id", id)
				w.deliver(ctx, id, []byte(body))
			}
		}
	}
	for {
		select {
		case <-ctx.Done():
			return
		case rec := <-w.q:
			if w.seen(rec.GetTransferId()) {
				continue // a later copy of a final record: delivered already
			}
			w.send(ctx, rec)
		}
	}
}

// seen records id and reports whether it was there; the last 10000 IDs
// are remembered.
func (w *PoliceWebhook) seen(id string) bool {
	if w.sent[id] {
		return true
	}
	w.sent[id] = true
	w.order = append(w.order, id)
	if len(w.order) > 10000 {
		delete(w.sent, w.order[0])
		w.order = w.order[1:]
	}
	return false
}

func (w *PoliceWebhook) send(ctx context.Context, rec *hotlinev1.TransferRecord) {
	id := rec.GetTransferId()
	body, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(rec)
	if err != nil {
		w.log.Error("110 webhook: record not encoded", "transfer_id", id, "err", err)
		return
	}
	if w.outbox != nil {
		octx, cancel := context.WithTimeout(ctx, w.cfg.Timeout.D())
		if err := w.outbox.Put(octx, id, body); err != nil {
			w.log.Warn("110 webhook: record not kept for a restart (delivering it now)", "transfer_id", id, "err", err)
		}
		cancel()
	}
	w.deliver(ctx, id, body)
}

// deliver posts body until 110 takes it, refuses it for good, or the
// attempts run out; the outbox forgets it in the first two cases.
func (w *PoliceWebhook) deliver(ctx context.Context, id string, body []byte) {
	retry := backoff.New(w.retryMin, w.cfg.RetryMax.D())
	for attempt := 1; ; attempt++ {
		err := w.post(ctx, id, attempt, body)
		var perm *permanentError
		if err == nil || errors.As(err, &perm) {
			if err == nil {
				w.log.Info("transfer record pushed to 110", "transfer_id", id, "attempt", attempt)
			} else {
				w.log.Warn("transfer record refused by 110 (it is on the ticket)", "transfer_id", id, "attempt", attempt, "err", err)
			}
			if w.outbox != nil {
				octx, cancel := context.WithTimeout(context.WithoutCancel(ctx), w.cfg.Timeout.D())
				if err := w.outbox.Done(octx, id); err != nil {
					w.log.Warn("110 webhook: delivered record stays in the outbox (sent again at the next start)", "transfer_id", id, "err", err)
				}
				cancel()
			}
			return
		}
		if attempt >= w.cfg.MaxAttempts || ctx.Err() != nil {
			w.log.Warn("transfer record not pushed to 110 yet (kept for the next start; it is on the ticket)", "transfer_id", id, "attempt", attempt, "err", err)
			return
		}
		w.log.Info("110 webhook failed; retrying", "transfer_id", id, "attempt", attempt, "err", err)
		if !retry.Sleep(ctx) {
			return
		}
	}
}

type permanentError struct{ code int }

func (e *permanentError) Error() string {
	return fmt.Sprintf("110 answered HTTP %d (not retried)", e.code)
}

// post is one attempt, signed at its own time.
func (w *PoliceWebhook) post(ctx context.Context, id string, attempt int, body []byte) error {
	ctx, cancel := context.WithTimeout(ctx, w.cfg.Timeout.D())
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.cfg.URL, bytes.NewReader(body))
	if err != nil {
		return &permanentError{}
	}
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "hotline-gw")
	req.Header.Set(HeaderTimestamp, ts)
	req.Header.Set(HeaderSignature, Sign([]byte(w.cfg.Secret), ts, body))
	req.Header.Set(HeaderIdempotencyKey, id)
	req.Header.Set(HeaderAttempt, strconv.Itoa(attempt))
	resp, err := w.client.Do(req)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	switch c := resp.StatusCode; {
	case c >= 200 && c < 300:
		return nil
	case c == http.StatusRequestTimeout || c == http.StatusTooManyRequests || c >= 500:
		return fmt.Errorf("110 answered HTTP %d", c)
	default:
		return &permanentError{c}
	}
}
