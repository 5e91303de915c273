package main

import (
	"flag"
	"fmt"
	"strconv"
	"strings"

	hotlinev1 "github.com/hotline12345/hotline-gw/api/hotline/v1"
	"github.com/hotline12345/hotline-gw/gateway/report"
)

// The administrator's view of the shared state (AdminService): agents,
// queues, live calls, dead-lettered tickets.

var agentsCommand = command{
	name: "agents",
	help: "every agent the pool knows, with its state (AdminService.ListAgents)",
	flags: func(fs *flag.FlagSet) func(c *client) error {
		return func(c *client) error {
			resp, err := hotlinev1.NewAdminServiceClient(c.conn).ListAgents(c.ctx, &hotlinev1.ListAgentsRequest{})
			if err != nil {
				return err
			}
			if c.json {
				return c.printJSON(resp)
			}
			return AgentsTable(resp).WriteText(c.stdout)
		}
	},
}

var agentStates = map[hotlinev1.AgentState]string{
	hotlinev1.AgentState_AGENT_STATE_LOGGED_OUT: "已登出",
	hotlinev1.AgentState_AGENT_STATE_READY:      "空闲",
	hotlinev1.AgentState_AGENT_STATE_PAUSED:     "示忙",
	hotlinev1.AgentState_AGENT_STATE_RINGING:    "振铃",
	hotlinev1.AgentState_AGENT_STATE_ON_CALL:    "通话中",
	hotlinev1.AgentState_AGENT_STATE_WRAP_UP:    "话后整理",
}

// AgentsTable is one row per agent.
func AgentsTable(resp *hotlinev1.ListAgentsResponse) report.Table {
	t := report.Table{Header: []string{"分机", "状态", "原因", "技能组", "状态开始", "呼叫"}}
	for _, a := range resp.GetAgents() {
		t.Rows = append(t.Rows, []string{a.GetExtension(), named(agentStates, a.GetState(), a.GetState().String()), a.GetReason(),
			strings.Join(a.GetSkills(), ","), when(a.GetStateSince()), a.GetCallId()})
	}
	return t
}

var queueCommand = command{
	name: "queue",
	args: "[--skill SKILL]",
	help: "calls waiting for an agent, by skill group in offer order (AdminService.ListQueue)",
	flags: func(fs *flag.FlagSet) func(c *client) error {
		skill := fs.String("skill", "", "only this skill group's queue (default: every line's)")
		return func(c *client) error {
			resp, err := hotlinev1.NewAdminServiceClient(c.conn).ListQueue(c.ctx, &hotlinev1.ListQueueRequest{Skill: *skill})
			if err != nil {
				return err
			}
			if c.json {
				return c.printJSON(resp)
			}
			return QueueTable(resp).WriteText(c.stdout)
		}
	},
}

// QueueTable is one row per waiting call.
func QueueTable(resp *hotlinev1.ListQueueResponse) report.Table {
	t := report.Table{Header: []string{"技能组", "排位", "呼叫", "优先", "进入时间"}, Numeric: []bool{false, true}}
	for _, q := range resp.GetCalls() {
		prio := ""
		if q.GetPriority() {
			prio = "是"
		}
		t.Rows = append(t.Rows, []string{q.GetSkill(), strconv.Itoa(int(q.GetPosition())), q.GetCallId(), prio, when(q.GetEntered())})
	}
	return t
}

var callsCommand = command{
	name: "calls",
	help: "live calls on every gateway instance, oldest first (AdminService.ListCalls)",
	flags: func(fs *flag.FlagSet) func(c *client) error {
		return func(c *client) error {
			resp, err := hotlinev1.NewAdminServiceClient(c.conn).ListCalls(c.ctx, &hotlinev1.ListCallsRequest{})
			if err != nil {
				return err
			}
			if c.json {
				return c.printJSON(resp)
			}
			return CallsTable(resp).WriteText(c.stdout)
		}
	},
}

var callEntries = map[string]string{"inbound": "呼入", "from110": "110转入", "outbound": "呼出"}

// CallsTable is one row per live call.
func CallsTable(resp *hotlinev1.ListCallsResponse) report.Table {
	t := report.Table{Header: []string{"呼叫", "类型", "线路", "主线路", "技能组", "来电号码", "开始时间", "网关实例"}}
	for _, c := range resp.GetCalls() {
		t.Rows = append(t.Rows, []string{c.GetCallId(), named(callEntries, c.GetEntry(), c.GetEntry()), c.GetLine(), c.GetMainLine(),
			c.GetSkill(), c.GetCallerNumber(), when(c.GetEntered()), c.GetInstance()})
	}
	return t
}

var ticketsDeadCommand = command{
	name: "tickets dead",
	args: "[--limit N]",
	help: "tickets the ticket system refused for good (dead letters), oldest first (AdminService.ListDeadTickets)",
	flags: func(fs *flag.FlagSet) func(c *client) error {
		limit := fs.Uint("limit", 100, "at most this many (1-1000)")
		return func(c *client) error {
			if *limit == 0 || *limit > 1000 {
				return badUsage("--limit %d: want 1 to 1000", *limit)
			}
			resp, err := hotlinev1.NewAdminServiceClient(c.conn).ListDeadTickets(c.ctx, &hotlinev1.ListDeadTicketsRequest{Limit: uint32(*limit)})
			if err != nil {
				return err
			}
			if c.json {
				return c.printJSON(resp)
			}
			if err := DeadTable(resp).WriteText(c.stdout); err != nil {
				return err
			}
			if resp.GetMore() {
				_, err = fmt.Fprintf(c.stdout, "(more than %d; raise --limit)\n", *limit)
			}
			return err
		}
	},
}

// DeadTable is one row per dead letter.
func DeadTable(resp *hotlinev1.ListDeadTicketsResponse) report.Table {
	t := report.Table{Header: []string{"死信编号", "工单", "原因", "尝试次数", "转入时间", "网关实例", "错误"}, Numeric: []bool{false, false, false, true}}
	for _, d := range resp.GetTickets() {
		t.Rows = append(t.Rows, []string{d.GetId(), d.GetTicketId(), d.GetReason(), strconv.Itoa(int(d.GetAttempts())),
			when(d.GetDeadAt()), d.GetInstance(), d.GetError()})
	}
	return t
}

var ticketsRequeueCommand = command{
	name:       "tickets requeue",
	args:       "<dead-letter ID>... | --all",
	help:       "move dead letters back to the outbox, to be delivered again (AdminService.RequeueTickets)",
	positional: true,
	flags: func(fs *flag.FlagSet) func(c *client) error {
		all := fs.Bool("all", false, "every dead letter (then no IDs)")
		return func(c *client) error {
			switch {
			case *all && len(c.args) > 0:
				return badUsage("--all takes no IDs")
			case !*all && len(c.args) == 0:
				return badUsage("name the dead letters to requeue (hotlinectl tickets dead lists them), or --all")
			}
			resp, err := hotlinev1.NewAdminServiceClient(c.conn).RequeueTickets(c.ctx, &hotlinev1.RequeueTicketsRequest{Ids: c.args, All: *all})
			if err != nil {
				return err
			}
			if c.json {
				return c.printJSON(resp)
			}
			t := report.Table{Header: []string{"已重新投递的死信"}}
			for _, id := range resp.GetRequeued() {
				t.Rows = append(t.Rows, []string{id})
			}
			if err := t.WriteText(c.stdout); err != nil {
				return err
			}
			_, err = fmt.Fprintf(c.stdout, "%d 条死信已重新投递\n", len(resp.GetRequeued()))
			return err
		}
	},
}
