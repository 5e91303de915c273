package acd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/redis/go-redis/v9"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	hotlinev1 "github.com/hotline12345/hotline-gw/api/hotline/v1"
)

// Notifications use Redis sharded pub/sub (SPUBLISH/SSUBSCRIBE, Redis 7+).
// The channels carry the keys' hash tag, so on a Cluster they all belong to
// the shard that holds the routing keys and every subscriber of a channel is
// connected to that shard: SPUBLISH's reply then counts every receiver in
// the cluster (plain PUBLISH on a Cluster counts only the receivers on the
// node it was sent to).

// ErrNoDesktop is returned by Offer when no event stream of the agent
// received the screen pop.
var ErrNoDesktop = errors.New("no desktop stream received the event")

func (p *Pool) eventChannel(ext string) string { return p.keys.Key("acd", "events", ext) }
func (p *Pool) readyChannel() string           { return p.keys.Key("acd", "skill-ready") }

func marshalEvent(ev *hotlinev1.AgentEvent) ([]byte, error) {
	return proto.Marshal(ev)
}

// Publish sends ev to every event stream of agent ext, on any instance, and
// returns how many streams received it (0: the agent has no desktop
// connected). Sets ev.At to now if unset.
func (p *Pool) Publish(ctx context.Context, ext string, ev *hotlinev1.AgentEvent) (int64, error) {
	if err := checkExt(ext); err != nil {
		return 0, err
	}
	if ev.At == nil {
		ev.At = timestamppb.Now()
	}
	b, err := marshalEvent(ev)
	if err != nil {
		return 0, fmt.Errorf("acd publish to %s: %w", ext, err)
	}
	ctx, cancel := p.opCtx(ctx)
	defer cancel()
	n, err := p.rdb.SPublish(ctx, p.eventChannel(ext), b).Result()
	if err != nil {
		return 0, fmt.Errorf("acd publish to %s: %w", ext, err)
	}
	return n, nil
}

// Offer publishes the screen pop to the agent's desktop. It returns once
// the offer is in the hands of at least one of the agent's event streams
// (each forwards it to its desktop without waiting for an acknowledgement),
// or ErrNoDesktop if none received it. Call it after Claim and before
// originating the agent's phone; on ErrNoDesktop release the agent with
// Missed (it is paused until its desktop is back and sets ready) and claim
// another.
func (p *Pool) Offer(ctx context.Context, ext string, offer *hotlinev1.CallOffer) error {
	n, err := p.Publish(ctx, ext, &hotlinev1.AgentEvent{Event: &hotlinev1.AgentEvent_Offer{Offer: offer}})
	if err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("acd offer %s to %s: %w", offer.GetCallId(), ext, ErrNoDesktop)
	}
	return nil
}

// ssubscribe subscribes to a sharded channel and waits, within ctx and the
// pool's timeout, for Redis to confirm: messages published after it returns
// are received.
func (p *Pool) ssubscribe(ctx context.Context, channel string) (*redis.PubSub, error) {
	ps := p.rdb.SSubscribe(ctx, channel)
	rctx, cancel := p.opCtx(ctx)
	defer cancel()
	for {
		msg, err := ps.ReceiveTimeout(rctx, p.timeout)
		if err != nil {
			_ = ps.Close()
			return nil, fmt.Errorf("subscribe %s: %w", channel, err)
		}
		if s, ok := msg.(*redis.Subscription); ok && s.Channel == channel {
			return ps, nil
		}
	}
}

// Subscribe returns the skills that gained a ready agent, from every
// instance, until ctx ends (then the channel is closed). It returns once
// the subscription is active. Notifications are hints: they are dropped
// when the receiver falls behind and lost while Redis reconnects, so the
// call owner also retries Claim on a ticker.
func (p *Pool) Subscribe(ctx context.Context) (<-chan string, error) {
	ps, err := p.ssubscribe(ctx, p.readyChannel())
	if err != nil {
		return nil, fmt.Errorf("acd: %w", err)
	}
	in := ps.Channel(redis.WithChannelSize(64))
	out := make(chan string, 64)
	go func() {
		defer close(out)
		defer ps.Close()
		for {
			select {
			case <-ctx.Done():
				return
			case m, ok := <-in:
				if !ok {
					return
				}
				select {
				case out <- m.Payload:
				default: // the receiver is behind; it polls anyway
				}
			}
		}
	}()
	return out, nil
}

// EventStream receives the events published to one agent.
type EventStream struct {
	ps  *redis.PubSub
	ch  <-chan *redis.Message
	ext string
	log *slog.Logger
}

// Events subscribes to agent ext's events and returns once the
// subscription is active: every event published after that is received (as
// long as the Redis connection holds; a desktop that reconnects gets a fresh
// state snapshot from StreamEvents). Close the stream when done.
func (p *Pool) Events(ctx context.Context, ext string) (*EventStream, error) {
	if err := checkExt(ext); err != nil {
		return nil, err
	}
	ps, err := p.ssubscribe(ctx, p.eventChannel(ext))
	if err != nil {
		return nil, fmt.Errorf("acd events of %s: %w", ext, err)
	}
	return &EventStream{ps: ps, ch: ps.Channel(redis.WithChannelSize(64), redis.WithChannelSendTimeout(10*time.Second)), ext: ext, log: p.log}, nil
}

// Next returns the next event, or ctx's error, or an error once the stream
// is closed. Undecodable messages are logged and skipped.
func (s *EventStream) Next(ctx context.Context) (*hotlinev1.AgentEvent, error) {
	for {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case m, ok := <-s.ch:
			if !ok {
				return nil, fmt.Errorf("acd events of %s: stream closed", s.ext)
			}
			ev, err := decodeEvent(m.Payload)
			if err != nil {
				s.log.Error("acd: undecodable agent event skipped", "ext", s.ext, "err", err)
				continue
			}
			return ev, nil
		}
	}
}

// Close ends the subscription.
func (s *EventStream) Close() error { return s.ps.Close() }

// stateMark starts the compact payload the scripts publish for an agent's
// new state: a NUL byte, which never starts an encoded protobuf message
// (field number 0 is invalid), then the cjson of {"at": µs since the
// epoch, "a": the agent's hash as HGETALL's flat list}.
const stateMark = '\x00'

// decodeEvent turns a message of an agent's event channel into the event:
// an encoded AgentEvent (built in Go: offers, progress), or a script's
// compact state payload.
func decodeEvent(payload string) (*hotlinev1.AgentEvent, error) {
	if len(payload) > 0 && payload[0] == stateMark {
		var st struct {
			At   string   `json:"at"`
			Hash []string `json:"a"`
		}
		if err := json.Unmarshal([]byte(payload[1:]), &st); err != nil {
			return nil, fmt.Errorf("state payload: %w", err)
		}
		flat := make([]any, len(st.Hash))
		for i, v := range st.Hash {
			flat[i] = v
		}
		a := parseAgent(flat)
		if a.Extension == "" {
			return nil, errors.New("state payload without an agent")
		}
		ev := &hotlinev1.AgentEvent{Event: &hotlinev1.AgentEvent_State{State: a.Proto()}}
		if at := micros(st.At); !at.IsZero() {
			ev.At = timestamppb.New(at)
		} else {
			ev.At = timestamppb.Now()
		}
		return ev, nil
	}
	ev := &hotlinev1.AgentEvent{}
	if err := proto.Unmarshal([]byte(payload), ev); err != nil {
		return nil, err
	}
	return ev, nil
}
