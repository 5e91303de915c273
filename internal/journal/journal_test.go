package journal_test

import (
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
