package gateway

// EndResult is how a call ended, in a few words: low cardinality, fit for a
// log key or a metric label.
type EndResult int

// Call end results.
const (
	EndUnset       EndResult = iota // the call has not ended
	EndCompleted                    // talked with an agent
	EndTransferred                  // handed to 110, the agent left
	EndAbandoned                    // the caller hung up first; Reason: greeting, queue or ringing
	EndOverflowed                   // the skill group's overflow ended it
	EndRejected                     // the gateway refused it; Reason says why
	EndReturned                     // given back to the dialplan while draining
	EndHandedOver                   // another gateway took it over
	EndStopped                      // the gateway stopped while the call was live
	EndOutbound                     // an outbound call; Reason is its result (connected, busy...)
	EndOther                        // anything else; Reason says what
	EndShed                         // refused with congestion, the gateway saturated; Reason: why
)

var endResultNames = [...]string{"unset", "completed", "transferred", "abandoned", "overflowed", "rejected",
	"returned", "handed_over", "stopped", "outbound", "other", "shed"}

func (r EndResult) String() string { return endResultNames[r] }

// End is a call's typed end: a Result and, where the result needs one, a
// Reason.
type End struct {
	Result EndResult
	Reason string
}

// TicketReason is the ticket's end_reason, as the ticket system has always
// received it: "completed", "abandoned_queue", "overflow", "returned", or
// the reason itself for rejected, stopped, outbound and other ends.
func (e End) TicketReason() string {
	switch e.Result {
	case EndUnset:
		return ""
	case EndCompleted:
		return "completed"
	case EndTransferred:
		return "transferred"
	case EndAbandoned:
		return "abandoned_" + e.Reason
	case EndOverflowed:
		return "overflow"
	case EndReturned:
		return "returned"
	case EndHandedOver:
		return "handed_over"
	case EndShed:
		return "shed"
	}
	return e.Reason
}
