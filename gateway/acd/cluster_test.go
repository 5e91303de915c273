package acd_test

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	hotlinev1 "github.com/hotline12345/hotline-gw/api/hotline/v1"
	"github.com/hotline12345/hotline-gw/gateway/acd"
	"github.com/hotline12345/hotline-gw/test/redistest"
)

// Every script, and the sharded pub/sub, work on a three-master Cluster.
func TestOnRedisCluster(t *testing.T) {
	cl := redistest.StartCluster(t)
	newClient := func() *redis.ClusterClient {
		c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: cl.Addrs()})
		t.Cleanup(func() { c.Close() })
		return c
	}
	pa, _ := newPool(t, newClient())
	pb, _ := newPool(t, newClient())
	ctx := testCtx(t)

	skills, err := pb.Subscribe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	es, err := pb.Events(ctx, "1002")
	if err != nil {
		t.Fatal(err)
	}
	defer es.Close()

	login(t, pa, "1001", 0, general, "labour")
	login(t, pa, "1002", 0, general)
	ready(t, pa, "1001")
	ready(t, pa, "1002")
	select {
	case <-skills:
	case <-ctx.Done():
		t.Fatal("no ready notification on the cluster")
	}

	mustOffer(t, pa, "c1", "1001")
	if _, err := pa.Claim(ctx, "labour", "c1"); !errors.Is(err, acd.ErrNotWaiting) {
		t.Fatalf("claim of a claimed call: %v", err)
	}
	mustOffer(t, pb, "c2", "1002")
	if err := pb.Offer(ctx, "1002", &hotlinev1.CallOffer{CallId: "c2"}); err != nil {
		t.Fatalf("offer on the cluster: %v", err)
	}
	for {
		ev, err := es.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if ev.GetOffer().GetCallId() == "c2" {
			break
		}
	}
	if _, err := offer(t, pa, "labour", "c3"); !errors.Is(err, acd.ErrNoAgent) {
		t.Fatalf("multi-skill agent offered twice on the cluster: %v", err)
	}
	if err := pa.Dequeue(ctx, "labour", "c3"); err != nil {
		t.Fatal(err)
	}
	if err := pb.Answered(ctx, "1001", "c1"); err != nil {
		t.Fatal(err)
	}
	if err := pb.Release(ctx, "1001", "c1", acd.Completed); err != nil {
		t.Fatal(err)
	}
	if err := pa.Release(ctx, "1002", "c2", acd.Missed); err != nil {
		t.Fatal(err)
	}
	if _, err := pa.Sweep(ctx, nil, 0); err != nil {
		t.Fatal(err)
	}
	if err := pa.RefreshMetrics(ctx); err != nil {
		t.Fatal(err)
	}
	if a := get(t, pb, "1001"); a.State != acd.Ready {
		t.Fatalf("1001 = %+v", a)
	}
	if a := get(t, pb, "1002"); a.State != acd.Paused || a.Reason != acd.ReasonMissedCall {
		t.Fatalf("1002 = %+v", a)
	}
	mustOffer(t, pb, "c4", "1001")

	// A call's steps in one cluster pipeline: enqueue-and-claim with the
	// offer, answered with "connected", release with "ended", each event
	// published by its script to the desk of 1002.
	ready(t, pa, "1002")
	cc := newClient()
	pipe := cc.Pipeline()
	st, err := pa.EnqueueClaimIn(ctx, pipe, general, "c5", false, time.Now(), &hotlinev1.CallOffer{CallId: "c5"})
	if err != nil {
		t.Fatal(err)
	}
	_, _ = pipe.Exec(ctx) // NOSCRIPT on a fresh node: the step runs the text
	if ext, n, err := st.Result(ctx); err != nil || ext != "1002" || n != 1 {
		t.Fatalf("enqueue-claim on the cluster = %q, %d receivers, %v; want 1002, 1", ext, n, err)
	}
	pipe = cc.Pipeline()
	ans, err := pa.AnsweredIn(ctx, pipe, "1002", "c5", &hotlinev1.AgentEvent{Event: &hotlinev1.AgentEvent_Progress{
		Progress: &hotlinev1.CallProgress{CallId: "c5", Kind: hotlinev1.CallProgress_KIND_CONNECTED}}})
	if err != nil {
		t.Fatal(err)
	}
	_, _ = pipe.Exec(ctx) // NOSCRIPT on a fresh node: the step runs the text
	if err := ans.Err(ctx); err != nil {
		t.Fatal(err)
	}
	pipe = cc.Pipeline()
	rel, err := pa.ReleaseIn(ctx, pipe, "1002", "c5", acd.Completed, &hotlinev1.AgentEvent{Event: &hotlinev1.AgentEvent_Progress{
		Progress: &hotlinev1.CallProgress{CallId: "c5", Kind: hotlinev1.CallProgress_KIND_ENDED}}})
	if err != nil {
		t.Fatal(err)
	}
	_, _ = pipe.Exec(ctx) // NOSCRIPT on a fresh node: the step runs the text
	if err := rel.Err(ctx); err != nil {
		t.Fatal(err)
	}
	var got []string
	for len(got) < 6 {
		ev, err := es.Next(ctx)
		if err != nil {
			t.Fatalf("after %q: %v", got, err)
		}
		switch {
		case ev.GetState() != nil && (ev.GetState().GetCallId() == "c5" || len(got) == 5):
			// (the state after "ended" is ready, with no call; earlier
			// states of 1002 without c5 are skipped)
			got = append(got, ev.GetState().GetState().String())
		case ev.GetOffer().GetCallId() == "c5":
			got = append(got, "offer")
		case ev.GetProgress().GetCallId() == "c5":
			got = append(got, ev.GetProgress().GetKind().String())
		}
	}
	want := []string{"AGENT_STATE_RINGING", "offer", "AGENT_STATE_ON_CALL", "KIND_CONNECTED", "KIND_ENDED", "AGENT_STATE_READY"}
	if !slices.Equal(got, want) {
		t.Errorf("desk events on the cluster\n got %q\nwant %q", got, want)
	}
}
