package client

import (
	"context"
	"iter"
	"net/url"
	"strconv"
	"time"
)

// Topic is one topic's counters, as GET /topics and GET /topics/{name}
// give them. Received is LastSeq (the events stored) plus Duplicates plus
// Conflicts.
type Topic struct {
	Topic      string     `json:"topic"`
	Received   int64      `json:"received"`
	Duplicates int64      `json:"duplicates"`
	Conflicts  int64      `json:"conflicts"`
	LastSeq    int64      `json:"last_seq"`
	Processed  int64      `json:"processed"`
	FirstTime  *time.Time `json:"first_timestamp,omitempty"`
	LastTime   *time.Time `json:"last_timestamp,omitempty"`
}

// topicsPageSize is how many topics Topics asks for at a time: the
// server's maximum.
const topicsPageSize = 1000

// Topics iterates over every topic whose name starts with prefix ("" for
// all), in byte order of their names, reading GET /topics a page at a time
// (each page retried like a publish). It yields an error once and stops
// when a page cannot be read. Needs a key with the read right on servers
// run with --auth-file.
func (c *Client) Topics(ctx context.Context, prefix string) iter.Seq2[Topic, error] {
	return func(yield func(Topic, error) bool) {
		after := ""
		for {
			var page struct {
				Topics []Topic `json:"topics"`
				Next   string  `json:"next"`
			}
			q := url.Values{"after": {after}, "prefix": {prefix}, "limit": {strconv.Itoa(topicsPageSize)}}
			if _, err := c.retrying(ctx, func() (time.Duration, error) { return c.get(ctx, "/topics?"+q.Encode(), &page) }); err != nil {
				yield(Topic{}, err)
				return
			}
			for _, t := range page.Topics {
				if !yield(t, nil) {
					return
				}
			}
			if page.Next == "" {
				return
			}
			after = page.Next
		}
	}
}

// Topic returns one topic's counters; an unknown topic is an *Error with
// Status 404.
func (c *Client) Topic(ctx context.Context, name string) (Topic, error) {
	var t Topic
	_, err := c.retrying(ctx, func() (time.Duration, error) { return c.get(ctx, "/topics/"+url.PathEscape(name), &t) })
	return t, err
}
