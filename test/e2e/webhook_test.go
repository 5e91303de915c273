package e2e

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	hotlinev1 "github.com/hotline12345/hotline-gw/api/hotline/v1"
	"github.com/hotline12345/hotline-gw/test/labtest"
)

// webhook110 is the 110 platform's webhook receiver as its contract in the
// README describes it: it checks the timestamp and the HMAC, keeps one
// record per Idempotency-Key, and (to prove the retry) answers the very
// first delivery with 500.
type webhook110 struct {
	secret string
	mu     sync.Mutex
	failed bool
	// attempts lists, per key, the X-Hotline-Delivery-Attempt of every
	// delivery with a valid signature, in order.
	attempts map[string][]string
	records  map[string]map[string]any // kept once per key
	order    []string                  // keys in order of first acceptance
	bad      []string                  // what was refused, and why
}

func (h *webhook110) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, "body", http.StatusBadRequest)
		return
	}
	ts := r.Header.Get("X-Hotline-Timestamp")
	sec, err := strconv.ParseInt(ts, 10, 64)
	h.mu.Lock()
	defer h.mu.Unlock()
	if err != nil || time.Since(time.Unix(sec, 0)).Abs() > 5*time.Minute {
		h.bad = append(h.bad, "timestamp "+ts)
		http.Error(w, "stale", http.StatusUnauthorized)
		return
	}
	m := hmac.New(sha256.New, []byte(h.secret))
	m.Write([]byte(ts + "."))
	m.Write(body)
	want := "sha256=" + hex.EncodeToString(m.Sum(nil))
	if !hmac.Equal([]byte(want), []byte(r.Header.Get("X-Hotline-Signature"))) {
		h.bad = append(h.bad, "signature "+r.Header.Get("X-Hotline-Signature"))
		http.Error(w, "signature", http.StatusUnauthorized)
		return
	}
	key := r.Header.Get("Idempotency-Key")
	var rec map[string]any
	if err := json.Unmarshal(body, &rec); err != nil || key == "" || rec["transfer_id"] != key {
		h.bad = append(h.bad, fmt.Sprintf("key %q for body %s", key, body))
		http.Error(w, "record", http.StatusBadRequest)
		return
	}
	h.attempts[key] = append(h.attempts[key], r.Header.Get("X-Hotline-Delivery-Attempt"))
	if !h.failed {
		h.failed = true
		http.Error(w, "try again", http.StatusInternalServerError)
		return
	}
	if _, dup := h.records[key]; !dup {
		h.records[key] = rec
		h.order = append(h.order, key)
	}
	w.WriteHeader(http.StatusNoContent)
}

func (h *webhook110) snapshot() (order []string, attempts map[string][]string, bad []string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	attempts = map[string][]string{}
	for k, v := range h.attempts {
		attempts[k] = append([]string(nil), v...)
	}
	return append([]string(nil), h.order...), attempts, append([]string(nil), h.bad...)
}

// Two real blind transfers on the lab (the agent presses *1, the citizen
// ends up with the 110 SIPp UAS): 110's webhook receiver gets each final
// transfer record exactly once by its ID, every delivery signed; the first
// delivery it answered 500 came again with the same ID as attempt 2; the
// IDs are those of the records the HTTP API lists to 110.
func TestPoliceWebhookSignedRetriedOnceByID(t *testing.T) {
	recv := &webhook110{secret: "lab-webhook-secret-0123456789", attempts: map[string][]string{}, records: map[string]map[string]any{}}
	srv := httptest.NewServer(recv)
	t.Cleanup(srv.Close)
	l := startRoutingLabExtra(t, "", fmt.Sprintf("transfer: {ring_timeout: 4s, dial_timeout: 4s, police_webhook: {url: %q, secret: %q, retry_max: 2s}}\n", srv.URL, recv.secret))
	labtest.StartUAS(t, "110", 5310, labtest.Answer)
	labtest.StartPhone(t, "1001", "uas_answer_dtmf_info.xml", "-d", "1500", "-set", "digits", "*1")
	d := labtest.OpenDesktop(t, l.g, "1001", "general")

	const transfers = 2
	var callIDs []string
	for i := 0; i < transfers; i++ {
		done := labtest.StartCalls(t, labtest.Calls{DID: "12345", Caller: fmt.Sprintf("1390000%04d", 7100+i), Duration: 6 * time.Second})
		labtest.Eventually(t, 15*time.Second, func() error {
			if o := d.Offers(); len(o) > i {
				return nil
			}
			return fmt.Errorf("call %d: no screen pop", i+1)
		})
		id := d.Offers()[i].CallId
		callIDs = append(callIDs, id)
		waitParties(t, id, caller, police)
		if res := <-done; res.Successful != 1 {
			t.Fatalf("call %d: %+v", i+1, res)
		}
		labtest.WaitNoChannels(t, 10*time.Second)
		labtest.Eventually(t, 5*time.Second, func() error {
			if s := d.State(t).State; s != hotlinev1.AgentState_AGENT_STATE_READY {
				return fmt.Errorf("agent is %v after the blind transfer, want READY", s)
			}
			return nil
		})
	}

	var order []string
	var attempts map[string][]string
	labtest.Eventually(t, 20*time.Second, func() error {
		var bad []string
		order, attempts, bad = recv.snapshot()
		if len(bad) > 0 {
			return fmt.Errorf("refused deliveries: %v", bad)
		}
		if len(order) != transfers {
			return fmt.Errorf("110 kept %d records (%v), want %d", len(order), attempts, transfers)
		}
		return nil
	})
	// The first record: 500 on attempt 1, then attempt 2 with the same ID.
	if got := attempts[order[0]]; len(got) != 2 || got[0] != "1" || got[1] != "2" {
		t.Errorf("deliveries of the first record %s: attempts %v; want [1 2] (500 once, retried with the same key)", order[0], got)
	}
	for _, k := range order[1:] {
		if got := attempts[k]; len(got) != 1 {
			t.Errorf("record %s delivered %v times; want once (answered 2xx)", k, got)
		}
	}
	// Exactly the transfers made, by ID: those 110 reads over the HTTP API.
	a := apiCall(t, l.g, "POST", "/api/v1/TransferService/ListTransfers", labtest.PoliceToken, `{"limit":10}`)
	listed := map[string]string{}
	for _, x := range a.json["transfers"].([]any) {
		r := x.(map[string]any)
		listed[r["transfer_id"].(string)] = r["call_id"].(string)
	}
	if len(listed) != transfers {
		t.Fatalf("ListTransfers over HTTP: %s; want %d records", a, transfers)
	}
	for _, k := range order {
		callID, ok := listed[k]
		if !ok {
			t.Errorf("110 got record %s, which the gateway does not list", k)
			continue
		}
		rec := recv.records[k]
		if rec["state"] != "TRANSFER_STATE_COMPLETED" || rec["mode"] != "TRANSFER_MODE_BLIND" || rec["call_id"] != callID || rec["agent_extension"] != "1001" {
			t.Errorf("record %s as 110 got it: %v", k, rec)
		}
	}
	seen := map[string]bool{}
	for _, id := range listed {
		seen[id] = true
	}
	for _, id := range callIDs {
		if !seen[id] {
			t.Errorf("call %s has no transfer record", id)
		}
	}
}
