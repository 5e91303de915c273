package ari

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	ariv5 "github.com/CyCoreSystems/ari/v5"
)

// call runs fn (a blocking native REST call) and returns its result, or
// returns early with ctx's error when ctx is done first. The abandoned call
// ends by itself: the transport puts a RequestTimeout deadline on every
// request. It records the Requests histogram and classifies the error.
func call[T any](ctx context.Context, c *Client, op, id string, fn func() (T, error)) (T, error) {
	var zero T
	start := time.Now()
	if err := ctx.Err(); err != nil {
		c.observe(op, start, err)
		return zero, opError(op, id, ctxSentinel(err), err)
	}
	if err := c.lim.acquire(ctx, op); err != nil {
		c.observe(op, start, err)
		return zero, opError(op, id, nil, err)
	}
	type result struct {
		v   T
		err error
	}
	done := make(chan result, 1)
	go func() {
		// The slot is held until Asterisk answers (or the transport's
		// deadline ends the request), even when the caller gave up.
		sent := time.Now()
		v, err := fn()
		_, res := classify(err)
		c.lim.release(time.Since(sent), res == resultTimeout)
		done <- result{v, err}
	}()
	var (
		v   T
		err error
	)
	select {
	case r := <-done:
		v, err = r.v, r.err
	case <-ctx.Done():
		err = ctx.Err()
	}
	sentinel := c.observe(op, start, err)
	if err != nil {
		return zero, opError(op, id, sentinel, err)
	}
	return v, nil
}

func ctxSentinel(err error) error {
	if err == context.DeadlineExceeded { //nolint:errorlint // ctx.Err() is never wrapped
		return ErrUnavailable
	}
	return nil
}

func (c *Client) observe(op string, start time.Time, err error) error {
	sentinel, result := classify(err)
	c.m.Requests.WithLabelValues(op, result).Observe(time.Since(start).Seconds())
	return sentinel
}

// call0 is call for operations without a result.
func call0(ctx context.Context, c *Client, op, id string, fn func() error) error {
	_, err := call(ctx, c, op, id, func() (struct{}, error) { return struct{}{}, fn() })
	return err
}

// checkID rejects identifiers that the native client would splice into a
// URL path unescaped.
func checkID(op, what, id string) error {
	if id == "" {
		return fmt.Errorf("ari %s: empty %s ID", op, what)
	}
	if strings.ContainsAny(id, "/?#% \t\r\n") {
		return fmt.Errorf("ari %s: invalid %s ID %q", op, what, id)
	}
	return nil
}

func chanKey(id string) *ariv5.Key   { return ariv5.NewKey(ariv5.ChannelKey, id) }
func bridgeKey(id string) *ariv5.Key { return ariv5.NewKey(ariv5.BridgeKey, id) }

// Answer answers a channel (POST /channels/{id}/answer).
func (c *Client) Answer(ctx context.Context, channelID string) error {
	if err := checkID("answer", "channel", channelID); err != nil {
		return err
	}
	return call0(ctx, c, "answer", channelID, func() error { return c.native.Channel().Answer(chanKey(channelID)) })
}

// Ring indicates ringing to a channel (POST /channels/{id}/ring).
func (c *Client) Ring(ctx context.Context, channelID string) error {
	if err := checkID("ring", "channel", channelID); err != nil {
		return err
	}
	return call0(ctx, c, "ring", channelID, func() error { return c.native.Channel().Ring(chanKey(channelID)) })
}

// validHangupReason reports whether DELETE /channels/{id} accepts reason
// (Asterisk 22).
func validHangupReason(reason string) bool {
	switch reason {
	case "normal", "busy", "congestion", "no_answer", "timeout", "rejected",
		"unallocated", "normal_unspecified", "number_incomplete",
		"codec_mismatch", "interworking", "failure", "answered_elsewhere":
		return true
	}
	return false
}

// Hangup hangs a channel up (DELETE /channels/{id}?reason=...). reason is
// one of ARI's reasons ("normal", "busy", "congestion", "no_answer",
// "timeout", "rejected", "unallocated", "normal_unspecified",
// "number_incomplete", "codec_mismatch", "interworking", "failure",
// "answered_elsewhere"); empty means "normal". A channel that is already
// gone yields ErrNotFound.
func (c *Client) Hangup(ctx context.Context, channelID, reason string) error {
	if err := checkID("hangup", "channel", channelID); err != nil {
		return err
	}
	if reason == "" {
		reason = "normal"
	}
	if !validHangupReason(reason) {
		return fmt.Errorf("ari hangup %q: unknown reason %q", channelID, reason)
	}
	return call0(ctx, c, "hangup", channelID, func() error { return c.native.Channel().Hangup(chanKey(channelID), reason) })
}

// Continue sends a channel back to the dialplan
// (POST /channels/{id}/continue). Empty context/exten keep the current ones.
func (c *Client) Continue(ctx context.Context, channelID, dialplanContext, exten string, priority int) error {
	if err := checkID("continue", "channel", channelID); err != nil {
		return err
	}
	return call0(ctx, c, "continue", channelID, func() error {
		return c.native.Channel().Continue(chanKey(channelID), dialplanContext, exten, priority)
	})
}

// OriginateParams describes a channel to originate into a Stasis application.
type OriginateParams struct {
	// ChannelID is chosen by the caller so that it can Attach the ID to its
	// mailbox before the channel's first event arrives. Required.
	ChannelID string
	// Endpoint to dial, e.g. "PJSIP/1001" or "PJSIP/agent@trunk".
	Endpoint string
	// CallerID, e.g. `"12345" <12345>`. Optional.
	CallerID string
	// Timeout to wait for an answer; rounded up to whole seconds; zero means
	// ARI's default (30 s).
	Timeout time.Duration
	// App is the Stasis application; empty means the client's application.
	App string
	// AppArgs are the arguments passed in StasisStart (comma separated).
	AppArgs string
	// Variables to set on the new channel.
	Variables map[string]string
	// Originator is the channel the new one is for (codec negotiation).
	Originator string
}

// Originate creates an outgoing channel (POST /channels).
func (c *Client) Originate(ctx context.Context, p OriginateParams) error {
	if err := checkID("originate", "channel", p.ChannelID); err != nil {
		return err
	}
	if p.Endpoint == "" {
		return fmt.Errorf("ari originate %q: empty endpoint", p.ChannelID)
	}
	req := ariv5.OriginateRequest{
		Endpoint:   p.Endpoint,
		CallerID:   p.CallerID,
		App:        p.App,
		AppArgs:    p.AppArgs,
		ChannelID:  p.ChannelID,
		Originator: p.Originator,
		Variables:  p.Variables,
	}
	if req.App == "" {
		req.App = c.cfg.Application
	}
	if p.Timeout > 0 {
		req.Timeout = int((p.Timeout + time.Second - 1) / time.Second)
	}
	return call0(ctx, c, "originate", p.ChannelID, func() error {
		_, err := c.native.Channel().Originate(nil, req)
		return err
	})
}

// CreateBridge creates a bridge with the given ID (POST /bridges/{id});
// bridgeType is a comma-separated list such as "mixing" or "mixing,dtmf_events".
func (c *Client) CreateBridge(ctx context.Context, bridgeID, bridgeType string) error {
	if err := checkID("create_bridge", "bridge", bridgeID); err != nil {
		return err
	}
	if bridgeType == "" {
		bridgeType = "mixing"
	}
	return call0(ctx, c, "create_bridge", bridgeID, func() error {
		_, err := c.native.Bridge().Create(bridgeKey(bridgeID), bridgeType, bridgeID)
		return err
	})
}

// AddChannel adds a channel to a bridge (POST /bridges/{id}/addChannel).
func (c *Client) AddChannel(ctx context.Context, bridgeID, channelID string) error {
	if err := checkID("add_channel", "bridge", bridgeID); err != nil {
		return err
	}
	if err := checkID("add_channel", "channel", channelID); err != nil {
		return err
	}
	return call0(ctx, c, "add_channel", bridgeID+"/"+channelID, func() error {
		return c.native.Bridge().AddChannel(bridgeKey(bridgeID), channelID)
	})
}

// AddChannels adds several channels to a bridge in one request
// (POST /bridges/{id}/addChannel with {"channel": [ids...]}). Asterisk's
// handler takes the parameter as a JSON array (or a comma-separated query
// parameter); the native client sends one JSON string, which Asterisk
// takes as a single channel ID ("a,b": "Channel not found"), so this
// request is our own. One ID is AddChannel.
func (c *Client) AddChannels(ctx context.Context, bridgeID string, channelIDs ...string) error {
	if err := checkID("add_channel", "bridge", bridgeID); err != nil {
		return err
	}
	if len(channelIDs) == 0 {
		return fmt.Errorf("ari add_channel %q: no channel", bridgeID)
	}
	for _, ch := range channelIDs {
		if err := checkID("add_channel", "channel", ch); err != nil {
			return err
		}
	}
	if len(channelIDs) == 1 {
		return c.AddChannel(ctx, bridgeID, channelIDs[0])
	}
	body := struct {
		Channel []string `json:"channel"`
	}{channelIDs}
	err := call0(ctx, c, "add_channels", bridgeID+"/"+strings.Join(channelIDs, ","), func() error {
		return c.post("/bridges/"+url.PathEscape(bridgeID)+"/addChannel", body)
	})
	var se *statusError
	if errors.As(err, &se) && !errors.Is(err, ErrNotFound) &&
		(se.code == http.StatusUnprocessableEntity || se.code == http.StatusBadRequest && se.msg == "Channel not found") {
		// 422 (not in the application) or 400 "Channel not found": one of
		// them is gone, nothing was added, and asking again will not help.
		return fmt.Errorf("%w: %w", ErrNotFound, err)
	}
	return err
}

// post sends a JSON body to path (under ari.url) through the REST
// transport (its deadline, and ARI's error message in the status).
func (c *Client) post(path string, body any) error {
	b, err := json.Marshal(body)
	if err != nil {
		return fmt.Errorf("encode request: %w", err)
	}
	req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, c.cfg.URL+path, bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.SetBasicAuth(c.cfg.Username, c.cfg.Password)
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode/100 != 2 {
		// The transport moved ARI's message into the status: "404 Not Found (msg)".
		msg := strings.TrimPrefix(resp.Status, fmt.Sprintf("%d %s", resp.StatusCode, http.StatusText(resp.StatusCode)))
		msg = strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(msg), "("), ")")
		return &statusError{code: resp.StatusCode, msg: msg}
	}
	return nil
}

// SetGlobal sets an Asterisk global variable (POST /asterisk/variable);
// an empty value clears it.
func (c *Client) SetGlobal(ctx context.Context, name, value string) error {
	if name == "" || strings.ContainsAny(name, "/?#%&= \t\r\n") {
		return fmt.Errorf("ari set_global: invalid variable name %q", name)
	}
	body := struct {
		Variable string `json:"variable"`
		Value    string `json:"value"`
	}{name, value}
	return call0(ctx, c, "set_global", name, func() error { return c.post("/asterisk/variable", body) })
}

// RemoveChannel removes a channel from a bridge (POST /bridges/{id}/removeChannel).
func (c *Client) RemoveChannel(ctx context.Context, bridgeID, channelID string) error {
	if err := checkID("remove_channel", "bridge", bridgeID); err != nil {
		return err
	}
	if err := checkID("remove_channel", "channel", channelID); err != nil {
		return err
	}
	return call0(ctx, c, "remove_channel", bridgeID+"/"+channelID, func() error {
		return c.native.Bridge().RemoveChannel(bridgeKey(bridgeID), channelID)
	})
}

// DestroyBridge destroys a bridge (DELETE /bridges/{id}).
func (c *Client) DestroyBridge(ctx context.Context, bridgeID string) error {
	if err := checkID("destroy_bridge", "bridge", bridgeID); err != nil {
		return err
	}
	return call0(ctx, c, "destroy_bridge", bridgeID, func() error { return c.native.Bridge().Delete(bridgeKey(bridgeID)) })
}

// ListBridges returns the IDs of all bridges (GET /bridges).
func (c *Client) ListBridges(ctx context.Context) ([]string, error) {
	return call(ctx, c, "list_bridges", "", func() ([]string, error) {
		keys, err := c.native.Bridge().List(nil)
		return keyIDs(keys), err
	})
}

// BridgeChannels returns the IDs of the channels in a bridge
// (GET /bridges/{id} → channels).
func (c *Client) BridgeChannels(ctx context.Context, bridgeID string) ([]string, error) {
	if err := checkID("bridge", "bridge", bridgeID); err != nil {
		return nil, err
	}
	return call(ctx, c, "bridge", bridgeID, func() ([]string, error) {
		d, err := c.native.Bridge().Data(bridgeKey(bridgeID))
		if err != nil {
			return nil, err
		}
		return d.ChannelIDs, nil
	})
}

// StartMOH starts music on hold on a channel (POST /channels/{id}/moh);
// empty class means the channel's default.
func (c *Client) StartMOH(ctx context.Context, channelID, class string) error {
	if err := checkID("start_moh", "channel", channelID); err != nil {
		return err
	}
	return call0(ctx, c, "start_moh", channelID, func() error { return c.native.Channel().MOH(chanKey(channelID), class) })
}

// StopMOH stops music on hold on a channel (DELETE /channels/{id}/moh).
func (c *Client) StopMOH(ctx context.Context, channelID string) error {
	if err := checkID("stop_moh", "channel", channelID); err != nil {
		return err
	}
	return call0(ctx, c, "stop_moh", channelID, func() error { return c.native.Channel().StopMOH(chanKey(channelID)) })
}

// Play starts playing mediaURI (e.g. "sound:hotline/welcome") on a channel
// as playback playbackID (POST /channels/{id}/play/{playbackId}). The
// playback's events carry the playback ID and target the channel; the
// dispatcher routes them to the channel's owner.
func (c *Client) Play(ctx context.Context, channelID, playbackID, mediaURI string) error {
	if err := checkID("play", "channel", channelID); err != nil {
		return err
	}
	if err := checkID("play", "playback", playbackID); err != nil {
		return err
	}
	return call0(ctx, c, "play", channelID, func() error {
		_, err := c.native.Channel().Play(chanKey(channelID), playbackID, mediaURI)
		return err
	})
}

// StopPlayback stops a playback (DELETE /playbacks/{id}).
func (c *Client) StopPlayback(ctx context.Context, playbackID string) error {
	if err := checkID("stop_playback", "playback", playbackID); err != nil {
		return err
	}
	return call0(ctx, c, "stop_playback", playbackID, func() error {
		return c.native.Playback().Stop(ariv5.NewKey(ariv5.PlaybackKey, playbackID))
	})
}

// RecordBridge starts recording a bridge (POST /bridges/{id}/record) to the
// stored recording name (may contain "/" for sub-directories of Asterisk's
// recording directory) in format (e.g. "wav").
func (c *Client) RecordBridge(ctx context.Context, bridgeID, name, format string) error {
	if err := checkID("record_bridge", "bridge", bridgeID); err != nil {
		return err
	}
	if name == "" || format == "" {
		return fmt.Errorf("ari record_bridge %q: name and format are required", bridgeID)
	}
	return call0(ctx, c, "record_bridge", bridgeID, func() error {
		_, err := c.native.Bridge().Record(bridgeKey(bridgeID), name, &ariv5.RecordingOptions{Format: format, Exists: "fail"})
		return err
	})
}

// Channel returns a channel's current state (GET /channels/{id}).
//
// Caveat of the library type (v5.3.1): its ChannelData.UnmarshalJSON drops
// "language" and "protocol_id".
func (c *Client) Channel(ctx context.Context, channelID string) (*ariv5.ChannelData, error) {
	if err := checkID("channel", "channel", channelID); err != nil {
		return nil, err
	}
	return call(ctx, c, "channel", channelID, func() (*ariv5.ChannelData, error) {
		return c.native.Channel().Data(chanKey(channelID))
	})
}

// ListChannels returns the IDs of all channels of the Asterisk instance
// (GET /channels). The native client discards the channels' data; use
// Channel for details.
func (c *Client) ListChannels(ctx context.Context) ([]string, error) {
	return call(ctx, c, "list_channels", "", func() ([]string, error) {
		keys, err := c.native.Channel().List(nil)
		return keyIDs(keys), err
	})
}

// AppChannels returns the IDs of the channels subscribed to our application
// (GET /applications/{app} → channel_ids), i.e. the calls in Stasis.
func (c *Client) AppChannels(ctx context.Context) ([]string, error) {
	d, err := c.application(ctx)
	if err != nil {
		return nil, err
	}
	return d.ChannelIDs, nil
}

func (c *Client) application(ctx context.Context) (*ariv5.ApplicationData, error) {
	return call(ctx, c, "application", c.cfg.Application, func() (*ariv5.ApplicationData, error) {
		return c.native.Application().Data(ariv5.NewKey(ariv5.ApplicationKey, c.cfg.Application))
	})
}

// GetVar reads a channel variable or function, e.g. "CDR(userfield)"
// (GET /channels/{id}/variable).
func (c *Client) GetVar(ctx context.Context, channelID, name string) (string, error) {
	if err := checkID("get_var", "channel", channelID); err != nil {
		return "", err
	}
	if name == "" {
		return "", fmt.Errorf("ari get_var %q: empty variable name", channelID)
	}
	// native splices the name into the query string unescaped.
	escaped := url.QueryEscape(name)
	return call(ctx, c, "get_var", channelID, func() (string, error) {
		return c.native.Channel().GetVariable(chanKey(channelID), escaped)
	})
}

// SetVar sets a channel variable (POST /channels/{id}/variable).
func (c *Client) SetVar(ctx context.Context, channelID, name, value string) error {
	if err := checkID("set_var", "channel", channelID); err != nil {
		return err
	}
	if name == "" {
		return fmt.Errorf("ari set_var %q: empty variable name", channelID)
	}
	return call0(ctx, c, "set_var", channelID, func() error {
		return c.native.Channel().SetVariable(chanKey(channelID), name, value)
	})
}

// Info returns Asterisk's system information (GET /asterisk/info);
// SystemInfo.EntityID and StatusInfo.StartupTime identify a running instance.
func (c *Client) Info(ctx context.Context) (*ariv5.AsteriskInfo, error) {
	return call(ctx, c, "info", "", func() (*ariv5.AsteriskInfo, error) {
		info, err := c.native.Asterisk().Info(nil)
		if err != nil {
			return nil, err
		}
		return info, nil
	})
}

func keyIDs(keys []*ariv5.Key) []string {
	ids := make([]string, 0, len(keys))
	for _, k := range keys {
		if k != nil {
			ids = append(ids, k.ID)
		}
	}
	return ids
}

// setEventFilter asks Asterisk not to send the given event types to the
// application (PUT /applications/{app}/eventFilter, Asterisk 16.8+).
func (c *Client) setEventFilter(ctx context.Context, disallowed []string) error {
	type typ struct {
		Type string `json:"type"`
	}
	body := struct {
		Disallowed []typ `json:"disallowed"`
	}{}
	for _, t := range disallowed {
		body.Disallowed = append(body.Disallowed, typ{t})
	}
	b, err := json.Marshal(body)
	if err != nil {
		return fmt.Errorf("ari event filter: %w", err)
	}
	start := time.Now()
	req, err := http.NewRequestWithContext(ctx, http.MethodPut,
		c.cfg.URL+"/applications/"+url.PathEscape(c.cfg.Application)+"/eventFilter", bytes.NewReader(b))
	if err != nil {
		return fmt.Errorf("ari event filter: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.SetBasicAuth(c.cfg.Username, c.cfg.Password)
	resp, err := c.http.Do(req)
	if err != nil {
		c.observe("event_filter", start, err)
		return fmt.Errorf("ari event filter: %w: %w", ErrUnavailable, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	c.observe("event_filter", start, nil)
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("ari event filter: %s", resp.Status)
	}
	return nil
}
