package ari

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// StoredRecording is one entry of GET /recordings/stored. Asterisk's
// StoredRecording carries no timestamp (name and format only, up to
// Asterisk 22): a recording's age must be known from elsewhere.
type StoredRecording struct {
	Name   string `json:"name"`
	Format string `json:"format"`
}

func checkRecordingName(op, name string) error {
	if name == "" {
		return fmt.Errorf("ari %s: empty recording name", op)
	}
	if strings.ContainsAny(name, "?#% \t\r\n") || strings.Contains(name, "..") {
		return fmt.Errorf("ari %s: invalid recording name %q", op, name)
	}
	return nil
}

// recordingURL is the URL of a stored recording (suffix "" or "/file");
// a name with "/" (a sub-directory) keeps its slashes, each segment escaped.
func (c *Client) recordingURL(name, suffix string) string {
	segs := strings.Split(name, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return c.cfg.URL + "/recordings/stored/" + strings.Join(segs, "/") + suffix
}

// rawRequest sends one REST request with basic auth through hc and
// returns the response; a non-2xx answer is an error wrapping the
// sentinel of its status (ErrNotFound for 404), with the body closed.
func (c *Client) rawRequest(ctx context.Context, hc *http.Client, op, id, method, u string, hdr http.Header) (*http.Response, error) {
	start := time.Now()
	req, err := http.NewRequestWithContext(ctx, method, u, nil)
	if err != nil {
		return nil, fmt.Errorf("ari %s %q: %w", op, id, err)
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	req.Header.Set("User-Agent", userAgent)
	req.SetBasicAuth(c.cfg.Username, c.cfg.Password)
	resp, err := hc.Do(req)
	if err != nil {
		return nil, opError(op, id, c.observe(op, start, err), err)
	}
	if resp.StatusCode/100 != 2 {
		msg := readARIMessage(resp.Body)
		_ = resp.Body.Close()
		serr := &statusError{code: resp.StatusCode, msg: msg}
		return nil, opError(op, id, c.observe(op, start, serr), serr)
	}
	c.observe(op, start, nil)
	return resp, nil
}

// statusError is a non-2xx ARI answer; classify reads its Code.
type statusError struct {
	code int
	msg  string
}

func (e *statusError) Code() int { return e.code }
func (e *statusError) Error() string {
	s := fmt.Sprintf("%d %s", e.code, http.StatusText(e.code))
	if e.msg != "" {
		s += " (" + e.msg + ")"
	}
	return s
}

// ListStored lists the completed recordings (GET /recordings/stored).
func (c *Client) ListStored(ctx context.Context) ([]StoredRecording, error) {
	resp, err := c.rawRequest(ctx, &c.http, "list_stored_recordings", "", http.MethodGet, c.cfg.URL+"/recordings/stored", nil)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var out []StoredRecording
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<20)).Decode(&out); err != nil {
		return nil, fmt.Errorf("ari list_stored_recordings: decode: %w", err)
	}
	return out, nil
}

// DeleteStored deletes a stored recording (DELETE
// /recordings/stored/{name}); one already gone is ErrNotFound.
func (c *Client) DeleteStored(ctx context.Context, name string) error {
	if err := checkRecordingName("delete_stored_recording", name); err != nil {
		return err
	}
	resp, err := c.rawRequest(ctx, &c.http, "delete_stored_recording", name, http.MethodDelete, c.recordingURL(name, ""), nil)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
	return resp.Body.Close()
}

// StoredFile opens the file of a stored recording (GET
// /recordings/stored/{name}/file). The body is streamed: only ctx and the
// transport's response-header timeout bound the request, not
// ari.request_timeout, so that a long recording can be copied to a slow
// client; the caller closes it. Asterisk (checked with 22) ignores Range
// on this endpoint and always answers 200 with the whole file and its
// Content-Length, so no Range is sent. A recording Asterisk does not store
// is ErrNotFound.
func (c *Client) StoredFile(ctx context.Context, name string) (*http.Response, error) {
	if err := checkRecordingName("stored_recording_file", name); err != nil {
		return nil, err
	}
	return c.rawRequest(ctx, c.streamClient(), "stored_recording_file", name, http.MethodGet, c.recordingURL(name, "/file"), nil)
}

// streamClient is an HTTP client on the REST transport without the
// per-request deadline of ariRoundTripper.
func (c *Client) streamClient() *http.Client {
	if rt, ok := c.http.Transport.(*ariRoundTripper); ok {
		return &http.Client{Transport: rt.base}
	}
	return &c.http
}
