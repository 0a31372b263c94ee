package sqlite

import (
	"fmt"
	"testing"
)

// TestKeyFilter: across parts (3 million keys span two), every added key
// may be there, and of keys never added few are said to be.
func TestKeyFilter(t *testing.T) {
	var f keyFilter
	const n = 3 << 20
	for i := 0; i < n; i++ {
		f.add(keyOf(1, fmt.Sprint(i, "added")))
	}
	if len(f.parts) != 2 {
		t.Fatalf("%d parts for %d keys, want 2", len(f.parts), n)
	}
	for i := 0; i < n; i++ {
		if !f.mayContain(keyOf(1, fmt.Sprint(i, "added"))) {
			t.Fatalf("key %d was added and is said to be absent", i)
		}
	}
	fp := 0
	for i := 0; i < 100000; i++ {
		if f.mayContain(keyOf(2, fmt.Sprint(i, "never"))) {
			fp++
		}
	}
	if fp > 2000 {
		t.Fatalf("%d false positives in 100,000, want under 2%%", fp)
	}
	t.Logf("%d false positives in 100,000", fp)
}
