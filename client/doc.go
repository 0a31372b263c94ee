// Package client publishes events to an eventagg server at least once, and
// reads them back.
//
// Retrying is safe because the server deduplicates on (topic, event_id): a
// batch whose answer was lost is simply sent again, and the events that had
// been stored come back as "duplicate" with their original seq. So the
// client retries network errors, timeouts and 429, 502, 503 and 504 with
// exponential back-off and full jitter (100 ms doubling to 10 s, giving up
// after 2 minutes by default), honouring Retry-After, and never retries a
// request the server refused as invalid (400, 413, 415, 422): those come
// back as a *Error naming the problem.
//
// # Publishing
//
//	c := client.New("http://127.0.0.1:8080")
//	res, err := c.Publish(ctx, client.Event{
//		Topic: "orders", EventID: client.NewID(), Timestamp: client.Time(time.Now()),
//		Source: "shop", Payload: json.RawMessage(`{"total":42}`),
//	})
//	// res.Results[i].Status is "accepted", "duplicate", "conflict" or "rejected".
//
// For a steady flow, c.NewPublisher buffers events and sends them by count,
// bytes or interval (Batching); Flush and Close deliver everything
// buffered. PublishRaw sends events already encoded as JSON.
//
// NewID makes ids for publishers that have none: 26 characters, unique
// across processes and machines, and sortable by creation time (48-bit
// milliseconds, a 16-bit counter, 64 random bits per generator). Sortable
// ids land at the right edge of the server's dedup index, so each commit
// writes few pages; random ids (UUIDv4) work too, at some cost.
//
// # Causal order
//
// Every Client has a Lamport clock (c.Clock(); share one between clients
// with WithLamportClock). Each event published without a Clock is stamped
// once with Tick, before the first attempt, so its retries carry the same
// clock; every clock the client reads with Events or Subscribe is merged
// with Observe. Causality usually travels on the application's own
// messages: put c.Clock().Now() on the message, and have the receiver call
// Observe on it before it publishes its reaction. Then the server's
// order=causal listing puts the reaction after its cause, even when the
// cause's first attempt failed and landed later.
//
// # Reading
//
// Events pages through GET /events (iterate with the returned cursor), End
// gives the cursor of a topic's end without listing it, Subscribe follows
// GET /subscribe over one connection as an iterator (reconnect with the
// last Delivery's ID for a stream without gap or repeat, as eventagg
// subscribe does), and Topics pages through every topic's counters.
package client
