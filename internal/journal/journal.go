// Package journal is an append-only local file that keeps what the gateway
// has accepted but not yet handed to Redis (tickets, counts) across a
// crash: each record is written before it is queued in memory, marked done
// once Redis has it, and the records not done are replayed at start.
//
// A record is one line: "+<key> <base64 data>" adds, "-<key>" marks done. A
// line torn by a crash is skipped. Writes go to the file at once (a killed
// process loses nothing the kernel has); fsync runs in batches (Run, every
// SyncEvery), so a power loss loses at most that much. When no record is
// pending the file is truncated.
package journal

import (
	"bufio"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
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
}

// DefaultConfig is the section's defaults (the Debian package's state
// directory).
func DefaultConfig() Config {
	return Config{Dir: "/var/lib/hotline-gw/spool", SyncEvery: conf.Duration(100 * time.Millisecond)}
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
	pending map[string]bool
	dirty   bool
	err     error // a failed write: the journal refuses further records
}

// Open opens (creating) the journal at path and returns the records not
// yet done, in the order they were added; the file is rewritten with only
// those.
func Open(path string) (*Journal, []Record, error) {
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
	j := &Journal{path: path, pending: map[string]bool{}}
	for _, r := range recs {
		writeAdd(w, r)
		j.pending[r.Key] = true
	}
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
	j.pending[key] = true
	return j.flushLocked()
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
		if !j.pending[k] {
			continue
		}
		delete(j.pending, k)
		j.w.WriteString("-" + k + "\n")
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
		j.dirty = true
		return nil
	}
	return j.flushLocked()
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
	dirty := j.dirty
	j.dirty = false
	j.mu.Unlock()
	if !dirty {
		return nil
	}
	if err := j.f.Sync(); err != nil {
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
	return errors.Join(j.Sync(), j.f.Close())
}
