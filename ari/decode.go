package ari

import (
	"encoding/json"
	"errors"
	"fmt"

	ariv5 "github.com/CyCoreSystems/ari/v5"
)

// Reasons of a DecodeError, also the "reason" label of the Undecodable counter.
const (
	ReasonBadJSON     = "bad_json"
	ReasonNoType      = "no_type"
	ReasonUnknownType = "unknown_type" // counted, but not an error: see UnknownEvent
	ReasonPanic       = "panic"
	ReasonTooLarge    = "too_large"
)

// DecodeError is returned by Decode for a message that is not an event.
type DecodeError struct {
	Reason string // ReasonBadJSON, ReasonNoType or ReasonPanic
	Err    error
}

func (e *DecodeError) Error() string { return "decode ARI event: " + e.Reason + ": " + e.Err.Error() }
func (e *DecodeError) Unwrap() error { return e.Err }

// UnknownEvent is an event whose type the ARI library (v5.3.1) does not know,
// e.g. ChannelTransfer, ChannelToneDetected, ApplicationRegistered or
// RESTResponse from Asterisk 22. Type (from EventData) names it and Raw holds
// the whole message. Keys returns the top-level "channel" and "bridge" IDs, if
// any, so the dispatcher delivers it to the owner of that channel or bridge.
type UnknownEvent struct {
	ariv5.EventData
	Raw json.RawMessage

	channelID, bridgeID string
}

// Keys returns the channel and bridge keys found at the top level.
func (e *UnknownEvent) Keys() ariv5.Keys {
	var kx ariv5.Keys
	if e.channelID != "" {
		kx = append(kx, e.Key(ariv5.ChannelKey, e.channelID))
	}
	if e.bridgeID != "" {
		kx = append(kx, e.Key(ariv5.BridgeKey, e.bridgeID))
	}
	return kx
}

var _ ariv5.Event = (*UnknownEvent)(nil)

// Decode decodes one websocket message. It never panics and never returns a
// nil event with a nil error:
//
//   - a type known to the library yields the library's event (e.g.
//     *ariv5.StasisStart). A field whose JSON type does not match the
//     library's Go type is left zero instead of failing the whole event
//     (json.UnmarshalTypeError); other decoding errors (e.g. a malformed
//     timestamp) reject the message;
//   - an unknown type yields *UnknownEvent;
//   - anything else yields a *DecodeError.
//
// The event types every call produces (StasisStart, Dial, ...) are read in
// one pass by fastDecode, which yields the same event as the library would,
// or defers to the library when in doubt (see fastdecode.go).
func Decode(data []byte) (ariv5.Event, error) {
	if ev := fastDecode(data); ev != nil {
		return ev, nil
	}
	return decodeSlow(data)
}

// decodeSlow is Decode through the library's ariv5.DecodeEvent.
func decodeSlow(data []byte) (ev ariv5.Event, err error) {
	var head struct {
		Type string `json:"type"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		return nil, &DecodeError{Reason: ReasonBadJSON, Err: err}
	}
	if head.Type == "" {
		return nil, &DecodeError{Reason: ReasonNoType, Err: errors.New(`no "type" field`)}
	}
	defer func() {
		if r := recover(); r != nil {
			ev = nil
			err = &DecodeError{Reason: ReasonPanic, Err: fmt.Errorf("ARI library panicked decoding %s: %v", head.Type, r)}
		}
	}()
	ev, err = ariv5.DecodeEvent(data)
	if ev == nil {
		// DecodeEvent's default branch: a well-formed event of a type it
		// does not know.
		return decodeUnknown(head.Type, data), nil
	}
	if err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) {
			return ev, nil
		}
		return nil, &DecodeError{Reason: ReasonBadJSON, Err: fmt.Errorf("%s: %w", head.Type, err)}
	}
	return ev, nil
}

func decodeUnknown(typ string, data []byte) *UnknownEvent {
	var meta struct {
		Application string `json:"application"`
		Node        string `json:"asterisk_id"`
		Channel     struct {
			ID string `json:"id"`
		} `json:"channel"`
		Bridge struct {
			ID string `json:"id"`
		} `json:"bridge"`
	}
	_ = json.Unmarshal(data, &meta) // best effort: already known to be valid JSON
	raw := make(json.RawMessage, len(data))
	copy(raw, data)
	return &UnknownEvent{
		EventData: ariv5.EventData{Type: typ, Application: meta.Application, Node: meta.Node},
		Raw:       raw,
		channelID: meta.Channel.ID,
		bridgeID:  meta.Bridge.ID,
	}
}
