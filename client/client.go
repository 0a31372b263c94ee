package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Event is one event to publish. Timestamp is RFC 3339 text (see Time);
// Payload must be a JSON object. Clock is its Lamport time: leave it nil
// and Publish stamps the event from the client's Clock.
type Event struct {
	Topic     string          `json:"topic"`
	EventID   string          `json:"event_id"`
	Timestamp string          `json:"timestamp"`
	Source    string          `json:"source"`
	Payload   json.RawMessage `json:"payload"`
	Clock     *int64          `json:"clock,omitempty"`
}

// Time formats t the way the server stores it: UTC RFC 3339 with µs.
func Time(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.999999Z07:00") }

// Verdict is the server's answer for one event.
type Verdict struct {
	Index  int    `json:"index"`
	Status string `json:"status"` // accepted, duplicate, conflict or rejected
	Seq    int64  `json:"seq,omitempty"`
	Error  string `json:"error,omitempty"`
}

// Result is the answer to one Publish.
type Result struct {
	Received   int       `json:"received"` // events in the request, rejected included
	Accepted   int       `json:"accepted"` // stored now
	Duplicates int       `json:"duplicates"`
	Conflicts  int       `json:"conflicts"` // the key is stored with other content: nothing stored
	Rejected   int       `json:"rejected"`
	Results    []Verdict `json:"results"`
	Retries    int       `json:"-"` // how many times the request was sent again
}

// Error is a request the server refused, or that could not be delivered.
type Error struct {
	Status  int    // HTTP status; 0 when no answer came
	Code    string // the server's error code, from the status
	Message string
}

func (e *Error) Error() string {
	if e.Status == 0 {
		return e.Message
	}
	return fmt.Sprintf("eventagg: %d %s: %s", e.Status, e.Code, e.Message)
}

// codeOf maps a status back to the domain's error code (the server's table
// lives in internal/httpapi).
func codeOf(status int) string {
	switch status {
	case http.StatusBadRequest, http.StatusUnprocessableEntity:
		return "invalid"
	case http.StatusRequestEntityTooLarge:
		return "too_large"
	case http.StatusUnsupportedMediaType:
		return "unsupported"
	case http.StatusNotFound:
		return "not_found"
	case http.StatusUnauthorized, http.StatusForbidden:
		return "forbidden"
	case http.StatusServiceUnavailable, http.StatusTooManyRequests, http.StatusBadGateway, http.StatusGatewayTimeout:
		return "unavailable"
	}
	return "internal"
}

// Retry configures back-off. Wait before attempt n (n = 1 for the first
// retry) is a uniformly random duration in [0, min(Max, Base·2^(n-1))] ("full
// jitter", so many publishers that failed together do not retry together),
// but at least the server's Retry-After. Retrying stops when the next wait
// would end past MaxElapsed since the first attempt.
type Retry struct {
	Base, Max, MaxElapsed time.Duration
}

// DefaultRetry: 100 ms doubling to 10 s, giving up after 2 minutes.
var DefaultRetry = Retry{Base: 100 * time.Millisecond, Max: 10 * time.Second, MaxElapsed: 2 * time.Minute}

// TimeSource is the client's source of wall-clock time for back-off;
// tests replace it to check waits without waiting.
type TimeSource interface {
	Now() time.Time
	Sleep(ctx context.Context, d time.Duration) error
}

type realTime struct{}

func (realTime) Now() time.Time { return time.Now() }

func (realTime) Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Client sends events to one eventagg server.
type Client struct {
	base   string
	key    string
	http   *http.Client
	retry  Retry
	clock  TimeSource
	jitter func(max time.Duration) time.Duration
	// lamport stamps what this client publishes and observes what it
	// reads (see Clock).
	lamport *Clock
}

// Option configures a Client.
type Option func(*Client)

// WithHTTPClient sets the HTTP client (timeouts, transport).
func WithHTTPClient(h *http.Client) Option { return func(c *Client) { c.http = h } }

// WithAPIKey sends key as "Authorization: Bearer KEY" (servers run with
// --auth-file need one with the publish right).
func WithAPIKey(key string) Option { return func(c *Client) { c.key = key } }

// WithRetry sets the back-off policy.
func WithRetry(r Retry) Option { return func(c *Client) { c.retry = r } }

// WithTimeSource sets the source of time used for back-off waits.
func WithTimeSource(ts TimeSource) Option { return func(c *Client) { c.clock = ts } }

// WithLamportClock makes the client stamp and observe with lc, for
// instance one clock shared by every client of a process (by default each
// client has its own).
func WithLamportClock(lc *Clock) Option { return func(c *Client) { c.lamport = lc } }

// WithJitter replaces the random draw in [0, max]; tests make it fixed.
func WithJitter(f func(max time.Duration) time.Duration) Option {
	return func(c *Client) { c.jitter = f }
}

// New returns a client for the server at baseURL (e.g. http://127.0.0.1:8080).
func New(baseURL string, opts ...Option) *Client {
	c := &Client{
		base:    strings.TrimRight(baseURL, "/"),
		http:    &http.Client{Timeout: 30 * time.Second},
		retry:   DefaultRetry,
		clock:   realTime{},
		lamport: new(Clock),
		jitter: func(max time.Duration) time.Duration {
			if max <= 0 {
				return 0
			}
			return rand.N(max + 1)
		},
	}
	for _, o := range opts {
		o(c)
	}
	return c
}

// Publish sends events as one batch and returns the server's verdicts,
// retrying as described in the package doc. Each event without a Clock is
// stamped once, here: its retries carry the same clock.
func (c *Client) Publish(ctx context.Context, events ...Event) (Result, error) {
	raws := make([]json.RawMessage, len(events))
	for i, e := range events {
		if e.Clock == nil {
			t := c.lamport.Tick()
			e.Clock = &t
		}
		b, err := json.Marshal(e)
		if err != nil {
			return Result{}, fmt.Errorf("event %d: %w", i, err)
		}
		raws[i] = b
	}
	return c.PublishRaw(ctx, raws...)
}

// PublishRaw sends already encoded events (each a JSON object) as one
// batch, stamping those without a "clock" as Publish does.
func (c *Client) PublishRaw(ctx context.Context, events ...json.RawMessage) (Result, error) {
	if len(events) == 0 {
		return Result{}, nil
	}
	size := 2 + len(events)
	stamped := make([]json.RawMessage, len(events)) // the caller's slice stays as it was
	for i, e := range events {
		stamped[i] = c.lamport.stamp(e)
		size += len(stamped[i])
	}
	events = stamped
	body := make([]byte, 0, size)
	body = append(body, '[')
	for i, e := range events {
		if i > 0 {
			body = append(body, ',')
		}
		body = append(body, e...)
	}
	body = append(body, ']')
	return c.send(ctx, body)
}

// send posts body until it gets an answer that is not worth retrying.
func (c *Client) send(ctx context.Context, body []byte) (Result, error) {
	var res Result
	attempts, err := c.retrying(ctx, func() (time.Duration, error) {
		var retryAfter time.Duration
		var err error
		res, retryAfter, err = c.post(ctx, body)
		return retryAfter, err
	})
	res.Retries = attempts - 1
	if err != nil {
		return Result{Retries: attempts - 1}, err
	}
	return res, nil
}

// retrying calls attempt until it succeeds or fails in a way not worth
// retrying, waiting between attempts as Retry says, and returns how many
// attempts it made.
func (c *Client) retrying(ctx context.Context, attempt func() (retryAfter time.Duration, err error)) (int, error) {
	start := c.clock.Now()
	for n := 1; ; n++ {
		retryAfter, err := attempt()
		if err == nil {
			return n, nil
		}
		var e *Error
		if errors.As(err, &e) && e.Status != 0 && !retryable(e.Status) {
			return n, err
		}
		if ctx.Err() != nil {
			return n, ctx.Err()
		}
		wait := c.backoff(n, retryAfter)
		if c.clock.Now().Add(wait).Sub(start) > c.retry.MaxElapsed {
			return n, fmt.Errorf("giving up after %d attempts: %w", n, err)
		}
		if err := c.clock.Sleep(ctx, wait); err != nil {
			return n, err
		}
	}
}

func retryable(status int) bool {
	switch status {
	case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// backoff is the wait before retry n: full jitter, at least retryAfter.
func (c *Client) backoff(n int, retryAfter time.Duration) time.Duration {
	ceil := c.retry.Max
	if n-1 < 62 {
		if d := c.retry.Base << (n - 1); d > 0 && d < ceil {
			ceil = d
		}
	}
	return max(c.jitter(ceil), retryAfter)
}

func (c *Client) post(ctx context.Context, body []byte) (Result, time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, "POST", c.base+"/publish", bytes.NewReader(body))
	if err != nil {
		return Result{}, 0, &Error{Status: 0, Code: "invalid", Message: err.Error()}
	}
	req.Header.Set("Content-Type", "application/json")
	var res Result
	retryAfter, err := c.do(req, &res)
	return res, retryAfter, err
}

// get reads path (with its query) into v, once.
func (c *Client) get(ctx context.Context, path string, v any) (time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", c.base+path, nil)
	if err != nil {
		return 0, &Error{Status: 0, Code: "invalid", Message: err.Error()}
	}
	return c.do(req, v)
}

// do sends req and decodes a 200 answer into v; any other status is an
// *Error carrying the server's message and its Retry-After.
func (c *Client) do(req *http.Request, v any) (time.Duration, error) {
	resp, err := c.sendOnce(req)
	if err != nil {
		return 0, &Error{Message: "deliver: " + err.Error()}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, &Error{Message: "read answer: " + err.Error()}
	}
	if resp.StatusCode != http.StatusOK {
		return parseRetryAfter(resp.Header.Get("Retry-After"), c.clock.Now()), answerError(resp.StatusCode, data)
	}
	if err := json.Unmarshal(data, v); err != nil {
		return 0, &Error{Message: "decode answer: " + err.Error()}
	}
	return 0, nil
}

// sendOnce sends req once, with the API key.
func (c *Client) sendOnce(req *http.Request) (*http.Response, error) {
	if c.key != "" {
		req.Header.Set("Authorization", "Bearer "+c.key)
	}
	return c.http.Do(req)
}

// answerError is the *Error for an answer other than 200: the server's
// JSON error message, or the body as text.
func answerError(status int, data []byte) *Error {
	var e struct{ Error string }
	if json.Unmarshal(data, &e) != nil || e.Error == "" {
		e.Error = strings.TrimSpace(string(data))
	}
	return &Error{Status: status, Code: codeOf(status), Message: e.Error}
}

// parseRetryAfter reads delay-seconds or an HTTP date; 0 if absent or bad.
func parseRetryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil && s >= 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}
