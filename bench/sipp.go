package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// load is one bounded batch of calls placed by four SIPp UAC instances (one
// per DID; the rate is split evenly: each runs rate calls per 4 s).
type load struct {
	DIDs  [4]string
	Rate  int // total calls per second
	Calls int // total calls (bounded)
	Talk  time.Duration
	Limit int // total concurrent calls allowed to SIPp
	Seq   int // step number in the run (0..999): part of every caller number
	Dir   string
}

type loadResult struct {
	Calls, OK, Failed int
	Wall              time.Duration
	SetupMS           float64 // mean INVITE → 200 (SIPp response time "setup")
	AchievedRate      float64
	ExitCodes         []int
	rates             []float64 // per instance, from its stat file (0: unknown)
	// Callers: each answered call's INVITE sent / 200 received, by caller
	// number (the callers' -trace_logs).
	Callers map[string]callerTimes
	// Outcomes: refused (by SIP code) and dropped-after-answer calls.
	Outcomes callerOutcomes
}

// runLoad places the batch and waits for it, bounded by the batch size plus
// a generous timeout.
func runLoad(ctx context.Context, repo string, l load) loadResult {
	per := l.Calls / 4
	var wg sync.WaitGroup
	res := loadResult{ExitCodes: make([]int, 4), Callers: map[string]callerTimes{}}
	var mu sync.Mutex
	var setupSum float64
	var setupN int
	start := time.Now()
	bound := time.Duration(l.Calls/l.Rate)*time.Second + l.Talk + 90*time.Second
	for i := 0; i < 4; i++ {
		n := per
		if i == 0 {
			n += l.Calls - 4*per
		}
		wg.Add(1)
		go func(i, n int) {
			defer wg.Done()
			stat := filepath.Join(l.Dir, fmt.Sprintf("uac%d.csv", i))
			logFile := filepath.Join(l.Dir, fmt.Sprintf("uac%d.log", i))
			args := []string{
				"-sf", filepath.Join(repo, "bench", "sipp", "uac_bench.xml"),
				"-s", l.DIDs[i], "-set", "caller", fmt.Sprintf("%s%03d%d", benchCallerPrefix, l.Seq%1000, i),
				"-trace_logs", "-log_file", logFile,
				"-i", "127.0.0.1", "-p", strconv.Itoa(freePort("udp")),
				"-m", strconv.Itoa(n), "-r", strconv.Itoa(l.Rate), "-rp", "4000",
				"-l", strconv.Itoa(max(10, l.Limit/4+1)),
				"-d", strconv.Itoa(int(l.Talk / time.Millisecond)),
				"-timeout", strconv.Itoa(int(bound/time.Second)) + "s", "-timeout_error",
				"-recv_timeout", "30000", "-nostdin",
				"-trace_stat", "-stf", stat, "-fd", "1",
				"127.0.0.1:5060",
			}
			cctx, cancel := context.WithTimeout(ctx, bound+10*time.Second)
			defer cancel()
			cmd := exec.CommandContext(cctx, "sipp", args...)
			cmd.Dir = l.Dir
			out, _ := cmd.CombinedOutput()
			_ = os.WriteFile(filepath.Join(l.Dir, fmt.Sprintf("uac%d.out", i)), out, 0o644)
			code := -1
			if cmd.ProcessState != nil {
				code = cmd.ProcessState.ExitCode()
			}
			row := lastRow(stat)
			var callers map[string]callerTimes
			var outcomes callerOutcomes
			if f, err := os.Open(logFile); err == nil {
				callers = parseCallerLog(f)
				_, _ = f.Seek(0, io.SeekStart)
				outcomes = parseCallerOutcomes(f)
				f.Close()
			}
			mu.Lock()
			defer mu.Unlock()
			for k, v := range callers {
				res.Callers[k] = v
			}
			res.Outcomes.add(outcomes)
			res.ExitCodes[i] = code
			res.rates = append(res.rates, creationRate(stat, n))
			res.Calls += n
			ok, failed := row.int("SuccessfulCall(C)"), row.int("FailedCall(C)")
			if ok+failed < n { // calls SIPp never finished count as failed
				failed = n - ok
			}
			res.OK += ok
			res.Failed += failed
			if ms := row.duration("ResponseTimesetup(C)"); ms >= 0 && ok > 0 {
				setupSum += ms * float64(ok)
				setupN += ok
			}
		}(i, n)
	}
	wg.Wait()
	res.Wall = time.Since(start)
	if setupN > 0 {
		res.SetupMS = setupSum / float64(setupN)
	}
	// Creation rate: from the stat files (sum of the instances) when each
	// has enough rows, else from the wall time (the last call is created at
	// about Wall − setup − talk; this underestimates short batches).
	sum, known := 0.0, true
	for _, r := range res.rates {
		sum += r
		known = known && r > 0
	}
	if known && len(res.rates) == 4 {
		res.AchievedRate = sum
	} else if create := res.Wall - l.Talk - time.Duration(res.SetupMS*float64(time.Millisecond)); create > 0 {
		res.AchievedRate = float64(res.Calls) / create.Seconds()
	}
	return res
}

// creationRate is the call creation rate of one SIPp instance measured from
// its per-second stat rows: calls created ÷ time since start, at the last
// row before all n calls were created (0 if fewer than 3 such rows).
func creationRate(path string, n int) float64 {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) < 2 {
		return 0
	}
	head := strings.Split(lines[0], ";")
	col := map[string]int{}
	for i, h := range head {
		col[h] = i
	}
	epoch := func(f string) float64 { // "2026-11-26\t17:38:24.643612\t1795714704.643612"
		t := strings.Split(f, "\t")
		v, _ := strconv.ParseFloat(t[len(t)-1], 64)
		return v
	}
	rate, rows := 0.0, 0
	for _, l := range lines[1:] {
		f := strings.Split(l, ";")
		if len(f) <= col["TotalCallCreated"] {
			continue
		}
		created, _ := strconv.Atoi(f[col["TotalCallCreated"]])
		if created >= n {
			break
		}
		if el := epoch(f[col["CurrentTime"]]) - epoch(f[col["StartTime"]]); el > 0 && created > 0 {
			rate, rows = float64(created)/el, rows+1
		}
	}
	if rows < 3 {
		return 0
	}
	return rate
}

// statRow is the last line of a SIPp -trace_stat file, by column name.
type statRow map[string]string

func lastRow(path string) statRow {
	b, err := os.ReadFile(path)
	if err != nil {
		return statRow{}
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) < 2 {
		return statRow{}
	}
	head := strings.Split(lines[0], ";")
	last := strings.Split(lines[len(lines)-1], ";")
	r := statRow{}
	for i, h := range head {
		if i < len(last) {
			r[h] = last[i]
		}
	}
	return r
}

func (r statRow) int(col string) int {
	n, err := strconv.Atoi(r[col])
	if err != nil {
		return 0
	}
	return n
}

// duration parses SIPp's "HH:MM:SS:usec" into milliseconds (-1 if absent).
func (r statRow) duration(col string) float64 {
	f := strings.Split(r[col], ":")
	if len(f) != 4 {
		return -1
	}
	var v [4]float64
	for i, s := range f {
		v[i], _ = strconv.ParseFloat(s, 64)
	}
	return (v[0]*3600+v[1]*60+v[2])*1000 + v[3]/1000
}

// uas is the one SIPp UAS answering all 400 bench agents (127.0.0.1:5399).
type uas struct {
	*child
	stat string
	log  string // "agent <caller number> <s> <us>" per INVITE (uas_bench.xml)
}

func startUAS(repo, dir string) (*uas, error) {
	if c, err := listenUDP("127.0.0.1:5399"); err != nil {
		return nil, fmt.Errorf("udp 127.0.0.1:5399 (the bench agents' phone) is in use: %w", err)
	} else {
		c.Close()
	}
	stat := filepath.Join(dir, "uas.csv")
	logFile := filepath.Join(dir, "uas.log")
	c, err := startChild("sipp-uas", filepath.Join(dir, "uas.out"), "sipp",
		"-sf", filepath.Join(repo, "bench", "sipp", "uas_bench.xml"),
		"-i", "127.0.0.1", "-p", "5399", "-nostdin", "-trace_logs", "-log_file", logFile,
		"-trace_stat", "-stf", stat, "-fd", "1")
	if err != nil {
		return nil, err
	}
	time.Sleep(300 * time.Millisecond)
	if c.exited() {
		return nil, fmt.Errorf("sipp UAS on 5399 exited; see %s/uas.out", dir)
	}
	return &uas{child: c, stat: stat, log: logFile}, nil
}

// calls is the number of INVITEs the agents' phone received so far (the
// stat file is written every second).
func (u *uas) calls() int { return lastRow(u.stat).int("TotalCallCreated") }
