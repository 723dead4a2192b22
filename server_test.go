package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/orgql/orgql/internal/config"
)

// TestGracefulShutdown starts the real server, begins a request, signals shutdown
// while the request body is still arriving, and checks that the request completes
// and run returns cleanly.
func TestGracefulShutdown(t *testing.T) {
	cfg := config.Default()
	cfg.Listen = "127.0.0.1:0"
	cfg.DatabaseURL = "sqlite:" + filepath.Join(t.TempDir(), "orgql.db")
	cfg.ShutdownTimeout = 10 * time.Second
	log := slog.New(slog.NewTextHandler(io.Discard, nil))

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addrCh := make(chan net.Addr, 1)
	done := make(chan error, 1)
	go func() { done <- run(ctx, cfg, log, addrCh) }()
	var addr net.Addr
	select {
	case addr = <-addrCh:
	case err := <-done:
		t.Fatalf("server stopped before listening: %v", err)
	}
	url := "http://" + addr.String()

	// Its own connection: an idle keep-alive connection is closed by the shutdown,
	// which would fail the in-flight request for a reason unrelated to the server.
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	res, err := client.Get(url + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("/healthz: %d", res.StatusCode)
	}

	// A raw connection with "Expect: 100-continue": the server answers 100 only
	// when the handler starts reading the body, which proves the request is in
	// flight before shutdown begins.
	conn, err := net.Dial("tcp", addr.String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	body := `{"query":"{ viewer { id } }"}`
	fmt.Fprintf(conn, "POST /graphql HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"+
		"Content-Length: %d\r\nExpect: 100-continue\r\n\r\n", len(body))
	br := bufio.NewReader(conn)
	line, err := br.ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "HTTP/1.1 100") {
		t.Fatalf("want 100 Continue, got %q, %v", line, err)
	}
	_, _ = br.ReadString('\n') // the blank line after the interim response

	cancel() // as SIGTERM would

	// Wait until shutdown has closed the listener, so the body arrives after
	// shutdown began.
	for i := 0; ; i++ {
		c, err := net.Dial("tcp", addr.String())
		if err != nil {
			break
		}
		c.Close()
		if i > 1000 {
			t.Fatal("server still accepting connections after shutdown began")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if _, err := io.WriteString(conn, body); err != nil {
		t.Fatal(err)
	}
	res, err = http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("in-flight request failed: %v", err)
	}
	got, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK || !strings.Contains(string(got), `"viewer":null`) {
		t.Fatalf("in-flight request: %d %s", res.StatusCode, got)
	}
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
}
