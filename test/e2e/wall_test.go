package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	hotlinev1 "github.com/hotline12345/hotline-gw/api/hotline/v1"
	"github.com/hotline12345/hotline-gw/test/labtest"
	"github.com/hotline12345/hotline-gw/test/redistest"
)

func screenshot(t *testing.T, b context.Context, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b, 10*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	path := filepath.Join(artifactsDir(t), name)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot of /wall at 1920x1080: %s (%d bytes)", path, len(png))
}

// wallView is what the page shows, read from its DOM.
type wallView struct {
	Connected     string  `json:"connected"`
	Waiting       int     `json:"waiting"`
	Oldest        string  `json:"oldest"`
	Answered      int     `json:"answered"`
	Abandoned     int     `json:"abandoned"`
	Inbound       int     `json:"inbound"`
	Line12333     lineBar `json:"line12333"`
	TargetRate    string  `json:"targetRate"` // data-value: the rate, "" when there is none
	TargetText    string  `json:"targetText"`
	ConnectRate   string  `json:"connectRate"`
	ConnectText   string  `json:"connectText"`
	ConnectAlarm  bool    `json:"connectAlarm"`
	OldestAlarm   bool    `json:"oldestAlarm"`
	Banner        string  `json:"banner"`
	BannerVisible bool    `json:"bannerVisible"`
	Agent1001     string  `json:"agent1001"`
	// Refused with congestion: today's count, the KPI red, the warning.
	Shed        int    `json:"shed"`
	ShedAlarm   bool   `json:"shedAlarm"`
	ShedWarning string `json:"shedWarning"`
	ShedShown   bool   `json:"shedShown"`
	Shedding    string `json:"shedding"`
	Line12333In string `json:"line12333In"` // the text of the 12333 inbound bar
}

type lineBar struct {
	Inbound  int `json:"inbound"`
	Answered int `json:"answered"`
	Waiting  int `json:"waiting"`
	Shed     int `json:"shed"`
}

const readWall = `(() => {
  const $ = (id) => document.getElementById(id);
  const row = document.querySelector('[data-line="12333"]');
  const agent = document.querySelector('[data-ext="1001"]');
  return {
    connected: document.body.dataset.connected || '',
    waiting: +$('waiting').textContent, oldest: $('oldest').textContent,
    answered: +$('answered').textContent, abandoned: +$('abandoned').textContent, inbound: +$('inbound').textContent,
    line12333: row ? {inbound: +row.dataset.inbound, answered: +row.dataset.answered, waiting: +row.dataset.waiting, shed: +row.dataset.shed} : {inbound: -1, answered: -1, waiting: -1, shed: -1},
    line12333In: row ? row.querySelector('.bar.in span').textContent : '',
    shed: +$('shed').textContent, shedAlarm: $('kpi-shed').classList.contains('alarm'),
    shedWarning: $('shed-warning').textContent, shedShown: !$('shed-warning').hidden, shedding: document.body.dataset.shedding || '',
    targetRate: $('target-rate').dataset.value || '', targetText: $('target-rate').textContent,
    connectRate: $('connect-rate').dataset.value || '', connectText: $('connect-rate').textContent,
    connectAlarm: $('kpi-connect').classList.contains('alarm'), oldestAlarm: $('kpi-oldest').classList.contains('alarm'),
    banner: $('banner').textContent, bannerVisible: !$('banner').hidden,
    agent1001: agent ? agent.dataset.state : '',
  };
})()`

func view(b context.Context) (wallView, error) {
	var v wallView
	ctx, cancel := context.WithTimeout(b, 5*time.Second)
	defer cancel()
	raw, err := chromedp.Run(ctx, chromedp.Evaluate[json.RawMessage](readWall))
	if err != nil {
		return v, err
	}
	return v, json.Unmarshal(raw, &v)
}

// within waits until the page shows what ok wants, at most d from start,
// and returns how long it took from start.
func within(t *testing.T, b context.Context, start time.Time, d time.Duration, what string, ok func(wallView) bool) time.Duration {
	t.Helper()
	var last wallView
	var err error
	for time.Since(start) < d {
		if last, err = view(b); err == nil && ok(last) {
			took := time.Since(start)
			t.Logf("wall shows %s %v after the change", what, took.Round(time.Millisecond))
			return took
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("the wall does not show %s within %v of the change: %+v (%v)", what, d, last, err)
	return 0
}

func rateOf(s string) float64 {
	var r float64
	if _, err := fmt.Sscan(s, &r); err != nil {
		return math.NaN()
	}
	return r
}

// The wall screen in a real browser against a lab gateway: a call to 12333
// with no ready agent appears (waiting +1) within 2 s, its answer adds 1 to
// the 12333 bar within 2 s; after one answered and one abandoned call the
// 15-second answer rate and the connect rate are what their definitions
// give from the day's counts, the connect rate turns red under 95% and
// the oldest wait turns red past 15 s; a stopped gateway shows 连接中断.
func TestWallShowsLiveFigures(t *testing.T) {
	labtest.RequireLab(t)
	rd := redistest.Start(t)
	sink := labtest.StartSink(t, "", "")
	g := labtest.StartGateway(t, labtest.GatewayOptions{RedisAddrs: []string{rd.Addr},
		Extra: labtest.AgentsYAML(sink.Addr, "") + "live: {refresh_interval: 250ms}\n"})
	labtest.StartPhone(t, "1001", labtest.Answer)
	b := browser(t)

	loginWall(t, b, g.HTTP)
	v0, err := view(b)
	if err != nil {
		t.Fatal(err)
	}
	if v0.Waiting != 0 || v0.Line12333.Answered != 0 || v0.TargetRate != "" || v0.TargetText != "—" || v0.BannerVisible {
		t.Fatalf("a fresh day on the wall: %+v; want nothing waiting, no answer, no rate, no banner", v0)
	}

	// Call 1 to 12333, no agent logged in: it waits in the renshe queue.
	call1 := labtest.StartCalls(t, labtest.Calls{DID: "12333", Caller: "13900000011", Duration: 10 * time.Second})
	labtest.Eventually(t, 10*time.Second, func() error {
		if n, err := labtest.QueueWaiting(t, rd.Addr, "renshe"); err != nil || n != 1 {
			return fmt.Errorf("renshe queue: %d waiting (%v)", n, err)
		}
		return nil
	})
	queued := time.Now()
	within(t, b, queued, 2*time.Second, "waiting +1", func(v wallView) bool {
		return v.Waiting == v0.Waiting+1 && v.Line12333.Waiting == 1 && v.Inbound == v0.Inbound+1
	})
	screenshot(t, b, "wall-1920x1080-waiting.png")

	// Agent 1001 (renshe) logs in ready: the call is offered and answered.
	d := labtest.OpenDesktop(t, g, "1001", "renshe")
	labtest.Eventually(t, 10*time.Second, func() error {
		for _, ev := range d.Events() {
			if p := ev.GetProgress(); p != nil && p.Kind == hotlinev1.CallProgress_KIND_CONNECTED {
				return nil
			}
		}
		return fmt.Errorf("agent 1001 not connected yet: %v", d.Events())
	})
	answered := time.Now()
	within(t, b, answered, 2*time.Second, "the 12333 bar +1 (answered)", func(v wallView) bool {
		return v.Line12333.Answered == v0.Line12333.Answered+1 && v.Waiting == 0 && v.Agent1001 == "on_call"
	})
	if res := <-call1; res.Successful != 1 {
		t.Fatalf("call 1: %+v", res)
	}
	// One call offered, answered within 15 s: both rates 100%.
	within(t, b, time.Now(), 3*time.Second, "rates 100%", func(v wallView) bool {
		return rateOf(v.TargetRate) == 1 && v.TargetText == "100.0%" && rateOf(v.ConnectRate) == 1 && !v.ConnectAlarm
	})

	// Call 2 with the agent paused: the caller waits 18 s and hangs up
	// (abandoned in the queue); past 15 s the oldest wait is red.
	labtest.Eventually(t, 10*time.Second, func() error {
		if s := d.State(t).State; s != hotlinev1.AgentState_AGENT_STATE_READY {
			return fmt.Errorf("agent 1001 is %v after its call", s)
		}
		return nil
	})
	pctx, pc := context.WithTimeout(d.Auth(context.Background()), 5*time.Second)
	_, err = d.Client().SetState(pctx, &hotlinev1.SetStateRequest{Extension: "1001", State: hotlinev1.AgentState_AGENT_STATE_PAUSED, Reason: "break"})
	pc()
	if err != nil {
		t.Fatalf("pause 1001: %v", err)
	}
	call2 := labtest.StartCalls(t, labtest.Calls{DID: "12333", Caller: "13900000012", Duration: 18 * time.Second})
	labtest.Eventually(t, 10*time.Second, func() error {
		if n, err := labtest.QueueWaiting(t, rd.Addr, "renshe"); err != nil || n != 1 {
			return fmt.Errorf("renshe queue: %d waiting (%v)", n, err)
		}
		return nil
	})
	queued = time.Now()
	within(t, b, queued, 17*time.Second+2*time.Second, "the oldest wait red past 15 s", func(v wallView) bool {
		return v.Waiting == 1 && v.OldestAlarm
	})
	screenshot(t, b, "wall-1920x1080-oldest-wait-red.png")
	if res := <-call2; res.Successful != 1 {
		t.Fatalf("call 2: %+v", res)
	}

	// The expected rates from the definitions, over the day's counts as
	// the StatsService reports them: offered = inbound − abandoned in the
	// greeting; 15-second answer rate = answered within 15 s / offered;
	// connect rate = answered / offered.
	var want15, wantConnect float64
	labtest.Eventually(t, 10*time.Second, func() error {
		st, err := getStats(g, today(), today())
		if err != nil {
			return err
		}
		if st.InboundTotal != 2 || st.AbandonedQueue != 1 || st.Answered != 1 {
			return fmt.Errorf("counts: inbound %d answered %d abandoned in queue %d; want 2, 1, 1", st.InboundTotal, st.Answered, st.AbandonedQueue)
		}
		offered := float64(st.InboundTotal - st.AbandonedGreeting)
		want15, wantConnect = float64(st.AnsweredWithinTarget)/offered, float64(st.Answered)/offered
		return nil
	})
	if want15 != 0.5 || wantConnect != 0.5 {
		t.Errorf("from the counts: 15-s rate %v, connect rate %v; the scenario gives 1/2 and 1/2", want15, wantConnect)
	}
	v := within(t, b, time.Now(), 3*time.Second, "the rates after one answered and one abandoned call", func(v wallView) bool {
		return math.Abs(rateOf(v.TargetRate)-want15) < 1e-9 && math.Abs(rateOf(v.ConnectRate)-wantConnect) < 1e-9 &&
			v.ConnectAlarm && v.Abandoned == v0.Abandoned+1 && v.Answered == v0.Answered+1
	})
	_ = v
	final, _ := view(b)
	if final.TargetText != "50.0%" || final.ConnectText != "50.0%" {
		t.Errorf("rates shown %q and %q; want 50.0%%", final.TargetText, final.ConnectText)
	}
	screenshot(t, b, "wall-1920x1080.png")

	// The gateway stops: the wall says so (not ready while it drains, then
	// 连接中断 once it is gone).
	if _, err := g.Terminate(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	within(t, b, time.Now(), 5*time.Second, "连接中断", func(v wallView) bool {
		return v.BannerVisible && strings.Contains(v.Banner, "连接中断") && v.Connected == "0"
	})
	screenshot(t, b, "wall-1920x1080-disconnected.png")
}

// Calls refused with congestion on the wall, in a real browser against a
// lab gateway that takes one call at a time (admission.max_calls: 1, no
// agents): while a call to 12333 waits, the next one is refused (SIP 503);
// within 3 s the wall shows 拥塞拒接 1 (today, in total and on the 12333
// bar) and, the refusal being under a minute old, the KPI red and the
// warning 正在拒接来电.
func TestWallShowsCallsRefusedWithCongestion(t *testing.T) {
	labtest.RequireLab(t)
	rd := redistest.Start(t)
	g := labtest.StartGateway(t, labtest.GatewayOptions{RedisAddrs: []string{rd.Addr},
		Extra: "admission: {max_calls: 1}\nlive: {refresh_interval: 250ms}\n"})
	b := browser(t)
	loginWall(t, b, g.HTTP)
	v0, err := view(b)
	if err != nil {
		t.Fatal(err)
	}
	if v0.Shed != 0 || v0.ShedShown || v0.ShedAlarm || v0.Line12333.Shed != 0 {
		t.Fatalf("a fresh day on the wall: %+v; want nothing refused, no warning", v0)
	}

	waiting := labtest.StartCalls(t, labtest.Calls{DID: "12333", Caller: "13900000021", Duration: 8 * time.Second})
	labtest.Eventually(t, 10*time.Second, func() error {
		if n, err := labtest.QueueWaiting(t, rd.Addr, "renshe"); err != nil || n != 1 {
			return fmt.Errorf("renshe queue: %d waiting (%v)", n, err)
		}
		return nil
	})
	res := labtest.PlaceCalls(t, labtest.Calls{DID: "12333", Caller: "13900000022", Duration: time.Second})
	if res.Failed != 1 || res.SIPpSuccessful != 0 {
		t.Fatalf("the second call with one already taken (max_calls 1): want refused before answer: %v", res)
	}
	refused := time.Now()
	within(t, b, refused, 3*time.Second, "拥塞拒接 1 and the warning", func(v wallView) bool {
		return v.Shed == 1 && v.Line12333.Shed == 1 && strings.Contains(v.Line12333In, "拒接 1") &&
			v.ShedAlarm && v.ShedShown && v.Shedding == "1" && strings.Contains(v.ShedWarning, "正在拒接来电") &&
			strings.Contains(v.ShedWarning, "近1分钟拥塞拒接 1 通")
	})
	screenshot(t, b, "wall-1920x1080-shedding.png")
	if r := <-waiting; r.Successful != 1 {
		t.Fatalf("the call taken: %v", r)
	}
}

// loginWall opens the wall page of the gateway at httpAddr in b and logs
// in with the wall's token through the page's form.
func loginWall(t *testing.T, b context.Context, httpAddr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx,
		chromedp.Navigate("http://"+httpAddr+"/wall"),
		chromedp.WaitVisible(chromedp.ID("token")),
		chromedp.SendKeys(chromedp.ID("token"), labtest.WallToken),
		chromedp.Click(chromedp.ID("login-button")),
		chromedp.WaitVisible(chromedp.CSS(`body[data-connected="1"]`)),
	); err != nil {
		t.Fatalf("log in on /wall: %v", err)
	}
}
