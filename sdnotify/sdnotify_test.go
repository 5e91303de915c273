package sdnotify_test

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hotline12345/hotline-gw/sdnotify"
)

// listen opens a real unixgram socket at addr, as systemd does, and
// returns a function reading one datagram.
func listen(t *testing.T, addr string) func() string {
	t.Helper()
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: addr, Net: "unixgram"})
	if err != nil {
		t.Fatalf("listen %s: %v", addr, err)
	}
	t.Cleanup(func() { conn.Close() })
	return func() string {
		t.Helper()
		buf := make([]byte, 4096)
		if err := conn.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
			t.Fatal(err)
		}
		n, err := conn.Read(buf)
		if err != nil {
			t.Fatalf("read notification: %v", err)
		}
		return string(buf[:n])
	}
}

func TestNotifyPathSocket(t *testing.T) {
	addr := filepath.Join(t.TempDir(), "notify")
	read := listen(t, addr)
	t.Setenv("NOTIFY_SOCKET", addr)
	for _, tc := range []struct {
		states []string
		want   string
	}{
		{[]string{sdnotify.Ready}, "READY=1"},
		{[]string{sdnotify.Watchdog}, "WATCHDOG=1"},
		{[]string{sdnotify.Reloading, "MONOTONIC_USEC=123"}, "RELOADING=1\nMONOTONIC_USEC=123"},
		{[]string{sdnotify.Stopping, "STATUS=draining 3 calls"}, "STOPPING=1\nSTATUS=draining 3 calls"},
	} {
		if err := sdnotify.Notify(tc.states...); err != nil {
			t.Fatalf("Notify(%q): %v", tc.states, err)
		}
		if got := read(); got != tc.want {
			t.Errorf("Notify(%q) sent %q, want %q", tc.states, got, tc.want)
		}
	}
}

func TestNotifyAbstractSocket(t *testing.T) {
	addr := fmt.Sprintf("@hotline-gw-sdnotify-test-%d-%d", os.Getpid(), time.Now().UnixNano())
	read := listen(t, addr)
	t.Setenv("NOTIFY_SOCKET", addr)
	if err := sdnotify.Notify(sdnotify.Ready); err != nil {
		t.Fatalf("Notify to abstract %s: %v", addr, err)
	}
	if got := read(); got != "READY=1" {
		t.Fatalf("got %q", got)
	}
	// The abstract name is not a file.
	if _, err := os.Stat(addr); !os.IsNotExist(err) {
		t.Fatalf("%s exists as a file: %v", addr, err)
	}
}

func TestNotifyWithoutSystemd(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	if err := sdnotify.Notify(sdnotify.Ready); !errors.Is(err, sdnotify.ErrNoSocket) {
		t.Fatalf("Notify without NOTIFY_SOCKET = %v, want ErrNoSocket", err)
	}
}

func TestNotifyErrors(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name, addr string
		states     []string
	}{
		{"nobody listening", filepath.Join(dir, "absent"), []string{sdnotify.Ready}},
		{"relative path", "notify.sock", []string{sdnotify.Ready}},
		{"empty address", "", []string{sdnotify.Ready}},
		{"no state", filepath.Join(dir, "x"), nil},
		{"two lines in one state", filepath.Join(dir, "x"), []string{"READY=1\nSTOPPING=1"}},
		{"not VARIABLE=value", filepath.Join(dir, "x"), []string{"READY"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := sdnotify.Send(tc.addr, tc.states...); err == nil {
				t.Fatalf("Send(%q, %q) succeeded", tc.addr, tc.states)
			}
		})
	}
}

func TestWatchdogInterval(t *testing.T) {
	for _, tc := range []struct {
		name, usec, pid string
		want            time.Duration
		ok              bool
	}{
		{"WatchdogSec=30s", "30000000", "", 15 * time.Second, true},
		{"for this process", "30000000", fmt.Sprint(os.Getpid()), 15 * time.Second, true},
		{"for another process", "30000000", "1", 0, false},
		{"off", "", "", 0, false},
		{"zero", "0", "", 0, false},
		{"garbage", "30s", "", 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("WATCHDOG_USEC", tc.usec)
			t.Setenv("WATCHDOG_PID", tc.pid)
			d, ok := sdnotify.WatchdogInterval()
			if d != tc.want || ok != tc.ok {
				t.Fatalf("WatchdogInterval = %v, %v; want %v, %v", d, ok, tc.want, tc.ok)
			}
		})
	}
}
