package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/eventagg/eventagg/client"
)

// Exit codes of `eventagg publish`.
const (
	exitAllStored    = 0
	exitSomeRejected = 1 // or in conflict
	exitUndelivered  = 2
)

// publish streams events from files or stdin to a server in batches, with
// constant memory whatever the input size, and prints a summary.
func publish(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlagSet("publish", getenv)
	fs.SetOutput(stderr)
	url := fs.String("url", "EVENTAGG_URL", "http://127.0.0.1:8080", "server to publish to")
	topic := fs.String("topic", "", "", "topic for events that have none")
	source := fs.String("source", "", "", "source for events that have none")
	idIfMissing := fs.FlagSet.Bool("id-if-missing", false, "give events without an event_id a new sortable id")
	batch := fs.Int("batch", "", 500, "events per request")
	giveUp := fs.FlagSet.Duration("give-up", 2*time.Minute, "stop retrying a batch after this long")
	key := fs.String("key", "EVENTAGG_API_KEY", "", "API key, for servers run with --auth-file")
	fs.Usage = func() {
		fmt.Fprint(stderr, `Usage: eventagg publish [flags] [FILE...]

Publishes events read from each FILE (or standard input, or "-") as a JSON
array or as NDJSON, in batches, retrying with back-off until each batch is
answered. Exit status: 0 all stored (accepted or duplicate), 1 some rejected
or in conflict (their event_id is stored with other content), 2 could not
deliver.

`)
		fs.PrintDefaults()
	}
	files, err := fs.parseArgs(args)
	if err != nil {
		return err
	}
	if err := positive(map[string]int{"batch": *batch}); err != nil {
		return err
	}
	if len(files) == 0 {
		files = []string{"-"}
	}
	fill := filler{topic: *topic, source: *source, ids: *idIfMissing}

	start := time.Now()
	retry := client.DefaultRetry
	retry.MaxElapsed = *giveUp
	pub := client.New(*url, client.WithRetry(retry), client.WithAPIKey(*key)).NewPublisher(client.Batching{MaxEvents: *batch, Interval: -1})
	var read int
	var deliverErr error
	for _, name := range files {
		n, err := readEvents(ctx, name, stdin, func(raw json.RawMessage) error {
			raw, err := fill.apply(raw)
			if err != nil {
				return err
			}
			return pub.AddRaw(ctx, raw)
		})
		read += n
		if err != nil {
			deliverErr = err
			break
		}
	}
	if err := pub.Close(ctx); err != nil && deliverErr == nil {
		deliverErr = err
	}
	t := pub.Totals()
	fmt.Fprintf(stdout, "read %d events: %d accepted, %d duplicates, %d conflicts, %d rejected; %d requests, %d retries, %s\n",
		read, t.Accepted, t.Duplicates, t.Conflicts, t.Rejected, t.Requests, t.Retries, time.Since(start).Round(time.Millisecond))
	for _, e := range t.FirstErrors {
		fmt.Fprintf(stdout, "  event %s\n", e)
	}
	switch {
	case deliverErr != nil:
		fmt.Fprintln(stderr, "eventagg publish:", deliverErr)
		return exitError{exitUndelivered}
	case t.Rejected > 0 || t.Conflicts > 0:
		return exitError{exitSomeRejected}
	}
	return nil
}

// readEvents decodes one input, a JSON array of events or a stream of
// events (NDJSON), calling fn for each one as it is read.
func readEvents(ctx context.Context, name string, stdin io.Reader, fn func(json.RawMessage) error) (int, error) {
	r := stdin
	if name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return 0, err
		}
		defer f.Close()
		r = f
	}
	br := bufio.NewReaderSize(r, 1<<16)
	dec := json.NewDecoder(br)
	array := false
	if b, err := peekNonSpace(br); err == io.EOF {
		return 0, nil
	} else if err != nil {
		return 0, fmt.Errorf("%s: %w", name, err)
	} else if b == '[' {
		array = true
		dec.Token()
	}
	n := 0
	for ctx.Err() == nil {
		if array && !dec.More() {
			break
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err == io.EOF && !array {
			break
		} else if err != nil {
			return n, fmt.Errorf("%s: event %d: malformed JSON near byte %d: %w", name, n, dec.InputOffset(), err)
		}
		n++
		if err := fn(raw); err != nil {
			return n, err
		}
	}
	return n, ctx.Err()
}

func peekNonSpace(br *bufio.Reader) (byte, error) {
	for {
		b, err := br.Peek(1)
		if err != nil {
			return 0, err
		}
		switch b[0] {
		case ' ', '\t', '\r', '\n':
			br.ReadByte()
		default:
			return b[0], nil
		}
	}
}

// filler fills missing fields of events as the flags ask. Anything else in
// an event passes through untouched, for the server to judge.
type filler struct {
	topic, source string
	ids           bool
}

func (f filler) apply(raw json.RawMessage) (json.RawMessage, error) {
	if f.topic == "" && f.source == "" && !f.ids {
		return raw, nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return raw, nil // not an object: the server rejects it by name
	}
	changed := false
	set := func(key string, value func() string) {
		if v, ok := m[key]; !ok || string(v) == "null" || string(v) == `""` {
			m[key], _ = json.Marshal(value())
			changed = true
		}
	}
	if f.topic != "" {
		set("topic", func() string { return f.topic })
	}
	if f.source != "" {
		set("source", func() string { return f.source })
	}
	if f.ids {
		set("event_id", client.NewID)
	}
	if !changed {
		return raw, nil
	}
	out, err := json.Marshal(m)
	if err != nil {
		return nil, errors.New("re-encode event: " + err.Error())
	}
	return out, nil
}
