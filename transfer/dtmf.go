package transfer

import (
	"strings"
	"time"
)

// Feature is a recognised DTMF feature code.
type Feature int

const (
	NoFeature Feature = iota
	FeatureBlind
	FeatureThreeParty
	FeatureComplete
	FeatureCancel
)

func (f Feature) String() string {
	return [...]string{"none", "blind", "three_party", "complete", "cancel"}[f]
}

// Input returns the machine input of the feature, from DTMF by agentExt.
func (f Feature) Input(agentExt string) Input {
	switch f {
	case FeatureBlind:
		return Request{Mode: ModeBlind, By: ByDTMF, AgentExt: agentExt}
	case FeatureThreeParty:
		return Request{Mode: ModeThreeParty, By: ByDTMF, AgentExt: agentExt}
	case FeatureComplete:
		return Complete{By: ByDTMF}
	case FeatureCancel:
		return Cancel{By: ByDTMF}
	}
	return nil
}

// Collector recognises feature codes in the DTMF digits of the AGENT's
// channel (ChannelDtmfReceived); never feed it the caller's digits. It is
// pure: no timer, no goroutine; the inter-digit timeout is applied when the
// next digit arrives (a digit later than InterDigit after the previous one
// starts a new sequence). Not safe for concurrent use (owner goroutine).
type Collector struct {
	codes      [4]string
	feats      [4]Feature
	interDigit time.Duration
	buf        string
	last       time.Time
}

// NewCollector returns a collector for codes (validated).
func NewCollector(codes FeatureCodes, interDigit time.Duration) (*Collector, error) {
	if err := ValidateCodes(codes); err != nil {
		return nil, err
	}
	if interDigit <= 0 {
		interDigit = 2 * time.Second
	}
	return &Collector{
		codes:      [4]string{codes.Blind, codes.ThreeParty, codes.Complete, codes.Cancel},
		feats:      [4]Feature{FeatureBlind, FeatureThreeParty, FeatureComplete, FeatureCancel},
		interDigit: interDigit,
	}, nil
}

// Feed adds one digit received at `at` and returns the feature it
// completes, or NoFeature. Anything that is not a DTMF digit resets the
// sequence.
func (c *Collector) Feed(digit string, at time.Time) Feature {
	if len(digit) != 1 || !isDTMF(digit[0]) {
		c.Reset()
		return NoFeature
	}
	if c.buf != "" && at.Sub(c.last) > c.interDigit {
		c.buf = ""
	}
	c.last = at
	c.buf += digit
	// Keep the longest suffix that can still become a code.
	for c.buf != "" && !c.isPrefix(c.buf) {
		c.buf = c.buf[1:]
	}
	for i, code := range c.codes {
		if c.buf == code {
			c.buf = ""
			return c.feats[i]
		}
	}
	return NoFeature
}

// Pending returns the digits collected so far (for logs and tests).
func (c *Collector) Pending() string { return c.buf }

// Reset forgets the digits collected so far.
func (c *Collector) Reset() { c.buf = "" }

func (c *Collector) isPrefix(s string) bool {
	for _, code := range c.codes {
		if strings.HasPrefix(code, s) {
			return true
		}
	}
	return false
}
