package namecache

import (
	"strconv"
	"testing"
)

func TestBounded(t *testing.T) {
	c := New[int](64)
	for i := 0; i < 10_000; i++ {
		c.Put(strconv.Itoa(i), i)
		if c.Len() > 64 {
			t.Fatalf("%d entries after %d puts, bound 64", c.Len(), i+1)
		}
	}
	// The newest entry is always kept, with its value.
	if v, ok := c.Get("9999"); !ok || v != 9999 {
		t.Fatalf("newest entry: %v %v", v, ok)
	}
	c.Put("9999", 1) // an update of a kept name evicts nothing
	if v, _ := c.Get("9999"); v != 1 || c.Len() > 64 {
		t.Fatalf("update: %v, %d entries", v, c.Len())
	}
	c.Clear()
	if _, ok := c.Get("9999"); ok || c.Len() != 0 {
		t.Fatal("Clear kept entries")
	}
}
