package transfer

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/hotline12345/hotline-gw/gateway/store"
	"github.com/hotline12345/hotline-gw/test/redistest"
)

func testRecord(id, call string, at time.Time, v int64) *Record {
	return &Record{TransferID: id, CallID: call, Direction: DirectionTo110, Mode: ModeBlind, State: Dialing,
		AgentExt: "1001", Note: "噪音 & 斗殴", RequestedAt: at, Version: v}
}

func TestStoreSavesListsAndKeepsNewestVersion(t *testing.T) {
	srv := redistest.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
	t.Cleanup(func() { rdb.Close() })
	st := NewStore(rdb, store.NewKeys("hl"), StoreOptions{RecentMax: 3})
	ctx := context.Background()
	t0 := time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)

	r1 := testRecord("t1", "call-1", t0, 1)
	if err := st.Save(ctx, r1); err != nil {
		t.Fatal(err)
	}
	// A newer version replaces it; an older one arriving late does not.
	r1b := *r1
	r1b.State, r1b.Outcome, r1b.EndedAt, r1b.Version = Completed, OutcomeCompleted, t0.Add(9*time.Second), 3
	if err := st.Save(ctx, &r1b); err != nil {
		t.Fatal(err)
	}
	if err := st.Save(ctx, r1); err != nil {
		t.Fatal(err)
	}
	got, err := st.Get(ctx, "t1")
	if err != nil || got == nil || got.State != Completed || got.Version != 3 || !got.EndedAt.Equal(r1b.EndedAt) || got.Note != r1.Note {
		t.Fatalf("Get = %+v, %v", got, err)
	}
	for i := 2; i <= 5; i++ {
		call := "call-1"
		if i > 2 {
			call = "call-2"
		}
		if err := st.Save(ctx, testRecord(fmt.Sprintf("t%d", i), call, t0.Add(time.Duration(i)*time.Minute), 1)); err != nil {
			t.Fatal(err)
		}
	}
	list, err := st.List(ctx, "call-1", 0)
	if err != nil || len(list) != 2 || list[0].TransferID != "t1" || list[1].TransferID != "t2" {
		t.Fatalf("List = %v, %v", ids(list), err)
	}
	if list, _ := st.List(ctx, "call-2", 1); len(list) != 1 || list[0].TransferID != "t5" {
		t.Fatalf("List limit 1 = %v", ids(list))
	}
	recent, err := st.Recent(ctx, 10)
	if err != nil || fmt.Sprint(ids(recent)) != "[t5 t4 t3]" { // trimmed to RecentMax
		t.Fatalf("Recent = %v, %v", ids(recent), err)
	}
	if list, _ := st.List(ctx, "no-such-call", 5); len(list) != 0 {
		t.Fatalf("%v", list)
	}
	if got, err := st.Get(ctx, "nope"); got != nil || err != nil {
		t.Fatalf("%v %v", got, err)
	}
	// Keys carry the hash tag and a retention.
	if ttl := rdb.PTTL(ctx, "{hl}:transfer:rec:t1").Val(); ttl <= 0 {
		t.Fatalf("record TTL %v", ttl)
	}
	// Invalid input is rejected before Redis.
	for _, r := range []*Record{nil, testRecord("", "c", t0, 1), testRecord("a/b", "c", t0, 1), testRecord("x", "", t0, 1), testRecord("x", "c\n", t0, 1)} {
		if err := st.Save(ctx, r); !errors.Is(err, ErrInvalid) {
			t.Fatalf("Save(%+v) = %v", r, err)
		}
	}
	// A call ID with special characters is just data in a key.
	odd := testRecord("t9", "call&,/@x", t0, 1)
	if err := st.Save(ctx, odd); err != nil {
		t.Fatal(err)
	}
	if list, _ := st.List(ctx, "call&,/@x", 5); len(list) != 1 {
		t.Fatalf("%v", ids(list))
	}
}

func TestStoreFailsWhenRedisIsDown(t *testing.T) {
	srv := redistest.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr, MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	t.Cleanup(func() { rdb.Close() })
	st := NewStore(rdb, store.NewKeys("hl"), StoreOptions{})
	srv.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := st.Save(ctx, testRecord("t1", "c", time.Now(), 1)); err == nil {
		t.Fatal("Save succeeded with Redis down: the transfer would be acknowledged without a record")
	}
	srv.Restart()
	if err := st.Save(ctx, testRecord("t1", "c", time.Now(), 1)); err != nil {
		t.Fatalf("after restart: %v", err)
	}
}

func TestStoreWorksOnCluster(t *testing.T) {
	cl := redistest.StartCluster(t)
	rdb := redis.NewClusterClient(&redis.ClusterOptions{Addrs: cl.Addrs()})
	t.Cleanup(func() { rdb.Close() })
	st := NewStore(rdb, store.NewKeys("hl"), StoreOptions{})
	ctx := context.Background()
	for i := range 5 {
		if err := st.Save(ctx, testRecord(fmt.Sprintf("t%d", i), fmt.Sprintf("call-%d", i), time.Now(), 1)); err != nil {
			t.Fatal(err)
		}
	}
	if recent, err := st.Recent(ctx, 0); err != nil || len(recent) != 5 {
		t.Fatalf("%v %v", ids(recent), err)
	}
}

// A machine's records saved in order end up as the final state.
func TestStoreKeepsMachineRecords(t *testing.T) {
	srv := redistest.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
	t.Cleanup(func() { rdb.Close() })
	st := NewStore(rdb, store.NewKeys("hl"), StoreOptions{})
	fx := newFixture(t)
	ctx := context.Background()
	for _, in := range []Input{Request{Mode: ModeThreeParty, By: ByGRPC, Note: "案情"}, PeerRinging{}, PeerAnswered{}, Cancel{By: ByGRPC}} {
		r := fx.handle(in)
		if err := st.Save(ctx, r.Record); err != nil {
			t.Fatal(err)
		}
	}
	list, err := st.List(ctx, "call-1", 10)
	if err != nil || len(list) != 1 || list[0].State != Cancelled || list[0].Note != "案情" || list[0].AnsweredAt.IsZero() {
		t.Fatalf("%+v %v", list, err)
	}
	if p := list[0].Proto(); p.GetState().String() != "TRANSFER_STATE_CANCELLED" || p.GetMode().String() != "TRANSFER_MODE_THREE_PARTY" || p.GetAnsweredAt() == nil || p.GetEndedAt() == nil {
		t.Fatalf("%v", p)
	}
}

func ids(rs []*Record) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.TransferID)
	}
	return out
}
