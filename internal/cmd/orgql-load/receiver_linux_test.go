//go:build linux

package main

import (
	"bytes"
	"testing"
)

func TestNextFrame(t *testing.T) {
	long := bytes.Repeat([]byte("x"), 300)
	stream := append([]byte{0x81, 5}, "hello"...)
	stream = append(stream, 0x81, 126, 0x01, 0x2c) // 300 bytes, 16-bit length
	stream = append(stream, long...)
	stream = append(stream, 0x89, 0) // an empty ping

	op, p, rest, ok := nextFrame(stream)
	if !ok || op != 1 || string(p) != "hello" {
		t.Fatalf("first frame: %v %d %q", ok, op, p)
	}
	if _, _, _, ok := nextFrame(rest[:100]); ok {
		t.Fatal("a frame cut short was taken as complete")
	}
	op, p, rest, ok = nextFrame(rest)
	if !ok || op != 1 || !bytes.Equal(p, long) {
		t.Fatalf("second frame: %v %d %d bytes", ok, op, len(p))
	}
	op, p, rest, ok = nextFrame(rest)
	if !ok || op != 9 || len(p) != 0 || len(rest) != 0 {
		t.Fatalf("ping: %v %d %q %q", ok, op, p, rest)
	}
}
