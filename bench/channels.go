package main

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// benchCallerPrefix starts the caller number of every bench call: the
// callers dial as benchCallerPrefix + step (3 digits) + instance (1 digit) +
// SIPp's call number, so each call of a run has its own number (the agents'
// phone logs it, and the leftover check recognises bench channels by it).
const benchCallerPrefix = "1399"

// channel is the part of an ARI channel the bench looks at.
type channel struct {
	ID     string `json:"id"`
	Name   string `json:"name"`
	Caller struct {
		Number string `json:"number"`
	} `json:"caller"`
}

// benchChannel tells whether c belongs to the bench: a caller with a bench
// caller number or a bench agent's leg (PJSIP/agent2xxx; the lab's test
// agents are 1001..1008). Other sessions' channels are never touched.
func benchChannel(c channel) bool {
	return strings.HasPrefix(c.Caller.Number, benchCallerPrefix) || strings.HasPrefix(c.Name, "PJSIP/agent2")
}

// pbx is what the leftover check needs from Asterisk (ARI in the bench, a
// fake in the tests).
type pbx interface {
	channels() ([]channel, error)
	hangup(id string) error
}

// cleanResult is the outcome of the check before a step.
type cleanResult struct {
	Found   int    `json:"found"`   // bench channels up before the step
	HungUp  int    `json:"hung_up"` // of them, hung up by the bench
	Left    int    `json:"left"`    // still up after waiting: the step is void
	Void    bool   `json:"void"`
	Why     string `json:"why,omitempty"`
	Checked bool   `json:"checked"` // false: ARI did not answer (also void)
}

// ensureClean checks that Asterisk holds no bench channel (of the previous
// path or step). If some remain it hangs them up and waits up to wait for
// them to go; if they do not, or ARI cannot be asked, the step is void: its
// numbers would be contaminated by the previous one.
func ensureClean(ctx context.Context, p pbx, wait, poll time.Duration) cleanResult {
	var r cleanResult
	list := func() ([]channel, error) {
		all, err := p.channels()
		if err != nil {
			return nil, err
		}
		var out []channel
		for _, c := range all {
			if benchChannel(c) {
				out = append(out, c)
			}
		}
		return out, nil
	}
	left, err := list()
	if err != nil {
		r.Void, r.Why = true, fmt.Sprintf("cannot list channels: %v", err)
		return r
	}
	r.Checked, r.Found = true, len(left)
	if len(left) == 0 {
		return r
	}
	for _, c := range left {
		if p.hangup(c.ID) == nil {
			r.HungUp++
		}
	}
	deadline := time.Now().Add(wait)
	for {
		if left, err = list(); err == nil && len(left) == 0 {
			return r
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			break
		}
		select {
		case <-ctx.Done():
		case <-time.After(poll):
		}
	}
	r.Void = true
	if err != nil {
		r.Why = fmt.Sprintf("%d bench channels were up before the step; then cannot list channels: %v", r.Found, err)
		return r
	}
	r.Left = len(left)
	r.Why = fmt.Sprintf("%d of %d bench channels of the previous step still up after hangup and %s", r.Left, r.Found, wait)
	return r
}

// ariPBX is the lab Asterisk over ARI (user hotline).
type ariPBX struct{}

func (ariPBX) channels() ([]channel, error) {
	var chs []channel
	err := ariGet("/channels", &chs)
	return chs, err
}

func (ariPBX) hangup(id string) error {
	req, _ := http.NewRequest(http.MethodDelete, "http://127.0.0.1:8088/ari/channels/"+id, nil)
	req.SetBasicAuth("hotline", "hotline-lab")
	resp, err := (&http.Client{Timeout: 3 * time.Second}).Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 && resp.StatusCode != http.StatusNotFound {
		return fmt.Errorf("DELETE /channels/%s: %s", id, resp.Status)
	}
	return nil
}

// benchChannels counts the bench channels Asterisk holds now.
func benchChannels(p pbx) (int, error) {
	all, err := p.channels()
	if err != nil {
		return 0, err
	}
	n := 0
	for _, c := range all {
		if benchChannel(c) {
			n++
		}
	}
	return n, nil
}
