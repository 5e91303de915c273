package journal_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/hotline12345/hotline-gw/internal/journal"
)

// Records added and not done survive the process (the file is not closed:
// a SIGKILL) and are replayed in order; done ones are not; a torn last line
// is skipped.
func TestJournalReplaysWhatIsNotDone(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j", "tickets.journal")
	j, recs, err := journal.Open(path)
	if err != nil || len(recs) != 0 {
		t.Fatalf("Open = %v, %v", recs, err)
	}
	for _, k := range []string{"a", "b", "c"} {
		if err := j.Add(k, []byte("data-"+k)); err != nil {
			t.Fatal(err)
		}
	}
	if err := j.Done("b"); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("+d ZGF0YS1k") // a complete record written by the killed process
	f.WriteString("\n+e !!!\n")  // torn: not base64
	f.Close()
	// No Close of j: the process was killed.
	j2, recs, err := journal.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, r := range recs {
		keys = append(keys, r.Key+"="+string(r.Data))
	}
	want := []string{"a=data-a", "c=data-c", "d=data-d"}
	if len(keys) != len(want) {
		t.Fatalf("replayed %v, want %v", keys, want)
	}
	for i := range want {
		if keys[i] != want[i] {
			t.Fatalf("replayed %v, want %v", keys, want)
		}
	}
	if err := j2.Done("a", "c", "d"); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(path); err != nil || st.Size() != 0 {
		t.Errorf("journal with nothing pending is %v bytes (%v), want truncated", st.Size(), err)
	}
	if err := j2.Close(); err != nil {
		t.Fatal(err)
	}
	if _, recs, err := journal.Open(path); err != nil || len(recs) != 0 {
		t.Fatalf("after all done: %v, %v", recs, err)
	}
}

// A journal that always has a record pending (steady load, or Redis down
// for a while) is never truncated; once it passes its size it is rewritten
// with only the pending records, which a reopen still replays, in order.
func TestJournalCompactsWhileRecordsStayPending(t *testing.T) {
	path := filepath.Join(t.TempDir(), "counts.journal")
	const limit = 64 << 10
	j, _, err := journal.OpenCompactAt(path, limit)
	if err != nil {
		t.Fatal(err)
	}
	data := make([]byte, 100)
	if err := j.Add("held-1", []byte("first")); err != nil { // pending all along
		t.Fatal(err)
	}
	for i := range 5000 { // ~0.8 MB of records added and done
		k := fmt.Sprintf("k-%d", i)
		if err := j.Add(k, data); err != nil {
			t.Fatal(err)
		}
		if err := j.Done(k); err != nil {
			t.Fatal(err)
		}
	}
	if err := j.Add("held-2", []byte("second")); err != nil {
		t.Fatal(err)
	}
	size, compactions := j.Size()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if compactions == 0 || st.Size() > 2*limit || st.Size() != size {
		t.Fatalf("file is %d bytes (journal says %d) after %d compactions; want compacted below %d", st.Size(), size, compactions, 2*limit)
	}
	if err := j.Sync(); err != nil {
		t.Fatal(err)
	}
	// Killed: no Close. The pending records come back, in order.
	j2, recs, err := journal.OpenCompactAt(path, limit)
	if err != nil {
		t.Fatal(err)
	}
	defer j2.Close()
	if len(recs) != 2 || recs[0].Key != "held-1" || string(recs[0].Data) != "first" || recs[1].Key != "held-2" {
		t.Fatalf("replayed %v, want held-1 then held-2", recs)
	}
}
