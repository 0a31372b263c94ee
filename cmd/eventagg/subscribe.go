package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/eventagg/eventagg"
)

// subscribe prints a topic's events (or all topics') as NDJSON, following
// the stream and reconnecting from its last cursor when the connection
// drops, so the output has no gap and no repeat.
func subscribe(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet("subscribe", getenv)
	fs.SetOutput(stderr)
	base := fs.String("url", "EVENTAGG_URL", "http://127.0.0.1:8080", "server to subscribe to")
	topic := fs.String("topic", "", "", "topic to follow (default: all topics)")
	fromStart := fs.FlagSet.Bool("from-start", false, "print every stored event first")
	after := fs.String("after", "", "", "resume after this cursor (an SSE id printed to stderr with --ids)")
	ids := fs.FlagSet.Bool("ids", false, "print each event's cursor to stderr, to resume with --after")
	key := fs.String("key", "EVENTAGG_API_KEY", "", "API key, for servers run with --auth-file")
	fs.Usage = func() {
		fmt.Fprint(stderr, "Usage: eventagg subscribe [--topic T] [--from-start | --after CURSOR]\n\nPrints events as NDJSON as they are stored; by default only events stored from now on.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.parse(args); err != nil {
		return err
	}
	if *fromStart && *after != "" {
		return fmt.Errorf("--from-start and --after exclude each other")
	}
	cursor := *after
	if !*fromStart && cursor == "" {
		var err error
		if cursor, err = endCursor(ctx, *base, *topic, *key); err != nil {
			return err
		}
	}
	out := bufio.NewWriter(stdout)
	delay := 100 * time.Millisecond
	for ctx.Err() == nil {
		got, err := stream(ctx, *base, *topic, *key, cursor, func(id string, data []byte) error {
			cursor = id
			out.Write(data)
			out.WriteByte('\n')
			if *ids {
				fmt.Fprintln(stderr, "id:", id)
			}
			return out.Flush()
		})
		if ctx.Err() != nil {
			break
		}
		var fatal *eventagg.Error
		if errors.As(err, &fatal) && fatal.Code == eventagg.EINVALID {
			return err
		}
		if got {
			delay = 100 * time.Millisecond
		}
		fmt.Fprintf(stderr, "eventagg subscribe: %v; reconnecting in %v\n", err, delay)
		select {
		case <-time.After(delay):
		case <-ctx.Done():
		}
		delay = min(delay*2, 10*time.Second)
	}
	return nil
}

// stream reads one SSE connection until it ends, calling fn per event. It
// reports whether any event came.
func stream(ctx context.Context, base, topic, key, after string, fn func(id string, data []byte) error) (bool, error) {
	q := url.Values{}
	if topic != "" {
		q.Set("topic", topic)
	}
	req, err := http.NewRequestWithContext(ctx, "GET", strings.TrimRight(base, "/")+"/subscribe?"+q.Encode(), nil)
	if err != nil {
		return false, err
	}
	if after != "" {
		req.Header.Set("Last-Event-ID", after)
	}
	setKey(req, key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var e struct{ Error string }
		json.NewDecoder(resp.Body).Decode(&e)
		code := eventagg.EUNAVAILABLE
		if resp.StatusCode == http.StatusBadRequest {
			code = eventagg.EINVALID
		}
		return false, &eventagg.Error{Code: code, Message: fmt.Sprintf("subscribe: %s: %s", resp.Status, e.Error)}
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	got := false
	var id string
	for sc.Scan() {
		line := sc.Bytes()
		switch {
		case len(line) > 4 && string(line[:4]) == "id: ":
			id = string(line[4:])
		case len(line) > 6 && string(line[:6]) == "data: ":
			got = true
			if err := fn(id, line[6:]); err != nil {
				return got, err
			}
		}
	}
	if err := sc.Err(); err != nil {
		return got, err
	}
	return got, errors.New("stream closed by the server")
}

// endCursor asks where the stream ends now (GET /events?from=end&limit=0):
// one probe of the store however many events it holds.
func endCursor(ctx context.Context, base, topic, key string) (string, error) {
	q := url.Values{"from": {"end"}, "limit": {"0"}}
	if topic != "" {
		q.Set("topic", topic)
	}
	req, err := http.NewRequestWithContext(ctx, "GET", strings.TrimRight(base, "/")+"/events?"+q.Encode(), nil)
	if err != nil {
		return "", err
	}
	setKey(req, key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var page struct{ Last, Error string }
	if err := json.NewDecoder(resp.Body).Decode(&page); err != nil || resp.StatusCode != 200 {
		return "", fmt.Errorf("find the end of the stream: %s %s %v", resp.Status, page.Error, err)
	}
	return page.Last, nil
}

func setKey(req *http.Request, key string) {
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
}
