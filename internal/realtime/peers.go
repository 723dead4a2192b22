package realtime

import "time"

// peers follows the numbers of the notices heard from the other instances on the
// bus, to tell when one was lost: a failed publish, a full queue, a crash with
// notices still queued. Only the feeds' Run goroutine uses it.
//
// The first message heard from an instance sets its baseline. Instances send a
// beat when asked (a Sync notice, which every instance publishes whenever its
// subscription to the bus starts), so baselines are set within moments of
// subscribing rather than at an instance's next change.
type peers struct {
	known map[string]*peer
	// silence is how long a known instance may go unheard (it beats far more
	// often) before it is presumed gone with notices unsent.
	silence time.Duration
}

type peer struct {
	last int64     // the highest number heard
	at   time.Time // when it was last heard
}

func newPeers(silence time.Duration) *peers {
	return &peers{known: map[string]*peer{}, silence: silence}
}

// heard records a message of another instance. missed: a notice numbered before
// it never arrived. duplicate: a notice heard already (a publish the client
// retried), to be dropped.
func (p *peers) heard(n Notice, now time.Time) (missed, duplicate bool) {
	q := p.known[n.Instance]
	if n.Bye {
		delete(p.known, n.Instance)
		return q != nil && n.Seq > q.last, false
	}
	if q == nil {
		p.known[n.Instance] = &peer{last: n.Seq, at: now}
		return false, false
	}
	q.at = now
	if n.Beat { // repeats the last number sent
		missed = n.Seq > q.last
	} else {
		duplicate = n.Seq <= q.last
		missed = n.Seq > q.last+1
	}
	q.last = max(q.last, n.Seq)
	return missed, duplicate
}

// reset forgets every instance, after this instance's own subscription to the bus
// was down: what was missed meanwhile is accounted for at once, not again when
// each instance's next notice shows a gap.
func (p *peers) reset() { clear(p.known) }

// silent forgets, and counts, the instances not heard within the silence.
func (p *peers) silent(now time.Time) int {
	n := 0
	for id, q := range p.known {
		if now.Sub(q.at) > p.silence {
			delete(p.known, id)
			n++
		}
	}
	return n
}
