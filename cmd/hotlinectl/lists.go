package main

import (
	"flag"
	"strconv"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	hotlinev1 "github.com/hotline12345/hotline-gw/api/hotline/v1"
	"github.com/hotline12345/hotline-gw/gateway/report"
)

// shanghai is the hotline's time zone: times are printed in it.
var shanghai = func() *time.Location {
	l, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		return time.FixedZone("CST", 8*3600)
	}
	return l
}()

func when(ts *timestamppb.Timestamp) string {
	if ts == nil || (ts.GetSeconds() == 0 && ts.GetNanos() == 0) {
		return ""
	}
	return ts.AsTime().In(shanghai).Format(time.DateTime)
}

var callbacksCommand = command{
	name: "callbacks",
	args: "[--day YYYY-MM-DD] [--open]",
	help: "call-back tasks of missed callers: abandoned in the queue or refused with congestion (CallService.ListCallbacks)",
	flags: func(fs *flag.FlagSet) func(c *client) error {
		day := fs.String("day", "", "the day, YYYY-MM-DD (Asia/Shanghai; default today)")
		open := fs.Bool("open", false, "only tasks nobody has claimed")
		return func(c *client) error {
			if *day != "" {
				if _, err := time.Parse(time.DateOnly, *day); err != nil {
					return badUsage("--day %q is not a date like 2026-11-26", *day)
				}
			}
			resp, err := hotlinev1.NewCallServiceClient(c.conn).ListCallbacks(c.ctx, &hotlinev1.ListCallbacksRequest{Day: *day, OpenOnly: *open})
			if err != nil {
				return err
			}
			if c.json {
				return c.printJSON(resp)
			}
			return CallbacksTable(resp).WriteText(c.stdout)
		}
	},
}

// callbackStates names a task's state in the administrator's words.
var callbackStates = map[string]string{"open": "待回拨", "claimed": "已认领", "done": "已回拨"}

// callbackReasons names why the citizen was missed (the day's first call).
var callbackReasons = map[string]string{"shed": "拥塞拒接", "abandoned": "排队放弃", "requested": "预约回拨"}

// CallbacksTable is one row per call-back task.
func CallbacksTable(resp *hotlinev1.ListCallbacksResponse) report.Table {
	t := report.Table{Header: []string{"编号", "来电号码", "线路", "未接时间", "状态", "认领坐席", "原呼叫", "回拨呼叫", "原因", "次数"}}
	for _, cb := range resp.GetCallbacks() {
		st := cb.GetState()
		if s, ok := callbackStates[st]; ok {
			st = s
		}
		why := cb.GetReason()
		if s, ok := callbackReasons[why]; ok {
			why = s
		}
		t.Rows = append(t.Rows, []string{cb.GetCallbackId(), cb.GetCallerNumber(), cb.GetLine(), when(cb.GetAbandonedAt()),
			st, cb.GetClaimedBy(), cb.GetCallId(), cb.GetOutboundCallId(), why, strconv.Itoa(int(cb.GetAttempts()))})
	}
	return t
}

var transfersCommand = command{
	name: "transfers",
	args: "[--call ID] [--limit N]",
	help: "one-key transfers to and from 110, most recent first or of one call (TransferService.ListTransfers)",
	flags: func(fs *flag.FlagSet) func(c *client) error {
		call := fs.String("call", "", "only the transfers of this call (its ticket ID)")
		limit := fs.Uint("limit", 50, "at most this many records (1-1000)")
		return func(c *client) error {
			if *limit == 0 || *limit > 1000 {
				return badUsage("--limit %d: want 1 to 1000", *limit)
			}
			resp, err := hotlinev1.NewTransferServiceClient(c.conn).ListTransfers(c.ctx,
				&hotlinev1.ListTransfersRequest{CallId: *call, Limit: uint32(*limit)})
			if err != nil {
				return err
			}
			if c.json {
				return c.printJSON(resp)
			}
			return TransfersTable(resp).WriteText(c.stdout)
		}
	},
}

var (
	transferDirections = map[string]string{"to110": "转110", "from110": "110转入"}
	transferModes      = map[hotlinev1.TransferMode]string{
		hotlinev1.TransferMode_TRANSFER_MODE_BLIND:       "盲转",
		hotlinev1.TransferMode_TRANSFER_MODE_THREE_PARTY: "三方会商",
	}
	transferStates = map[hotlinev1.TransferState]string{
		hotlinev1.TransferState_TRANSFER_STATE_REQUESTED:   "已请求",
		hotlinev1.TransferState_TRANSFER_STATE_DIALING:     "呼叫中",
		hotlinev1.TransferState_TRANSFER_STATE_RINGING:     "振铃中",
		hotlinev1.TransferState_TRANSFER_STATE_ANSWERED:    "已接通",
		hotlinev1.TransferState_TRANSFER_STATE_THREE_PARTY: "三方通话中",
		hotlinev1.TransferState_TRANSFER_STATE_COMPLETED:   "已完成",
		hotlinev1.TransferState_TRANSFER_STATE_CANCELLED:   "已取消",
		hotlinev1.TransferState_TRANSFER_STATE_FAILED:      "失败",
	}
)

func named[K comparable](m map[K]string, k K, fallback string) string {
	if s, ok := m[k]; ok {
		return s
	}
	return fallback
}

// TransfersTable is one row per transfer record.
func TransfersTable(resp *hotlinev1.ListTransfersResponse) report.Table {
	t := report.Table{Header: []string{"转接编号", "呼叫", "方向", "方式", "状态", "结果", "坐席", "申请时间", "接通时间", "结束时间", "110编号", "备注"}}
	for _, r := range resp.GetTransfers() {
		t.Rows = append(t.Rows, []string{r.GetTransferId(), r.GetCallId(),
			named(transferDirections, r.GetDirection(), r.GetDirection()),
			named(transferModes, r.GetMode(), r.GetMode().String()),
			named(transferStates, r.GetState(), r.GetState().String()),
			r.GetOutcome(), r.GetAgentExtension(),
			when(r.GetRequestedAt()), when(r.GetAnsweredAt()), when(r.GetEndedAt()), r.GetPoliceReference(), r.GetNote()})
	}
	return t
}
