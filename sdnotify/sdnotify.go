// Package sdnotify tells systemd about the service's state through the
// notification socket of a Type=notify unit ($NOTIFY_SOCKET, a unixgram
// socket; a name starting with "@" is in the abstract namespace): READY=1
// when the gateway can take calls, RELOADING=1 while it applies a new
// configuration, STOPPING=1 when it starts to drain, and WATCHDOG=1 from
// the event loop's heartbeat, at least every WatchdogInterval.
//
// Outside systemd (no $NOTIFY_SOCKET) every call is a no-op, so the
// program need not know how it was started.
package sdnotify

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"
)

// States understood by systemd (sd_notify(3)).
const (
	Ready     = "READY=1"
	Reloading = "RELOADING=1"
	Stopping  = "STOPPING=1"
	Watchdog  = "WATCHDOG=1"
)

// ErrNoSocket is returned by Notify when $NOTIFY_SOCKET is not set: the
// process does not run under a Type=notify unit. Callers usually ignore it.
var ErrNoSocket = errors.New("sdnotify: NOTIFY_SOCKET not set")

// Notify sends the states, one per line, to $NOTIFY_SOCKET, e.g.
// Notify(Ready, "STATUS=connected to ARI"). It returns ErrNoSocket when
// the variable is not set.
func Notify(states ...string) error {
	addr := os.Getenv("NOTIFY_SOCKET")
	if addr == "" {
		return ErrNoSocket
	}
	return Send(addr, states...)
}

// Send sends the states to the notification socket at addr (a path, or
// "@name" for the abstract namespace).
func Send(addr string, states ...string) error {
	if len(states) == 0 {
		return errors.New("sdnotify: no state to send")
	}
	for _, s := range states {
		if !strings.Contains(s, "=") || strings.Contains(s, "\n") {
			return fmt.Errorf("sdnotify: state %q is not one VARIABLE=value line", s)
		}
	}
	if addr == "" {
		return ErrNoSocket
	}
	if addr[0] != '/' && addr[0] != '@' {
		return fmt.Errorf("sdnotify: NOTIFY_SOCKET %q is neither a path nor an abstract @name", addr)
	}
	// Go maps a leading "@" to the abstract namespace's NUL byte.
	conn, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: addr, Net: "unixgram"})
	if err != nil {
		return fmt.Errorf("sdnotify: connect to NOTIFY_SOCKET %s: %w", addr, err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte(strings.Join(states, "\n"))); err != nil {
		return fmt.Errorf("sdnotify: send to NOTIFY_SOCKET %s: %w", addr, err)
	}
	return nil
}

// WatchdogInterval returns how often to send Watchdog: half of
// $WATCHDOG_USEC (the unit's WatchdogSec), and ok=false when the watchdog
// is off or meant for another process ($WATCHDOG_PID).
func WatchdogInterval() (d time.Duration, ok bool) {
	usec, err := strconv.ParseInt(os.Getenv("WATCHDOG_USEC"), 10, 64)
	if err != nil || usec <= 0 {
		return 0, false
	}
	if p := os.Getenv("WATCHDOG_PID"); p != "" {
		pid, err := strconv.Atoi(p)
		if err != nil || pid != os.Getpid() {
			return 0, false
		}
	}
	return time.Duration(usec) * time.Microsecond / 2, true
}
