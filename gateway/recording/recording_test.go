package recording

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/redis/go-redis/v9"
	"google.golang.org/protobuf/types/known/timestamppb"
	"gopkg.in/yaml.v3"

	hotlinev1 "github.com/hotline12345/hotline-gw/api/hotline/v1"
	"github.com/hotline12345/hotline-gw/ari"
	"github.com/hotline12345/hotline-gw/gateway/store"
	"github.com/hotline12345/hotline-gw/internal/conf"
	"github.com/hotline12345/hotline-gw/metrics"
	"github.com/hotline12345/hotline-gw/test/redistest"
)

func newIndex(t *testing.T, retention time.Duration) *Index {
	t.Helper()
	srv := redistest.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
	t.Cleanup(func() { rdb.Close() })
	return &Index{Redis: rdb, Keys: store.NewKeys("rt"), Retention: retention}
}

// fakeStore is Asterisk's stored recordings.
type fakeStore struct {
	mu      sync.Mutex
	names   []string
	deleted []string
	goneOn  map[string]bool // DELETE answers 404 (another gateway was first)
	listErr error
}

func (f *fakeStore) ListStored(context.Context) ([]ari.StoredRecording, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.listErr != nil {
		return nil, f.listErr
	}
	var out []ari.StoredRecording
	for _, n := range f.names {
		out = append(out, ari.StoredRecording{Name: n, Format: "wav"})
	}
	return out, nil
}

func (f *fakeStore) DeleteStored(_ context.Context, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.names = slices.DeleteFunc(f.names, func(n string) bool { return n == name })
	if f.goneOn[name] {
		return fmt.Errorf("ari delete_stored_recording %q: %w", name, ari.ErrNotFound)
	}
	f.deleted = append(f.deleted, name)
	return nil
}

func recorded(id string, answered time.Time) *hotlinev1.Ticket {
	return &hotlinev1.Ticket{TicketId: id, CallId: id, Recording: "hotline-" + id,
		AnsweredAt: timestamppb.New(answered), EndedAt: timestamppb.New(answered.Add(time.Minute))}
}

func TestIndexKnowsEachTicketsRecording(t *testing.T) {
	x := newIndex(t, 0)
	ctx := context.Background()
	at := time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)
	if err := x.Note(ctx, recorded("1796000000.1", at)); err != nil {
		t.Fatal(err)
	}
	if err := x.Note(ctx, &hotlinev1.Ticket{TicketId: "1796000000.2", EndReason: "abandoned_queue"}); err != nil {
		t.Fatal(err)
	}
	// A reaper's stub after the full ticket never hides the recording.
	if err := x.Note(ctx, &hotlinev1.Ticket{TicketId: "1796000000.1", EndReason: "ended_unobserved"}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		id, name string
		found    bool
	}{{"1796000000.1", "hotline-1796000000.1", true}, {"1796000000.2", "", true}, {"1796000000.3", "", false}} {
		name, found, err := x.Lookup(ctx, tc.id)
		if err != nil || name != tc.name || found != tc.found {
			t.Errorf("Lookup(%s) = %q, %t, %v; want %q, %t", tc.id, name, found, err, tc.name, tc.found)
		}
	}
	if ttl := x.Redis.TTL(ctx, x.ticketKey("1796000000.2")).Val(); ttl <= 0 || ttl > NoneTTL {
		t.Errorf("a ticket without recording is remembered for %v; want up to %v", ttl, NoneTTL)
	}
	made, err := x.MadeTimes(ctx, []string{"hotline-1796000000.1", "hotline-unknown"})
	if err != nil {
		t.Fatal(err)
	}
	if len(made) != 1 || !made["hotline-1796000000.1"].Equal(at) {
		t.Errorf("MadeTimes = %v; want the answer time %v only", made, at)
	}
}

func TestOutboxNotesTheTicketBeforeEnqueueing(t *testing.T) {
	x := newIndex(t, 0)
	var got []string
	o := &Outbox{Index: x, Next: enqueueFunc(func(_ context.Context, tk *hotlinev1.Ticket) error {
		if _, found, _ := x.Lookup(context.Background(), tk.GetTicketId()); !found {
			t.Errorf("ticket %s enqueued before it was indexed", tk.GetTicketId())
		}
		got = append(got, tk.GetTicketId())
		return nil
	})}
	if err := o.Enqueue(context.Background(), recorded("1796000000.9", time.Now())); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 {
		t.Fatalf("enqueued %v", got)
	}
	// Redis down: the error goes back to the spool, which retries.
	x.Redis.Close()
	if err := o.Enqueue(context.Background(), recorded("1796000000.10", time.Now())); err == nil || len(got) != 1 {
		t.Fatalf("with Redis closed: %v, enqueued %v; want an error and nothing enqueued", err, got)
	}
}

type enqueueFunc func(context.Context, *hotlinev1.Ticket) error

func (f enqueueFunc) Enqueue(ctx context.Context, t *hotlinev1.Ticket) error { return f(ctx, t) }

func TestSweepRemovesOnlyTheGatewaysOldRecordings(t *testing.T) {
	const retention = 30 * 24 * time.Hour
	x := newIndex(t, retention)
	ctx := context.Background()
	now := time.Date(2026, 12, 2, 1, 0, 0, 0, time.UTC)
	old, fresh, raced := "1790000000.1", "1790000000.2", "1790000000.3"
	for id, at := range map[string]time.Time{old: now.Add(-31 * 24 * time.Hour), fresh: now.Add(-29 * 24 * time.Hour), raced: now.Add(-40 * 24 * time.Hour)} {
		if err := x.Note(ctx, recorded(id, at)); err != nil {
			t.Fatal(err)
		}
	}
	oldByName := fmt.Sprintf("hotline-%d.7", now.Add(-60*24*time.Hour).Unix()) // not indexed: aged by its channel ID
	newByName := fmt.Sprintf("hotline-%d.8", now.Add(-time.Hour).Unix())
	st := &fakeStore{
		names: []string{"hotline-" + old, "hotline-" + fresh, "hotline-" + raced, oldByName, newByName,
			"hotline-ob-3f2a", // an outbound call's, not indexed: age unknown, kept
			"voicemail-1",     // not the gateway's
			"1000000000.1",    // not the gateway's, however old its name looks
		},
		goneOn: map[string]bool{"hotline-" + raced: true},
	}
	var logBuf bytes.Buffer
	m := metrics.NewUnregistered().Recordings
	s := &Sweeper{Store: st, Index: x, Retention: retention, Log: slog.New(slog.NewTextHandler(&logBuf, nil)), Metrics: m,
		Now: func() time.Time { return now }}
	n, err := s.Sweep(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"hotline-" + old, oldByName}
	slices.Sort(st.deleted)
	slices.Sort(want)
	if n != 2 || !slices.Equal(st.deleted, want) {
		t.Fatalf("removed %d: %v; want %v", n, st.deleted, want)
	}
	if got := testutil.ToFloat64(m.Removed); got != 2 {
		t.Errorf("hotline_recordings_removed_total = %v, want 2", got)
	}
	for _, name := range want {
		if !strings.Contains(logBuf.String(), "recording="+name) {
			t.Errorf("no log line for the removal of %s:\n%s", name, logBuf.String())
		}
	}
	// The removed recordings' times are gone; the ticket still says which
	// recording it had (a fetch tells "removed", not "unknown ticket").
	made, _ := x.MadeTimes(ctx, []string{"hotline-" + old, "hotline-" + raced, "hotline-" + fresh})
	if _, ok := made["hotline-"+old]; ok || len(made) != 1 {
		t.Errorf("made times after the sweep: %v; want only the fresh one", made)
	}
	if name, found, _ := x.Lookup(ctx, old); !found || name != "hotline-"+old {
		t.Errorf("Lookup(old) = %q, %t after removal", name, found)
	}
	if ttl := x.Redis.TTL(ctx, x.ticketKey(old)).Val(); ttl <= 0 {
		t.Errorf("the removed recording's ticket entry has TTL %v; want it to expire", ttl)
	}
	// A second sweep finds nothing more to remove.
	if n, err := s.Sweep(ctx); n != 0 || err != nil {
		t.Errorf("second sweep: %d, %v", n, err)
	}
	// ARI down: an error, counted, nothing removed.
	st.listErr = fmt.Errorf("ari list: %w", ari.ErrUnavailable)
	if _, err := s.Sweep(ctx); !errors.Is(err, ari.ErrUnavailable) {
		t.Errorf("sweep with ARI down: %v", err)
	}
	if got := testutil.ToFloat64(m.Sweeps.WithLabelValues("error")); got != 1 {
		t.Errorf("hotline_recording_sweeps_total{result=error} = %v", got)
	}
}

func TestSweepWithoutRetentionKeepsEverything(t *testing.T) {
	x := newIndex(t, 0)
	st := &fakeStore{names: []string{"hotline-1000000000.1"}}
	s := &Sweeper{Store: st, Index: x, Log: slog.New(slog.DiscardHandler)}
	if n, err := s.Sweep(context.Background()); n != 0 || err != nil || len(st.deleted) != 0 {
		t.Fatalf("retention 0 removed %d (%v): %v", n, st.deleted, err)
	}
	done := make(chan struct{})
	go func() { s.Run(context.Background(), time.Second); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run with retention 0 did not return")
	}
}

func TestConfig(t *testing.T) {
	var c struct {
		R Config `yaml:"recordings"`
	}
	c.R = DefaultConfig()
	if err := yaml.Unmarshal([]byte("recordings: {retention: 90d, sweep_interval: 10m}"), &c); err != nil {
		t.Fatal(err)
	}
	if c.R.Retention.D() != 90*24*time.Hour || c.R.SweepInterval.D() != 10*time.Minute || len(c.R.Validate()) != 0 {
		t.Fatalf("decoded %+v, errors %v", c.R, c.R.Validate())
	}
	if d := DefaultConfig(); d.Retention != 0 || len(d.Validate()) != 0 {
		t.Errorf("default %+v: %v", d, d.Validate())
	}
	for _, tc := range []struct {
		c     Config
		field string
	}{
		{Config{Retention: -1, SweepInterval: conf.Duration(time.Hour)}, "recordings.retention"},
		{Config{Retention: conf.Duration(time.Millisecond), SweepInterval: conf.Duration(time.Hour)}, "recordings.retention"},
		{Config{SweepInterval: 0}, "recordings.sweep_interval"},
		{Config{SweepInterval: conf.Duration(48 * time.Hour)}, "recordings.sweep_interval"},
	} {
		errs := tc.c.Validate()
		if len(errs) != 1 || !strings.HasPrefix(errs[0].Error(), tc.field+":") {
			t.Errorf("Validate(%+v) = %v; want one error naming %s", tc.c, errs, tc.field)
		}
	}
	if err := yaml.Unmarshal([]byte("recordings: {retention: 90x}"), &c); err == nil {
		t.Error(`retention "90x" accepted`)
	}
}

func TestMadeFromName(t *testing.T) {
	for _, tc := range []struct {
		id string
		ok bool
	}{{"1796156036.71", true}, {"ob-3f2a9c", false}, {"12.3", false}, {"1796156036.", false}, {"x1796156036.1", false}} {
		at, ok := madeFromName(tc.id)
		if ok != tc.ok || ok && at.Unix() != 1796156036 {
			t.Errorf("madeFromName(%q) = %v, %t", tc.id, at, ok)
		}
	}
}
