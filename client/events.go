package client

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"iter"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// StoredEvent is an event as GET /events and /subscribe return it.
type StoredEvent struct {
	Topic      string          `json:"topic"`
	EventID    string          `json:"event_id"`
	Timestamp  time.Time       `json:"timestamp"`
	Source     string          `json:"source"`
	Payload    json.RawMessage `json:"payload"`
	Clock      int64           `json:"clock"`
	Seq        int64           `json:"seq"`
	ReceivedAt time.Time       `json:"received_at"`
}

// EventQuery selects a page of GET /events. Order is "arrival" (the
// default), "time" or "causal" (the last two need a Topic); After is a
// cursor from an earlier page ("" for the start); Limit 0 is the server's
// default.
type EventQuery struct {
	Topic, Order, After string
	Limit               int
}

// EventPage is one page: Next reads the next one ("" when there was
// nothing more), Last is where a tailing reader polls from.
type EventPage struct {
	Events  []StoredEvent `json:"events"`
	Next    string        `json:"next"`
	Last    string        `json:"last"`
	Skipped int64         `json:"skipped"`
}

// Events reads one page of events (retried like a publish) and observes
// every clock in it, so what this client publishes next sorts after what
// it read (order=causal).
func (c *Client) Events(ctx context.Context, q EventQuery) (EventPage, error) {
	v := url.Values{}
	for k, s := range map[string]string{"topic": q.Topic, "order": q.Order, "after": q.After} {
		if s != "" {
			v.Set(k, s)
		}
	}
	if q.Limit > 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	var page EventPage
	if _, err := c.retrying(ctx, func() (time.Duration, error) { return c.get(ctx, "/events?"+v.Encode(), &page) }); err != nil {
		return EventPage{}, err
	}
	for _, e := range page.Events {
		c.lamport.Observe(e.Clock)
	}
	return page, nil
}

// End returns the cursor after the newest stored event of topic ("" for
// all topics), in one probe of the store however many it holds: Subscribe
// from it to see only what is stored from now on.
func (c *Client) End(ctx context.Context, topic string) (string, error) {
	v := url.Values{"from": {"end"}, "limit": {"0"}}
	if topic != "" {
		v.Set("topic", topic)
	}
	var page EventPage
	_, err := c.retrying(ctx, func() (time.Duration, error) { return c.get(ctx, "/events?"+v.Encode(), &page) })
	return page.Last, err
}

// Delivery is one event of a subscription: ID is its cursor (resume
// after it), Data the event's JSON as the server sent it.
type Delivery struct {
	ID    string
	Event StoredEvent
	Data  json.RawMessage
}

// Subscribe follows GET /subscribe over one connection, starting after the
// cursor after ("" for the start of the stream), and yields each event as
// it is stored, observing its clock. It ends with an error when the
// connection ends: reconnect with the last ID for a stream without gap or
// repeat. Use an HTTP client without a timeout (WithHTTPClient) for
// long-lived streams.
func (c *Client) Subscribe(ctx context.Context, topic, after string) iter.Seq2[Delivery, error] {
	return func(yield func(Delivery, error) bool) {
		v := url.Values{}
		if topic != "" {
			v.Set("topic", topic)
		}
		req, err := http.NewRequestWithContext(ctx, "GET", c.base+"/subscribe?"+v.Encode(), nil)
		if err != nil {
			yield(Delivery{}, &Error{Code: "invalid", Message: err.Error()})
			return
		}
		if after != "" {
			req.Header.Set("Last-Event-ID", after)
		}
		resp, err := c.sendOnce(req)
		if err != nil {
			yield(Delivery{}, &Error{Message: "subscribe: " + err.Error()})
			return
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			data, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
			yield(Delivery{}, answerError(resp.StatusCode, data))
			return
		}
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		var id string
		for sc.Scan() {
			line := sc.Bytes()
			switch {
			case len(line) > 4 && string(line[:4]) == "id: ":
				id = string(line[4:])
			case len(line) > 6 && string(line[:6]) == "data: ":
				d := Delivery{ID: id, Data: json.RawMessage(append([]byte(nil), line[6:]...))}
				if err := json.Unmarshal(d.Data, &d.Event); err != nil {
					yield(Delivery{}, &Error{Message: "subscribe: bad event: " + err.Error()})
					return
				}
				c.lamport.Observe(d.Event.Clock)
				if !yield(d, nil) {
					return
				}
			}
		}
		err = sc.Err()
		if err == nil {
			err = errors.New("stream closed by the server")
		}
		yield(Delivery{}, &Error{Message: "subscribe: " + err.Error()})
	}
}
