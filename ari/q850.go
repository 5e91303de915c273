package ari

// CauseClass is what a Q.850 cause code (ChannelDestroyed.cause,
// ChannelHangupRequest.cause) says about a leg that ended: the one place
// the gateway reads cause numbers. Callers map classes to their own
// outcomes (busy, no answer, rejected, failed).
type CauseClass int

// Cause classes.
const (
	CauseFailed         CauseClass = iota // any other cause: a failure on the way
	CauseUnset                            // 0: no cause given
	CauseNormal                           // 16 normal clearing
	CauseBusy                             // 17 user busy
	CauseNoUserResponse                   // 18 no user responding
	CauseNoAnswer                         // 19 no answer from user (ring timeout)
	// CauseRejected: the number or the network refused the call: 1
	// unallocated number, 21 call rejected, 22 number changed, 27
	// destination out of order, 28 invalid number format, 34 no circuit
	// available, 38 network out of order.
	CauseRejected
)

// ClassifyCause returns the class of Q.850 cause code cause.
func ClassifyCause(cause int) CauseClass {
	switch cause {
	case 0:
		return CauseUnset
	case 16:
		return CauseNormal
	case 17:
		return CauseBusy
	case 18:
		return CauseNoUserResponse
	case 19:
		return CauseNoAnswer
	case 1, 21, 22, 27, 28, 34, 38:
		return CauseRejected
	}
	return CauseFailed
}
