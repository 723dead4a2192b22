package graph

import (
	"fmt"
	"testing"
)

// A document's group lives while subscribers hold it, and remembers a bounded
// number of renderings.
func TestDocShareLifecycle(t *testing.T) {
	key := t.Name()
	a, b := joinShare(key), joinShare(key)
	if a != b {
		t.Fatal("two subscribers of one document got different groups")
	}
	r, found := a.renderOf("e1")
	if found {
		t.Fatal("the first subscriber at an event found a rendering")
	}
	if r2, found := b.renderOf("e1"); !found || r2 != r {
		t.Fatal("the second subscriber at an event did not find the first's rendering")
	}
	for i := range keepRenders {
		a.renderOf(fmt.Sprint("later", i))
	}
	if _, found := b.renderOf("e1"); found {
		t.Fatalf("a rendering outlived %d later events", keepRenders)
	}
	a.mu.Lock()
	kept := len(a.renders)
	a.mu.Unlock()
	if kept != keepRenders {
		t.Fatalf("group holds %d renderings, want %d", kept, keepRenders)
	}

	a.leave()
	sharesMu.Lock()
	_, held := shares[key]
	sharesMu.Unlock()
	if !held {
		t.Fatal("the group was dropped while a subscriber holds it")
	}
	b.leave()
	sharesMu.Lock()
	_, held = shares[key]
	sharesMu.Unlock()
	if held {
		t.Fatal("the group outlived its last subscriber")
	}
	if c := joinShare(key); c == a {
		t.Fatal("a new subscriber joined the dropped group")
	} else {
		c.leave()
	}
}
