// Package ttlmap is a concurrent map whose entries expire, for caches read by many
// goroutines at once (a fan-out to thousands of subscribers): reads take no lock,
// unlike an LRU's, and a sweep drops old entries.
package ttlmap

import (
	"sync"
	"time"
)

// Map maps keys to values for about ttl after they were stored.
type Map[K comparable, V any] struct {
	ttl   time.Duration
	m     sync.Map // K -> *entry[V]
	sweep sync.Once
}

type entry[V any] struct {
	v  V
	at time.Time
}

// New returns a map whose entries live for ttl (swept every ttl/2).
func New[K comparable, V any](ttl time.Duration) *Map[K, V] {
	return &Map[K, V]{ttl: ttl}
}

// Load returns the value of k, if present.
func (m *Map[K, V]) Load(k K) (V, bool) {
	if e, ok := m.m.Load(k); ok {
		return e.(*entry[V]).v, true
	}
	var zero V
	return zero, false
}

// LoadOrStore returns the value of k if present (loaded), or stores and returns v.
func (m *Map[K, V]) LoadOrStore(k K, v V) (actual V, loaded bool) {
	m.startSweep()
	e, loaded := m.m.LoadOrStore(k, &entry[V]{v: v, at: time.Now()})
	return e.(*entry[V]).v, loaded
}

// Store sets the value of k.
func (m *Map[K, V]) Store(k K, v V) {
	m.startSweep()
	m.m.Store(k, &entry[V]{v: v, at: time.Now()})
}

func (m *Map[K, V]) startSweep() {
	m.sweep.Do(func() {
		go func() {
			for range time.Tick(m.ttl / 2) {
				cutoff := time.Now().Add(-m.ttl)
				m.m.Range(func(k, e any) bool {
					if e.(*entry[V]).at.Before(cutoff) {
						m.m.Delete(k)
					}
					return true
				})
			}
		}()
	})
}
