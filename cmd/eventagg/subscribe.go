package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/eventagg/eventagg"
	"github.com/eventagg/eventagg/client"
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
	c := client.New(*base, client.WithAPIKey(*key), client.WithHTTPClient(&http.Client{}))
	cursor := *after
	if !*fromStart && cursor == "" {
		// From now on: the end's cursor, in one probe of the store
		// however many events it holds.
		var err error
		if cursor, err = c.End(ctx, *topic); err != nil {
			return fmt.Errorf("find the end of the stream: %w", err)
		}
	}
	out := bufio.NewWriter(stdout)
	delay := 100 * time.Millisecond
	for ctx.Err() == nil {
		got, err := stream(ctx, c, *topic, cursor, func(id string, data []byte) error {
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
func stream(ctx context.Context, c *client.Client, topic, after string, fn func(id string, data []byte) error) (bool, error) {
	got := false
	for d, err := range c.Subscribe(ctx, topic, after) {
		if err != nil {
			var ce *client.Error
			if errors.As(err, &ce) && ce.Status == http.StatusBadRequest {
				return got, &eventagg.Error{Code: eventagg.EINVALID, Message: "subscribe: " + ce.Message}
			}
			return got, err
		}
		got = true
		if err := fn(d.ID, d.Data); err != nil {
			return got, err
		}
	}
	return got, errors.New("stream closed by the server")
}
