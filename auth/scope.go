package auth

import (
	"google.golang.org/protobuf/proto"

	hotlinev1 "github.com/hotline12345/hotline-gw/api/hotline/v1"
)

// VisibleTransfer reports whether p may read transfer record r: a
// supervisor and 110 read every record (each is a transfer to or from 110),
// an agent only the records of its own calls, nobody else any.
func VisibleTransfer(p Principal, r *hotlinev1.TransferRecord) bool {
	switch p.Role {
	case RoleSupervisor, RolePolice110:
		return true
	case RoleAgent:
		return p.Extension != "" && r.GetAgentExtension() == p.Extension
	}
	return false
}

// FilterTransfers returns the records of recs that p may read, in order.
// ListTransfers applies it to its answer.
func FilterTransfers(p Principal, recs []*hotlinev1.TransferRecord) []*hotlinev1.TransferRecord {
	out := make([]*hotlinev1.TransferRecord, 0, len(recs))
	for _, r := range recs {
		if VisibleTransfer(p, r) {
			out = append(out, r)
		}
	}
	return out
}

// MaskCallback returns t as p may see it: a supervisor sees every task
// whole; an agent sees the caller's number only of a task it has claimed
// (or completed) itself, masked otherwise (MaskNumber); nobody else sees a
// number. t itself is not modified.
func MaskCallback(p Principal, t *hotlinev1.CallbackTask) *hotlinev1.CallbackTask {
	if p.Role == RoleSupervisor {
		return t
	}
	if p.Role == RoleAgent && p.Extension != "" && t.GetState() != "open" && t.GetClaimedBy() == p.Extension {
		return t
	}
	c := proto.CloneOf(t)
	c.CallerNumber = MaskNumber(t.GetCallerNumber())
	return c
}

// MaskCallbacks applies MaskCallback to each task; ListCallbacks applies
// it to its answer.
func MaskCallbacks(p Principal, ts []*hotlinev1.CallbackTask) []*hotlinev1.CallbackTask {
	out := make([]*hotlinev1.CallbackTask, len(ts))
	for i, t := range ts {
		out[i] = MaskCallback(p, t)
	}
	return out
}

// MaskNumber hides the middle of a phone number: an 11-digit mobile
// 13800138000 becomes 138****8000; numbers of 7 to 10 characters keep their
// first 2 and last 2; shorter ones are masked whole. Every masked
// character is '*' and the length is kept, so a desktop can lay it out.
func MaskNumber(n string) string {
	b := []rune(n)
	keepHead, keepTail := 0, 0
	switch {
	case len(b) >= 11:
		keepHead, keepTail = 3, 4
	case len(b) >= 7:
		keepHead, keepTail = 2, 2
	}
	for i := keepHead; i < len(b)-keepTail; i++ {
		b[i] = '*'
	}
	return string(b)
}
