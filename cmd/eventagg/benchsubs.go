package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// benchSubscribers are the live streams bench holds open while it
// publishes (--subscribers): all in this one process, so that on a small
// machine the subscribers cost what a reader of the stream must, not a
// process and its scheduling each, as N curls would. Each counts the
// events it receives; the run fails unless every stream got exactly the
// new events of its topics.
type benchSubscribers struct {
	topics  string // "all", or "one" for a topic each
	streams []*benchStream
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

type benchStream struct {
	topic    int // -1: all topics
	received atomic.Int64
	err      atomic.Value
}

// subscribersReport is the report's part about the streams.
type subscribersReport struct {
	Streams int    `json:"streams"`
	Topics  string `json:"topics"` // "all" or "one" (stream i follows bench.(i mod topics))
	// Events every stream got, fewest and most; each must get what
	// was expected of it.
	ReceivedMin int64 `json:"received_min"`
	ReceivedMax int64 `json:"received_max"`
	Delivered   int64 `json:"delivered"` // all streams together
	// DrainMS is how long after the last publish and the consumer the
	// last stream took to receive its last event.
	DrainMS float64 `json:"drain_ms"`
}

// openSubscribers opens n streams from the end and returns once the
// server has placed each (its first comment has arrived), so that every
// event published after is theirs.
func openSubscribers(ctx context.Context, base, key string, n, topics int, perTopic bool) (*benchSubscribers, error) {
	ctx, cancel := context.WithCancel(ctx)
	s := &benchSubscribers{cancel: cancel, topics: "all"}
	if perTopic {
		s.topics = "one"
	}
	httpc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: n, MaxConnsPerHost: n, DisableCompression: true}}
	for i := 0; i < n; i++ {
		st := &benchStream{topic: -1}
		q := url.Values{"from": {"end"}}
		if perTopic {
			st.topic = i % topics
			q.Set("topic", "bench."+strconv.Itoa(st.topic))
		}
		req, err := http.NewRequestWithContext(ctx, "GET", base+"/subscribe?"+q.Encode(), nil)
		if err != nil {
			s.close()
			return nil, err
		}
		setKey(req, key)
		resp, err := httpc.Do(req)
		if err != nil {
			s.close()
			return nil, fmt.Errorf("--subscribers: stream %d: %w", i, err)
		}
		if resp.StatusCode != http.StatusOK {
			resp.Body.Close()
			s.close()
			return nil, fmt.Errorf("--subscribers: stream %d: GET /subscribe: %s (raise the server's --max-subscribers?)", i, resp.Status)
		}
		r := bufio.NewReaderSize(resp.Body, 64<<10)
		if _, err := r.ReadSlice('\n'); err != nil { // ": subscribed"
			resp.Body.Close()
			s.close()
			return nil, fmt.Errorf("--subscribers: stream %d: %w", i, err)
		}
		s.streams = append(s.streams, st)
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer resp.Body.Close()
			st.count(r)
		}()
	}
	return s, nil
}

// count counts the stream's data lines until it ends.
func (st *benchStream) count(r *bufio.Reader) {
	for lineStart := true; ; {
		line, err := r.ReadSlice('\n')
		if lineStart && bytes.HasPrefix(line, []byte("data: ")) {
			st.received.Add(1)
		}
		// A line longer than the buffer comes in pieces: only the
		// first starts a line.
		lineStart = err != bufio.ErrBufferFull
		switch err {
		case nil, bufio.ErrBufferFull:
		default:
			st.err.Store(err)
			return
		}
	}
}

// drain waits until every stream has what it should have (want for each
// topic's streams; all for streams of all topics), or two minutes, and
// closes them. It returns the report and what went wrong.
func (s *benchSubscribers) drain(want []int, all int) (subscribersReport, []string) {
	expect := func(st *benchStream) int64 {
		if st.topic < 0 {
			return int64(all)
		}
		return int64(want[st.topic])
	}
	start := time.Now()
	deadline := start.Add(2 * time.Minute)
	for _, st := range s.streams {
		for st.received.Load() < expect(st) && st.err.Load() == nil && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
	}
	r := subscribersReport{Streams: len(s.streams), Topics: s.topics, DrainMS: millis(time.Since(start)), ReceivedMin: -1}
	s.close()
	var bad []string
	for i, st := range s.streams {
		got := st.received.Load()
		r.Delivered += got
		r.ReceivedMax = max(r.ReceivedMax, got)
		if r.ReceivedMin < 0 || got < r.ReceivedMin {
			r.ReceivedMin = got
		}
		if got != expect(st) && len(bad) < 5 {
			bad = append(bad, fmt.Sprintf("subscriber %d received %d events, %d were published for it", i, got, expect(st)))
		}
	}
	r.ReceivedMin = max(r.ReceivedMin, 0)
	return r, bad
}

func (s *benchSubscribers) close() {
	s.cancel()
	s.wg.Wait()
}
