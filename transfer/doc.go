// Package transfer is the one-key transfer (一键转接) from a 12345 call to the
// 110 police platform: one state machine per call, driven by the agent's
// DTMF feature codes (*1 blind, *2 three-party, *3 complete/leave, *0
// cancel; configurable) and by the desktop's TransferService, recorded in
// Redis and counted by direction.
//
// # Call structure
//
// The call owner built the call: the caller's channel C and the agent's
// channel A are in the mixing bridge B (create it "mixing,dtmf_events" so
// the agent's DTMF is reported while bridged), all in Stasis. The 110 leg P
// is originated by the machine to Config.Target only; nothing a user sends
// (note, call ID, agent extension) reaches the dial string, the channel IDs
// or the channel variables.
//
// # Behaviour
//
//   - Blind: C hears music on hold while 110 is dialled; A stays in B (the
//     agent can still Cancel, or press *3 to leave early). When 110 answers:
//     MOH off, P added to B, A removed from B (Result.AgentFreed) → Completed.
//   - Three-party: C and A keep talking while 110 is dialled; when 110
//     answers P joins B (ThreeParty). Complete: A removed (AgentFreed), C and
//     P stay → Completed. Cancel: P hung up, C and A go on → Cancelled.
//     110 hanging up: C and A go on → Completed, outcome "peer_hangup".
//   - 110 busy (cause 17), no answer (18/19, ring timeout), other failure,
//     originate error, dial timeout: P hung up, C never hung up and still in
//     B. With the agent present: MOH off, Config.FailPrompt played to the
//     agent, caller and agent talk again. With the agent gone (left early or
//     hung up): Result.Requeue — re-queue C at the front of its line's queue.
//   - Caller hangs up during a transfer: P hung up, outcome "caller_hangup".
//     After a completed transfer the machine still hangs P up when C goes.
//   - Agent hangs up while 110 is dialled: the transfer goes on (C on hold);
//     in ThreeParty it is the same as Complete.
//
// # Driving it (the call owner's goroutine)
//
//	mg, err := transfer.New(cfg, transfer.Deps{PBX: ariClient, Metrics: m.Transfers, Log: log}) // once
//	tm, err := mg.NewMachine(transfer.Call{ID: callID, CallerChannel: c, AgentChannel: a,
//		AgentExt: ext, Bridge: b, CallerNumber: num,
//		AttachPeer: func(id string) { disp.Attach(ari.KindChannel, id, mailbox) }})
//
//	// for every ARI event of the call, in order:
//	if in, ok := tm.InputFor(ev, time.Now()); ok { apply(tm.Handle(ctx, in)) }
//	// ...then the owner's own handling of ev (see "owner's duties").
//	// gRPC Transfer/Complete/Cancel, delivered to the owner goroutine:
//	res, err := tm.Handle(ctx, req) // err: reply transfer.Code(err)
//	// the timer armed at res.Deadline fires: tm.Handle(ctx, transfer.Timeout{})
//
// apply(res) is, in this order:
//
//  1. res.Record != nil → store.Save(ctx, res.Record); acknowledge a gRPC
//     request only after Save returned nil (reply res.Record.Proto()).
//  2. res.Deadline: zero → stop the timer, else (re)arm it for that time
//     (stale timeouts are ignored, no token needed).
//  3. res.AgentFreed → A is out of B and belongs to the owner again (hang it
//     up or send the agent to wrap-up; free the agent in the ACD).
//  4. res.Requeue → put C back at the front of its line's queue (C is still
//     in B with MOH playing).
//  5. res.EndCall → 110 left after a completed transfer: end the call
//     (hang up C) as after any far-end hangup.
//  6. res.Errs → log (already handled as well as possible).
//
// Owner's duties: feed CallerHangup (via InputFor) before tearing the call
// down; do not end the call when A hangs up if tm.AgentPresent() was false
// (freed or left) — the caller may be with 110; while tm.State().Active()
// do not move C or A yourself; after a Requeue and a new agent answering,
// call tm.SetAgent(newA, ext).
package transfer
