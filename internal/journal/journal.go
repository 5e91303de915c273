// Package journal is an append-only local file that keeps what the gateway
// has accepted but not yet handed to Redis (tickets, counts) across a
// crash: each record is written before it is queued in memory, marked done
// once Redis has it, and the records not done are replayed at start.
//
// A record is one line: "+<key> <base64 data>" adds, "-<key>" marks done. A
// line torn by a crash is skipped. Writes go to the file at once (a killed
// process loses nothing the kernel has); fsync runs in batches (Run, every
// SyncEvery), so a power loss loses at most that much. When no record is
// pending the file is truncated; when it has grown past CompactBytes while
// records stay pending (a Redis outage, a steady load that never drains to
// zero) it is rewritten with only the pending records.
package journal

import (
	"bufio"
	"cmp"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hotline12345/hotline-gw/internal/conf"
)

// Config is the `spool:` section: where the local journals live.
type Config struct {
	// Dir holds the journals (tickets.journal, counts.journal); created if
	// missing.
	Dir string `yaml:"dir"`
	// SyncEvery is how often written records are fsynced.
	SyncEvery conf.Duration `yaml:"sync_every"`
	// CompactBytes: a journal file grown past it is rewritten with only its
	// pending records.
	CompactBytes int64 `yaml:"compact_bytes"`
}

// DefaultCompactBytes is the default of Config.CompactBytes.
const DefaultCompactBytes = 16 << 20

// DefaultConfig is the section's defaults (the Debian package's state
// directory).
func DefaultConfig() Config {
	return Config{Dir: "/var/lib/hotline-gw/spool", SyncEvery: conf.Duration(100 * time.Millisecond), CompactBytes: DefaultCompactBytes}
}

// Validate returns an error per bad field, named by its YAML path.
func (c *Config) Validate() []error {
	var e conf.Errors
	if c.Dir == "" {
		e.Bad("spool.dir", "required")
	}
	if c.SyncEvery <= 0 || c.SyncEvery > conf.Duration(10*time.Second) {
		e.Bad("spool.sync_every", "must be between 0 and 10s")
	}
	if c.CompactBytes < 64<<10 {
		e.Bad("spool.compact_bytes", "%d must be at least 65536", c.CompactBytes)
	}
	return e.List()
}

// Record is one pending record.
type Record struct {
	Key  string
	Data []byte
}

// Journal is one journal file. Safe for concurrent use.
type Journal struct {
	path string

	mu      sync.Mutex
	f       *os.File
	w       *bufio.Writer
	pending map[string]entry
	seq     uint64 // of the last record added
	dirty   bool
	err     error // a failed write: the journal refuses further records

	size      int64 // bytes in the file
	live      int64 // bytes of the pending records' lines
	compactAt int64 // rewrite once size passes it (and is over twice live)
	compacts  int
}

// entry is a pending record: its data and the order it was added in.
type entry struct {
	seq  uint64
	data []byte
}

func addLen(key string, data []byte) int64 {
	return int64(1 + len(key) + 1 + base64.StdEncoding.EncodedLen(len(data)) + 1)
}

// Open opens (creating) the journal at path and returns the records not
// yet done, in the order they were added; the file is rewritten with only
// those. It compacts at DefaultCompactBytes.
func Open(path string) (*Journal, []Record, error) {
	return OpenCompactAt(path, DefaultCompactBytes)
}

// OpenCompactAt is Open with the size (Config.CompactBytes) past which the
// file is rewritten with only its pending records.
func OpenCompactAt(path string, compactBytes int64) (*Journal, []Record, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, nil, fmt.Errorf("journal %s: %w", path, err)
	}
	recs, err := read(path)
	if err != nil {
		return nil, nil, err
	}
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o640)
	if err != nil {
		return nil, nil, fmt.Errorf("journal %s: %w", path, err)
	}
	w := bufio.NewWriter(f)
	j := &Journal{path: path, pending: map[string]entry{}, compactAt: compactBytes}
	for _, r := range recs {
		writeAdd(w, r)
		j.seq++
		j.pending[r.Key] = entry{seq: j.seq, data: r.Data}
		j.live += addLen(r.Key, r.Data)
	}
	j.size = j.live
	if err := errors.Join(w.Flush(), f.Sync(), f.Close()); err != nil {
		return nil, nil, fmt.Errorf("journal %s: rewrite: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return nil, nil, fmt.Errorf("journal %s: %w", path, err)
	}
	j.f, err = os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return nil, nil, fmt.Errorf("journal %s: %w", path, err)
	}
	j.w = bufio.NewWriter(j.f)
	return j, recs, nil
}

func read(path string) ([]Record, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("journal %s: %w", path, err)
	}
	defer f.Close()
	var order []string
	data := map[string][]byte{}
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 16<<20)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "+"):
			key, enc, ok := strings.Cut(line[1:], " ")
			b, err := base64.StdEncoding.DecodeString(enc)
			if !ok || key == "" || err != nil {
				continue // torn by a crash
			}
			if _, seen := data[key]; !seen {
				order = append(order, key)
			}
			data[key] = b
		case strings.HasPrefix(line, "-"):
			delete(data, line[1:])
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("journal %s: read: %w", path, err)
	}
	var out []Record
	for _, k := range order {
		if b, ok := data[k]; ok {
			out = append(out, Record{Key: k, Data: b})
			delete(data, k) // a key added again after done is listed once
		}
	}
	return out, nil
}

func writeAdd(w *bufio.Writer, r Record) {
	w.WriteByte('+')
	w.WriteString(r.Key)
	w.WriteByte(' ')
	w.WriteString(base64.StdEncoding.EncodeToString(r.Data))
	w.WriteByte('\n')
}

// Add writes a record (its key must have no space or newline) to the file
// before returning; Run fsyncs it within SyncEvery.
func (j *Journal) Add(key string, data []byte) error {
	if key == "" || strings.ContainsAny(key, " \n") {
		return fmt.Errorf("journal %s: key %q must be non-empty without spaces", j.path, key)
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.err != nil {
		return j.err
	}
	writeAdd(j.w, Record{Key: key, Data: data})
	n := addLen(key, data)
	j.size += n
	if old, ok := j.pending[key]; ok {
		j.live -= addLen(key, old.data)
	}
	j.live += n
	j.seq++
	j.pending[key] = entry{seq: j.seq, data: append([]byte(nil), data...)}
	if err := j.flushLocked(); err != nil {
		return err
	}
	return j.maybeCompactLocked()
}

// Done marks records done: Redis has them. Keys not pending are ignored.
func (j *Journal) Done(keys ...string) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.err != nil {
		return j.err
	}
	n := 0
	for _, k := range keys {
		e, ok := j.pending[k]
		if !ok {
			continue
		}
		delete(j.pending, k)
		j.live -= addLen(k, e.data)
		j.w.WriteString("-" + k + "\n")
		j.size += int64(len(k) + 2)
		n++
	}
	if n == 0 {
		return nil
	}
	if len(j.pending) == 0 {
		// Nothing pending: start the file afresh.
		j.w.Reset(j.f)
		if err := j.f.Truncate(0); err != nil {
			j.err = fmt.Errorf("journal %s: truncate: %w", j.path, err)
			return j.err
		}
		j.size, j.live = 0, 0
		j.dirty = true
		return nil
	}
	if err := j.flushLocked(); err != nil {
		return err
	}
	return j.maybeCompactLocked()
}

// maybeCompactLocked rewrites the file with only the pending records once
// it has passed compactAt and is more than twice their size (so that a
// large pending set is not rewritten on every record). The new file is
// written beside it, fsynced and renamed over it: a crash leaves the old
// or the new file, both holding every pending record. A rewrite that fails
// before the rename leaves the old file in use and is tried again once the
// file has grown by half as much again.
func (j *Journal) maybeCompactLocked() error {
	if j.compactAt <= 0 || j.size < j.compactAt || j.size <= 2*j.live {
		return nil
	}
	tmp := j.path + ".tmp"
	err := func() error {
		f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o640)
		if err != nil {
			return err
		}
		w := bufio.NewWriterSize(f, 64<<10)
		for _, r := range j.pendingLocked() {
			writeAdd(w, r)
		}
		if err := errors.Join(w.Flush(), f.Sync(), f.Close()); err != nil {
			return err
		}
		if err := os.Rename(tmp, j.path); err != nil {
			return err
		}
		if dir, err := os.Open(filepath.Dir(j.path)); err == nil {
			_ = dir.Sync()
			dir.Close()
		}
		return nil
	}()
	if err != nil {
		_ = os.Remove(tmp)
		j.compactAt = j.size + j.size/2
		return nil // the old file still holds everything
	}
	old := j.f
	j.f, err = os.OpenFile(j.path, os.O_WRONLY|os.O_APPEND, 0o640)
	_ = old.Close()
	if err != nil {
		j.err = fmt.Errorf("journal %s: reopen after compaction: %w", j.path, err)
		return j.err
	}
	j.w.Reset(j.f)
	j.size = j.live
	j.dirty = false // the new file is fsynced
	j.compacts++
	return nil
}

// pendingLocked returns the pending records in the order they were added.
func (j *Journal) pendingLocked() []Record {
	out := make([]Record, 0, len(j.pending))
	seqs := make(map[string]uint64, len(j.pending))
	for k, e := range j.pending {
		out = append(out, Record{Key: k, Data: e.data})
		seqs[k] = e.seq
	}
	slices.SortFunc(out, func(a, b Record) int { return cmp.Compare(seqs[a.Key], seqs[b.Key]) })
	return out
}

// Size returns the journal file's length in bytes, and how many times it
// has been compacted since Open.
func (j *Journal) Size() (bytes int64, compactions int) {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.size, j.compacts
}

func (j *Journal) flushLocked() error {
	if err := j.w.Flush(); err != nil {
		j.err = fmt.Errorf("journal %s: write: %w", j.path, err)
		return j.err
	}
	j.dirty = true
	return nil
}

// Pending returns the number of records not done.
func (j *Journal) Pending() int {
	j.mu.Lock()
	defer j.mu.Unlock()
	return len(j.pending)
}

// Sync fsyncs what was written.
func (j *Journal) Sync() error {
	j.mu.Lock()
	dirty, f := j.dirty, j.f
	j.dirty = false
	j.mu.Unlock()
	if !dirty {
		return nil
	}
	if err := f.Sync(); err != nil && !errors.Is(err, os.ErrClosed) { // closed: compacted meanwhile, and the new file fsynced
		return fmt.Errorf("journal %s: fsync: %w", j.path, err)
	}
	return nil
}

// Run fsyncs every interval until ctx ends.
func (j *Journal) Run(ctx context.Context, every time.Duration, onErr func(error)) {
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			if err := j.Sync(); err != nil && onErr != nil {
				onErr(err)
			}
		}
	}
}

// Close fsyncs and closes the file.
func (j *Journal) Close() error {
	j.mu.Lock()
	j.dirty = true
	j.mu.Unlock()
	err := j.Sync()
	j.mu.Lock()
	defer j.mu.Unlock()
	return errors.Join(err, j.f.Close())
}
