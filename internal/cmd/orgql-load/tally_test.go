package main

import (
	"strings"
	"testing"
	"time"
)

func TestTallyRounds(t *testing.T) {
	tl := newTally(2)
	t0 := time.Now()
	tl.expect(1)
	tl.mu.Lock()
	tl.arrived(0, t0.Add(time.Millisecond))
	tl.mu.Unlock()
	select {
	case <-tl.done:
		t.Fatal("the round ended with a subscriber short of its result")
	default:
	}
	tl.mu.Lock()
	tl.arrived(1, t0.Add(2*time.Millisecond))
	tl.mu.Unlock()
	at, err := tl.wait(time.Second)
	if err != nil || at[0] != t0.Add(time.Millisecond) || at[1] != t0.Add(2*time.Millisecond) {
		t.Fatalf("round 1: %v, %v", at, err)
	}

	tl.expect(2)
	tl.mu.Lock()
	tl.arrived(0, t0)
	tl.arrived(0, t0) // one result too many
	tl.mu.Unlock()
	if _, err := tl.wait(time.Second); err == nil || !strings.Contains(err.Error(), "received 3 results, expected 2") {
		t.Fatalf("an extra result was not reported: %v", err)
	}
}
