package ari

import "testing"

func TestClassifyCause(t *testing.T) {
	for cause, want := range map[int]CauseClass{
		0: CauseUnset, 16: CauseNormal, 17: CauseBusy, 18: CauseNoUserResponse, 19: CauseNoAnswer,
		1: CauseRejected, 21: CauseRejected, 22: CauseRejected, 27: CauseRejected, 28: CauseRejected,
		34: CauseRejected, 38: CauseRejected, 3: CauseFailed, 31: CauseFailed, 41: CauseFailed, 127: CauseFailed,
	} {
		if got := ClassifyCause(cause); got != want {
			t.Errorf("ClassifyCause(%d) = %d, want %d", cause, got, want)
		}
	}
}
