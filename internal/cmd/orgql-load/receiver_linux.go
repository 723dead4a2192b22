//go:build linux

package main

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/gorilla/websocket"
	"golang.org/x/sys/unix"
)

// receiver reads every subscriber's socket from one goroutine through epoll. The
// generator shares the server's cores, and a goroutine per socket costs it two
// reads, a wake-up and a park per message: with epoll a message is one read, so
// the CPU goes to the server being measured. When few sockets are ready it waits
// a poll interval for more rather than being woken per message: on loopback the
// writer pays for waking the reader, so a generator woken 10,000 times per fan-out
// makes the server's writes dearer than remote clients would. Frames are parsed
// just enough to find results, answer pings and notice a close.
type receiver struct {
	tally *tally
	epfd  int
	poll  time.Duration

	stopOnce sync.Once
	stop     chan struct{}
	stopped  chan struct{}

	// Guarded by tally.mu (the read loop holds it while it handles a batch).
	subOf   map[int32]int    // subscriber by socket
	partial map[int32][]byte // the start of a frame that has not fully arrived
	fds     []int
}

func newReceiver(n int, poll time.Duration) (*receiver, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("epoll: %w", err)
	}
	r := &receiver{
		tally: newTally(n), epfd: epfd, poll: poll,
		stop: make(chan struct{}), stopped: make(chan struct{}),
		subOf: make(map[int32]int, n), partial: map[int32][]byte{},
	}
	go r.loop()
	return r, nil
}

// add takes over subscriber i's connection: the socket is duplicated and the Go
// connection closed, so that Go's poller stops watching it and only epoll here does.
func (r *receiver) add(i int, c *websocket.Conn) error {
	sc, ok := c.UnderlyingConn().(syscall.Conn)
	if !ok {
		c.Close()
		return errors.New("not a socket")
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		c.Close()
		return err
	}
	fd, derr := -1, error(nil)
	if err := raw.Control(func(f uintptr) { fd, derr = unix.Dup(int(f)) }); err != nil {
		derr = err
	}
	c.Close()
	if derr != nil {
		return derr
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return err
	}
	r.tally.mu.Lock()
	r.subOf[int32(fd)] = i
	r.fds = append(r.fds, fd)
	r.tally.mu.Unlock()
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP}
	ev.Fd = int32(fd)
	return unix.EpollCtl(r.epfd, unix.EPOLL_CTL_ADD, fd, &ev)
}

func (r *receiver) loop() {
	defer close(r.stopped)
	events := make([]unix.EpollEvent, 512)
	buf := make([]byte, 64<<10)
	for {
		select {
		case <-r.stop:
			return
		default:
		}
		n, err := unix.EpollWait(r.epfd, events, 100)
		if err == nil && n > 0 && n < len(events) && r.poll > 0 {
			time.Sleep(r.poll) // let more arrive; arrival times come out late, never early
			n, err = unix.EpollWait(r.epfd, events, 0)
		}
		if err != nil {
			if err == unix.EINTR {
				continue
			}
			r.tally.mu.Lock()
			r.tally.fail(fmt.Errorf("epoll_wait: %w", err))
			r.tally.mu.Unlock()
			return
		}
		if n == 0 {
			continue
		}
		now := time.Now()
		r.tally.mu.Lock()
		for _, ev := range events[:n] {
			r.readSocket(ev.Fd, buf, now)
		}
		r.tally.mu.Unlock()
	}
}

// readSocket reads what one socket has (epoll is level-triggered: what does not fit
// in buf is reported again); r.tally.mu is held.
func (r *receiver) readSocket(fd int32, buf []byte, now time.Time) {
	i, ok := r.subOf[fd]
	if !ok {
		return
	}
	n, err := unix.Read(int(fd), buf)
	if err == unix.EAGAIN || err == unix.EINTR {
		return
	}
	if n <= 0 {
		if err == nil {
			err = errors.New("closed by the server")
		}
		r.drop(fd, fmt.Errorf("subscriber %d: %w", i, err))
		return
	}
	data := buf[:n]
	if p := r.partial[fd]; p != nil {
		data = append(p, data...)
	}
	for {
		op, payload, rest, complete := nextFrame(data)
		if !complete {
			break
		}
		data = rest
		switch op {
		case websocket.TextMessage:
			if bytes.Contains(payload, nextMessage) {
				r.tally.arrived(i, now)
			}
		case websocket.PingMessage:
			if err := writePong(int(fd), payload); err != nil {
				r.drop(fd, fmt.Errorf("subscriber %d: answering a ping: %w", i, err))
				return
			}
		case websocket.CloseMessage:
			r.drop(fd, fmt.Errorf("subscriber %d: the server closed the connection (%s)", i, closeReason(payload)))
			return
		}
	}
	if len(data) > 0 {
		r.partial[fd] = bytes.Clone(data)
	} else {
		delete(r.partial, fd)
	}
}

// drop stops reading a socket that failed; r.tally.mu is held.
func (r *receiver) drop(fd int32, err error) {
	_ = unix.EpollCtl(r.epfd, unix.EPOLL_CTL_DEL, int(fd), nil)
	delete(r.subOf, fd)
	r.tally.fail(err)
}

// close stops reading and closes every socket (the server sees them go).
func (r *receiver) close() {
	r.stopOnce.Do(func() {
		close(r.stop)
		<-r.stopped
		for _, fd := range r.fds {
			unix.Close(fd)
		}
		unix.Close(r.epfd)
	})
}

// nextFrame splits the first websocket frame off data. Server frames are not masked;
// a result is one frame (continuations, op 0, are skipped: the start of a message
// says what it is).
func nextFrame(data []byte) (op int, payload, rest []byte, complete bool) {
	if len(data) < 2 {
		return 0, nil, data, false
	}
	op, size, hdr := int(data[0]&0x0f), uint64(data[1]&0x7f), 2
	switch size {
	case 126:
		if len(data) < 4 {
			return 0, nil, data, false
		}
		size, hdr = uint64(binary.BigEndian.Uint16(data[2:4])), 4
	case 127:
		if len(data) < 10 {
			return 0, nil, data, false
		}
		size, hdr = binary.BigEndian.Uint64(data[2:10]), 10
	}
	if uint64(len(data)-hdr) < size {
		return 0, nil, data, false
	}
	end := hdr + int(size)
	return op, data[hdr:end], data[end:], true
}

// writePong answers a ping; client frames are masked.
func writePong(fd int, payload []byte) error {
	frame := make([]byte, 0, 6+len(payload))
	frame = append(frame, 0x80|websocket.PongMessage, 0x80|byte(len(payload)))
	mask := binary.LittleEndian.AppendUint32(nil, rand.Uint32())
	frame = append(frame, mask...)
	for j, b := range payload {
		frame = append(frame, b^mask[j%4])
	}
	_, err := unix.Write(fd, frame)
	return err
}

func closeReason(payload []byte) string {
	if len(payload) < 2 {
		return "no code"
	}
	return fmt.Sprintf("%d %s", binary.BigEndian.Uint16(payload), payload[2:])
}

// cpuUse is CPU time spent by the server and by this generator.
type cpuUse struct{ server, self time.Duration }

// cpuTimes reads both from the kernel: the server's from /proc (in clock ticks, 100
// a second on Linux), this process's from getrusage.
func cpuTimes(pid int) (cpuUse, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return cpuUse{}, false
	}
	// Fields after the command name, which is in parentheses and may hold spaces:
	// utime and stime are the 14th and 15th of the line.
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	if len(f) < 13 {
		return cpuUse{}, false
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	var ru unix.Rusage
	if err1 != nil || err2 != nil || unix.Getrusage(unix.RUSAGE_SELF, &ru) != nil {
		return cpuUse{}, false
	}
	return cpuUse{
		server: time.Duration(utime+stime) * 10 * time.Millisecond,
		self:   time.Duration(ru.Utime.Nano() + ru.Stime.Nano()),
	}, true
}
