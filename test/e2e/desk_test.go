package e2e

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/hotline12345/hotline-gw/test/labtest"
)

// sippStamp matches the header of one message in a SIPp -trace_msg log.
var sippStamp = regexp.MustCompile(`^-+ (\d{4}-\d{2}-\d{2})\s+(\d{2}:\d{2}:\d{2}\.\d+)`)

// firstInviteAt is when the SIPp UAS whose -message_file is path received
// its first INVITE (SIPp writes local time).
func firstInviteAt(path string) (time.Time, error) {
	f, err := os.Open(path)
	if err != nil {
		return time.Time{}, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var stamp string
	received := false
	for sc.Scan() {
		line := sc.Text()
		if m := sippStamp.FindStringSubmatch(line); m != nil {
			stamp, received = m[1]+" "+m[2], false
			continue
		}
		if strings.Contains(line, "message received") {
			received = true
			continue
		}
		if received && strings.HasPrefix(line, "INVITE ") {
			return time.ParseInLocation("2006-01-02 15:04:05.999999", stamp, time.Local)
		}
	}
	return time.Time{}, fmt.Errorf("%s: no INVITE received", path)
}

// The agent's desk in a real browser: seat 1001 logs in with its token and
// goes ready; a citizen calls 12345; the screen pop is on the page before
// the seat's SIPp phone receives the INVITE; the agent presses the blind
// transfer button and the citizen ends up in a bridge with the 110 SIPp UAS,
// which got the INVITE; the page shows the transfer completed. A 1920×1080
// screenshot is kept.
func TestDeskScreenPopBeforeRingAndBlindTransfer(t *testing.T) {
	// The desk in a browser reads the pop over HTTP/SSE: the gateway rings
	// the phone 300ms after the desktop stream got it (acd.screen_pop_lead).
	l := startRoutingLabExtra(t, "  screen_pop_lead: 300ms\n", transferYAML)
	msgDir := t.TempDir()
	phoneLog, policeLog := filepath.Join(msgDir, "phone1001.log"), filepath.Join(msgDir, "police110.log")
	labtest.StartUAS(t, "110", 5310, labtest.Answer, "-trace_msg", "-message_file", policeLog)
	labtest.StartPhone(t, "1001", labtest.Answer, "-set", "ring", "1000", "-trace_msg", "-message_file", phoneLog)

	ctx := browser(t)
	ctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	url := "http://" + l.g.HTTP + "/desk"
	if err := chromedp.Do(ctx,
		chromedp.Navigate(url),
		chromedp.WaitVisible(`#gw-status[data-status="ready"]`),
		chromedp.SendKeys("#ext", "1001"),
		chromedp.SendKeys("#token", labtest.AgentToken("1001")),
		chromedp.SetValue("#skills", "general"),
		chromedp.Click("#login"),
		chromedp.WaitVisible(`#stream-status[data-status="open"]`),
		chromedp.WaitVisible(`#agent-state[data-state="AGENT_STATE_PAUSED"]`),
		chromedp.Click("#ready"),
		chromedp.WaitVisible(`#agent-state[data-state="AGENT_STATE_READY"]`),
	); err != nil {
		t.Fatalf("log in and go ready on %s: %v", url, err)
	}
	if errText, _ := chromedp.Run(ctx, chromedp.Text("#error")); errText != "" {
		t.Errorf("the desk shows an error after login: %q", errText)
	}

	done := labtest.StartCalls(t, labtest.Calls{DID: "12345", Caller: "13900008800", Duration: 12 * time.Second})
	if err := chromedp.Do(ctx, chromedp.WaitVisible(`#pop[data-active="true"]`)); err != nil {
		t.Fatalf("screen pop: %v", err)
	}
	attr := func(name string) string {
		t.Helper()
		a, err := chromedp.Run(ctx, chromedp.AttributeValue("#pop", name))
		if err != nil || !a.Exists {
			t.Fatalf("#pop %s: %v", name, err)
		}
		return a.Value
	}
	shownAt, callID := attr("data-shown-at"), attr("data-call-id")
	if c, _ := chromedp.Run(ctx, chromedp.Text("#pop-caller")); c != "13900008800" {
		t.Errorf("the pop shows caller %q, want 13900008800", c)
	}
	if line, _ := chromedp.Run(ctx, chromedp.Text("#pop-line")); !strings.Contains(line, "12345") {
		t.Errorf("the pop shows line %q, want 12345 and its name", line)
	}
	ms, err := strconv.ParseInt(shownAt, 10, 64)
	if err != nil {
		t.Fatalf("data-shown-at %q: %v", shownAt, err)
	}
	popAt := time.UnixMilli(ms)

	if err := chromedp.Do(ctx,
		chromedp.WaitEnabled("#btn-blind"),
		chromedp.Click("#btn-blind"),
	); err != nil {
		t.Fatalf("blind transfer button: %v", err)
	}
	waitParties(t, callID, caller, police)
	if err := chromedp.Do(ctx, chromedp.WaitVisible(`#xfer-status[data-state="TRANSFER_STATE_COMPLETED"]`)); err != nil {
		t.Errorf("the desk does not show the transfer completed: %v", err)
	}
	shot := filepath.Join(artifactsDir(t), "desk-1920x1080.png")
	if png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot()); err != nil {
		t.Errorf("screenshot: %v", err)
	} else if err := os.WriteFile(shot, png, 0o644); err != nil {
		t.Errorf("screenshot: %v", err)
	} else {
		t.Logf("desk screenshot: %s", shot)
	}

	inviteAt, err := firstInviteAt(phoneLog)
	if err != nil {
		t.Fatalf("agent phone: %v", err)
	}
	t.Logf("screen pop shown at %s, agent phone INVITE at %s: %v before the ring", popAt.Format("15:04:05.000"), inviteAt.Format("15:04:05.000000"), inviteAt.Sub(popAt))
	if !popAt.Before(inviteAt) {
		t.Errorf("the screen pop (%s) was not on the page before the phone got the INVITE (%s)", popAt.Format(time.RFC3339Nano), inviteAt.Format(time.RFC3339Nano))
	}
	if _, err := firstInviteAt(policeLog); err != nil {
		t.Errorf("110 UAS: %v", err)
	}
	if res := <-done; res.Successful != 1 {
		t.Fatalf("citizen's call: %+v", res)
	}
	labtest.WaitNoChannels(t, 10*time.Second)

	// The gateway goes away: the desk says so, in red, and keeps retrying.
	if _, err := l.g.Terminate(30 * time.Second); err != nil {
		t.Fatalf("stop the gateway: %v", err)
	}
	if err := chromedp.Do(ctx,
		chromedp.WaitVisible(`body[data-gateway="unreachable"] #banner`),
		chromedp.WaitVisible(`#stream-status[data-status="retrying"]`),
	); err != nil {
		t.Fatalf("the desk does not show the gateway unreachable: %v", err)
	}
	if banner, _ := chromedp.Run(ctx, chromedp.Text("#banner")); !strings.Contains(banner, "网关无法连接") {
		t.Errorf("banner %q", banner)
	}
	shot = filepath.Join(artifactsDir(t), "desk-unreachable-1920x1080.png")
	if png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot()); err == nil && os.WriteFile(shot, png, 0o644) == nil {
		t.Logf("desk screenshot (gateway unreachable): %s", shot)
	}
}
