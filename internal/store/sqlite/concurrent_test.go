package sqlite_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"

	"github.com/eventagg/eventagg"
)

// TestConcurrentAppendsWhileMerging: six publishers append overlapping
// batches (ids repeat across them) while the consumer runs and, with room
// for only 64 recent keys, merges run all the time: every key keeps one
// seq, and no event is stored twice.
func TestConcurrentAppendsWhileMerging(t *testing.T) {
	ctx := context.Background()
	s := mustOpenKeys(t, filepath.Join(t.TempDir(), "s.db"), 64)
	defer s.Close()
	var mu sync.Mutex
	seqOf := map[string]int64{}
	var wg sync.WaitGroup
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-done:
				return
			default:
				s.Process(ctx, 100)
			}
		}
	}()
	for w := 0; w < 6; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for b := 0; b < 200; b++ {
				var batch []eventagg.Event
				for i := 0; i < 20; i++ {
					id := fmt.Sprint((w*7 + b*13 + i*3) % 1500)
					batch = append(batch, eventagg.Event{Topic: fmt.Sprint("t", (w+i)%3), EventID: id, Source: "s", Payload: []byte(`{}`)})
				}
				out, err := s.Append(ctx, batch, 0)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				for k, a := range out {
					key := batch[k].Topic + "/" + batch[k].EventID
					if prev, ok := seqOf[key]; ok && prev != a.Seq {
						t.Errorf("%s: seq %d and %d", key, prev, a.Seq)
					}
					seqOf[key] = a.Seq
				}
				mu.Unlock()
			}
		}(w)
	}
	wg.Wait()
	close(done)
	if st, err := s.Stats(ctx); err != nil || st.Stored != int64(len(seqOf)) {
		t.Fatalf("stored %d events for %d keys (%v)", st.Stored, len(seqOf), err)
	}
}
