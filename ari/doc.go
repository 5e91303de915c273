// Package ari is hotline-gw's adapter to the Asterisk REST Interface.
//
// It uses the types and the REST client of github.com/CyCoreSystems/ari/v5
// (pinned at v5.3.1) but owns everything the library gets wrong for a
// long-running gateway:
//
//   - the event websocket ([Client.Run]): decoding that never crashes on event
//     types the library does not know (Asterisk 22 emits several), reconnection
//     with jittered exponential backoff, Asterisk restart detection and an
//     OnConnect hook that runs before any event of a new connection is
//     dispatched;
//   - REST calls with a context, a per-request deadline, a tuned HTTP transport
//     and classified errors ([ErrNotFound], [ErrConflict], [ErrUnavailable]);
//   - dispatch ([Dispatcher], [Mailbox]): each call's events are delivered in
//     order to the single owner of that call through a bounded queue; a slow
//     owner never blocks the reader or other owners, and an overflow is never
//     silent (the owner receives an overflow notice and resynchronises).
//
// The library's own websocket (native.Connect, Client.Connect) and event bus
// (stdbus) are never used.
package ari
