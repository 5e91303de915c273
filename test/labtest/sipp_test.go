package labtest

import (
	"fmt"
	"testing"
	"time"
)

// SIPp against SIPp on loopback (no PBX): a call the far end hangs up at
// once is not a success of a batch the caller is to end, and the answering
// phone's log gives its peak of concurrent calls.
func TestSIPpTellsWhoHungUpAndPhonePeak(t *testing.T) {
	hangup := freeUDPPort(t)
	StartUAS(t, "hangs-up", hangup, "uas_answer_hangup.xml", "-d", "100")
	target := fmt.Sprintf("127.0.0.1:%d", hangup)
	res := PlaceCalls(t, Calls{DID: "12345", Count: 2, Duration: 3 * time.Second, Target: target})
	if res.SIPpSuccessful != 2 || res.HungUpByFarEnd != 2 || res.HungUpByCaller != 0 || res.Successful != 0 {
		t.Errorf("far end hangs up at once, caller to end: want SIPp successful 2, far end 2, caller 0, successful 0; got %v", res)
	}
	if res.AvgCallLength >= 3*time.Second {
		t.Errorf("far end hung up after 100 ms but average call length is %s", res.AvgCallLength)
	}
	res = PlaceCalls(t, Calls{DID: "12345", Count: 2, Duration: 3 * time.Second, Target: target, Ends: EndsByFarEnd})
	if res.Successful != 2 {
		t.Errorf("far end hangs up, as expected: want successful 2; got %v", res)
	}

	answer := freeUDPPort(t)
	phone := StartUAS(t, "answers", answer, Answer)
	res = PlaceCalls(t, Calls{DID: "12345", Count: 3, Rate: 10, Duration: time.Second, Target: fmt.Sprintf("127.0.0.1:%d", answer)})
	if res.Successful != 3 || res.HungUpByCaller != 3 || res.HungUpByFarEnd != 0 {
		t.Errorf("caller ends each call: want successful 3, caller 3, far end 0; got %v", res)
	}
	if res.AvgCallLength < time.Second {
		t.Errorf("average call length %s, want at least the talk time 1s", res.AvgCallLength)
	}
	Eventually(t, 5*time.Second, func() error {
		peak, calls, err := phone.PeakConcurrent()
		if err != nil {
			return err
		}
		if calls != 3 || peak != 3 {
			return fmt.Errorf("phone logged %d calls with peak %d, want 3 overlapping calls (peak 3)", calls, peak)
		}
		return nil
	})
}
