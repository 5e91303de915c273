package main

import (
	"bufio"
	"io"
	"os"
	"strconv"
	"strings"
)

// callerTimes is one call as the caller's SIPp logged it (uac_bench.xml):
// INVITE sent and 200 OK received, Unix seconds.
type callerTimes struct {
	invite, ok float64
}

// parseCallerLog reads "setup <number> <s> <us> <s> <us>" lines.
func parseCallerLog(r io.Reader) map[string]callerTimes {
	out := map[string]callerTimes{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 6 || f[0] != "setup" {
			continue
		}
		inv, ok1 := tv(f[2], f[3])
		got, ok2 := tv(f[4], f[5])
		if ok1 && ok2 {
			out[f[1]] = callerTimes{invite: inv, ok: got}
		}
	}
	return out
}

// callerOutcomes are the refused and dropped calls of a caller's log.
type callerOutcomes struct {
	Refused map[string]int `json:"refused,omitempty"` // by SIP code
	// Dropped: answered calls that the far end hung up before the caller
	// (after -talk): an answered call that did not stay answered.
	Dropped int `json:"dropped_after_answer"`
}

func (c *callerOutcomes) add(o callerOutcomes) {
	for k, v := range o.Refused {
		if c.Refused == nil {
			c.Refused = map[string]int{}
		}
		c.Refused[k] += v
	}
	c.Dropped += o.Dropped
}

func (c callerOutcomes) refused() int {
	n := 0
	for _, v := range c.Refused {
		n += v
	}
	return n
}

// parseCallerOutcomes reads "refused <number> <code>" and "farbye <number>"
// lines (each caller number once).
func parseCallerOutcomes(r io.Reader) callerOutcomes {
	var out callerOutcomes
	seen := map[string]bool{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		switch {
		case len(f) >= 3 && f[0] == "refused" && !seen[f[1]]:
			seen[f[1]] = true
			if out.Refused == nil {
				out.Refused = map[string]int{}
			}
			out.Refused[f[2]]++
		case len(f) >= 2 && f[0] == "farbye" && !seen[f[1]]:
			seen[f[1]] = true
			out.Dropped++
		}
	}
	return out
}

// parseAgentLog reads "agent <caller number> <s> <us>" lines (uas_bench.xml):
// the first INVITE the agents' phone got for each caller number.
func parseAgentLog(r io.Reader) map[string]float64 {
	out := map[string]float64{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 4 || f[0] != "agent" {
			continue
		}
		if t, ok := tv(f[2], f[3]); ok {
			if _, seen := out[f[1]]; !seen {
				out[f[1]] = t
			}
		}
	}
	return out
}

// tv is SIPp's gettimeofday pair ("1796174042.000000", "200216.000000").
func tv(sec, usec string) (float64, bool) {
	s, err1 := strconv.ParseFloat(sec, 64)
	u, err2 := strconv.ParseFloat(usec, 64)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	return s + u/1e6, true
}

// setupTimes are a step's caller-side delays in ms: INVITE → 200 for every
// answered call, and INVITE → the agent's INVITE for every call whose agent
// leg reached the agents' phone.
type setupTimes struct {
	ToOK    []float64
	ToAgent []float64
}

func matchSetup(callers map[string]callerTimes, agents map[string]float64) setupTimes {
	var st setupTimes
	for num, c := range callers {
		st.ToOK = append(st.ToOK, (c.ok-c.invite)*1000)
		if a, ok := agents[num]; ok && a >= c.invite {
			st.ToAgent = append(st.ToAgent, (a-c.invite)*1000)
		}
	}
	return st
}

// readFrom returns the bytes of path from offset on (nil if none).
func readFrom(path string, offset int64) []byte {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return nil
	}
	b, _ := io.ReadAll(f)
	return b
}

func fileSize(path string) int64 {
	st, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return st.Size()
}
