package client_test

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/eventagg/eventagg/client"
)

// The package doc's example, compiled so that it cannot drift from the API.
func ExampleClient_Publish() {
	ctx := context.Background()
	c := client.New("http://127.0.0.1:8080")
	res, err := c.Publish(ctx, client.Event{
		Topic: "orders", EventID: client.NewID(), Timestamp: client.Time(time.Now()),
		Source: "shop", Payload: json.RawMessage(`{"total":42}`),
	})
	if err != nil {
		fmt.Println(err) // a *client.Error once retries are spent, or a refusal
		return
	}
	for _, v := range res.Results {
		fmt.Println(v.Status) // accepted, duplicate, conflict or rejected
	}
}
