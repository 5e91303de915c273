package ari

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"reflect"
	"strings"
	"time"
	"unsafe"

	"github.com/CyCoreSystems/ari/v5/client/native"
)

// userAgent is set on every REST request that goes through our transport.
const userAgent = "hotline-gw-ari"

// newHTTPClient returns the HTTP client used for ARI REST requests: a
// dedicated transport (http.DefaultTransport is not touched) sized for a
// single Asterisk host, wrapped by ariRoundTripper.
func newHTTPClient(requestTimeout, dialTimeout time.Duration, tlsCfg *tls.Config) http.Client {
	dialer := &net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second}
	base := &http.Transport{
		Proxy:                 nil, // ARI is local; never go through HTTP_PROXY
		DialContext:           dialer.DialContext,
		MaxIdleConns:          128,
		MaxIdleConnsPerHost:   64,
		MaxConnsPerHost:       128,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   dialTimeout,
		TLSClientConfig:       tlsCfg.Clone(), // nil: the system's roots
		ResponseHeaderTimeout: requestTimeout,
		ExpectContinueTimeout: time.Second,
	}
	return http.Client{Transport: &ariRoundTripper{base: base, timeout: requestTimeout}}
}

// ariRoundTripper puts a deadline on every request (the native client builds
// its requests without a context) and normalises ARI's answers so that the
// native client never loses the HTTP status:
//
//   - native decodes the body into the result before it checks the status, so
//     a non-2xx answer whose JSON does not fit the result type (e.g. an error
//     object for a list) became "failed to decode response" without a code.
//     For non-2xx answers we move ARI's {"message": ...} into resp.Status
//     (which native puts in its error text) and replace the body by "null",
//     which decodes into anything;
//   - an empty 2xx body (204 No Content) is replaced by "null" too.
type ariRoundTripper struct {
	base    http.RoundTripper
	timeout time.Duration
}

func (t *ariRoundTripper) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx, cancel := context.WithTimeout(req.Context(), t.timeout)
	r := req.WithContext(ctx)
	r.Header = req.Header.Clone()
	if r.Header == nil {
		r.Header = make(http.Header)
	}
	r.Header.Set("User-Agent", userAgent)
	resp, err := t.base.RoundTrip(r)
	if err != nil {
		cancel()
		return nil, err
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		msg := readARIMessage(resp.Body)
		_ = resp.Body.Close()
		cancel()
		resp.Status = fmt.Sprintf("%d %s", resp.StatusCode, http.StatusText(resp.StatusCode))
		if msg != "" {
			resp.Status += " (" + msg + ")"
		}
		resp.Body = io.NopCloser(strings.NewReader("null"))
		resp.ContentLength = 4
		return resp, nil
	}
	if resp.StatusCode == http.StatusNoContent || resp.ContentLength == 0 {
		_ = resp.Body.Close()
		cancel()
		resp.Body = io.NopCloser(strings.NewReader("null"))
		resp.ContentLength = 4
		return resp, nil
	}
	resp.Body = &cancelBody{ReadCloser: resp.Body, cancel: cancel}
	return resp, nil
}

// readARIMessage returns the "message" of an ARI error body, or a short
// excerpt of a non-JSON body.
func readARIMessage(body io.Reader) string {
	data, _ := io.ReadAll(io.LimitReader(body, 4096))
	data = bytes.TrimSpace(data)
	if len(data) == 0 {
		return ""
	}
	var m struct {
		Message string `json:"message"`
	}
	if json.Unmarshal(data, &m) == nil && m.Message != "" {
		return m.Message
	}
	return truncate(string(data), 200)
}

// cancelBody releases the request's deadline context when the body is closed.
type cancelBody struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (b *cancelBody) Close() error {
	err := b.ReadCloser.Close()
	b.cancel()
	return err
}

// setNativeHTTPClient replaces the unexported field
//
//	httpClient http.Client
//
// of a *native.Client. The library (pinned at v5.3.1) offers no way to supply
// an HTTP client and leaves Transport nil, i.e. http.DefaultTransport with no
// timeout; changing http.DefaultTransport would affect the whole process.
// The field is located by name and its type checked, so a library upgrade
// that changes it makes New fail loudly instead of corrupting memory. It must
// be called before the native client is used (no synchronisation).
func setNativeHTTPClient(nc *native.Client, hc http.Client) error {
	if nc == nil {
		return fmt.Errorf("set native ARI HTTP client: nil client")
	}
	v := reflect.ValueOf(nc).Elem()
	f, ok := v.Type().FieldByName("httpClient")
	if !ok {
		return fmt.Errorf("set native ARI HTTP client: %s has no field httpClient (library version changed?)", v.Type())
	}
	if f.Type != reflect.TypeFor[http.Client]() {
		return fmt.Errorf("set native ARI HTTP client: field %s.httpClient has type %s, want http.Client", v.Type(), f.Type)
	}
	field := v.FieldByIndex(f.Index)
	// The field is unexported, so reflect refuses Set; write through a
	// pointer to the (addressable) field instead.
	*(*http.Client)(unsafe.Pointer(field.UnsafeAddr())) = hc
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// CloseIdleConnections closes the base transport's idle keep-alive connections.
func (t *ariRoundTripper) CloseIdleConnections() {
	if c, ok := t.base.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

// CloseIdleConnections closes the REST client's idle keep-alive connections
// (at shutdown, once Run has returned), so that no connection goroutine
// outlives the client.
func (c *Client) CloseIdleConnections() { c.http.CloseIdleConnections() }
