package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/teleconsult/teleconsult/internal/smtptest"

	"github.com/teleconsult/teleconsult/internal/testkit"
)

// childEnv names the variable that makes the test binary run `teleconsult
// serve` instead of the tests: the kill -9 tests start the service as a
// child process this way (the test binary is the teleconsult binary plus
// tests; no separate build).
const childEnv = "TELECONSULT_TEST_CHILD"

func init() {
	if os.Getenv(childEnv) == "serve" {
		os.Exit(run(context.Background(), []string{"serve"}, os.Getenv, io.Discard, os.Stderr))
	}
}

// child is a teleconsult service running in its own process.
type child struct {
	cmd  *exec.Cmd
	url  string
	logs *testkit.LogBuffer
	done chan struct{}
}

// startChild runs the service in a child process with env and waits until
// it listens.
func startChild(t *testing.T, env map[string]string) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = []string{childEnv + "=serve", "PATH=" + os.Getenv("PATH"), "TMPDIR=" + os.TempDir(),
		"LISTEN_ADDR=127.0.0.1:0", "LOG_FORMAT=json", "LOG_LEVEL=info"}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &child{cmd: cmd, logs: &testkit.LogBuffer{}, done: make(chan struct{})}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			line := sc.Bytes()
			_, _ = c.logs.Write(append(append([]byte{}, line...), '\n')) // a buffer: never fails
			var l struct{ Msg, Addr string }
			if json.Unmarshal(line, &l) == nil && l.Msg == "listening" {
				addr <- l.Addr
			}
		}
		_ = cmd.Wait()
		close(c.done)
	}()
	t.Cleanup(func() { c.kill(t) })
	select {
	case a := <-addr:
		c.url = "http://" + a
	case <-c.done:
		t.Fatalf("the service exited at start:\n%s", c.logs.String())
	case <-time.After(60 * time.Second):
		t.Fatalf("the service did not start:\n%s", c.logs.String())
	}
	return c
}

// kill sends SIGKILL and waits for the process to be gone.
func (c *child) kill(t *testing.T) {
	t.Helper()
	_ = c.cmd.Process.Kill()
	select {
	case <-c.done:
	case <-time.After(10 * time.Second):
		t.Fatal("the killed service did not exit")
	}
}

// create makes a teleconsultation with two emailed participants.
func (c *child) create(t *testing.T, start time.Time, n int) {
	t.Helper()
	a, m := clone(anna), clone(mario)
	a["userId"], m["userId"] = "doc-"+strconv.Itoa(n), "pat-"+strconv.Itoa(n)
	b, _ := json.Marshal(createBody(start, a, m))
	req, _ := http.NewRequest("POST", c.url+api+"/teleconsultation", bytes.NewReader(b))
	req.Header.Set("Authorization", "Bearer "+testAPIKey)
	req.Header.Set("Content-Type", "application/json")
	if code := testkit.Do(t, req, nil); code != 201 {
		t.Fatalf("create: %d", code)
	}
}

func clone(m map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range m {
		out[k] = v
	}
	return out
}

// holdingServer is an SMTP server that can hold messages after reading
// them, before answering: the sender's process is killed meanwhile, and
// the held message is then accepted or refused.
type holdingServer struct {
	*smtptest.Server
	hold    atomic.Bool
	held    chan struct{}
	release chan bool // true: accept the held message
}

func startHolding(t *testing.T) *holdingServer {
	h := &holdingServer{held: make(chan struct{}, 16), release: make(chan bool, 16)}
	h.Server = smtptest.Start(t, smtptest.Options{OnData: func(smtptest.Message) error {
		if !h.hold.Load() {
			return nil
		}
		h.held <- struct{}{}
		if <-h.release {
			return nil
		}
		return smtptest.Refuse(451, "try again later")
	}})
	return h
}

// crashRun kills the service with -9 while one invitation is in flight and
// others are committed but not sent, then restarts it. acceptHeld says
// whether the server accepts the message it was reading when the sender
// died (from its side the message is delivered; the sender never heard).
// It returns how many distinct messages arrived and how many duplicates.
func crashRun(t *testing.T, acceptHeld bool) (distinct, duplicates int) {
	srv := startHolding(t)
	env := mailEnv(srv.Server, map[string]string{"DATA_DIR": t.TempDir(), "API_KEYS": testAPIKey})
	c := startChild(t, env)
	start := time.Now().Add(48 * time.Hour).Truncate(time.Minute)

	srv.hold.Store(true)
	c.create(t, start, 1) // two messages: the first is held in flight, the second claimed with it
	select {
	case <-srv.held:
	case <-time.After(20 * time.Second):
		t.Fatalf("no message reached the server:\n%s", c.logs.String())
	}
	c.create(t, start, 2) // committed while the worker is busy: not even claimed
	c.kill(t)
	srv.hold.Store(false)
	srv.release <- acceptHeld

	c = startChild(t, env)
	want := 4
	srv.Wait(want, 30*time.Second)
	time.Sleep(300 * time.Millisecond) // a duplicate would arrive meanwhile
	msgs := srv.Messages()
	seen := map[string]int{}
	for _, m := range msgs {
		seen[m.MessageID()]++
	}
	for id, n := range seen {
		if id == "" {
			t.Errorf("a message without Message-ID")
		}
		duplicates += n - 1
	}
	if !strings.Contains(c.logs.String(), "invitations were being sent when the service stopped") {
		t.Errorf("the restarted service did not report the interrupted sends:\n%s", c.logs.String())
	}
	return len(seen), duplicates
}

// Ensure a kill -9 between the commit of a change and the sending of its
// invitations loses nothing: after restart every message is delivered.
// When the server had not accepted the message in flight, nothing arrives
// twice; when it had (it accepted it as the sender died, before the sender
// could record it), that one message arrives twice, with the same
// Message-ID, and no other.
func TestInvitationsSurviveKill9(t *testing.T) {
	t.Parallel()
	t.Run("in flight, not accepted", func(t *testing.T) {
		n, dup := crashRun(t, false)
		t.Logf("kill -9 while the server held a message it then refused: %d distinct messages delivered, %d duplicates", n, dup)
		if n != 4 || dup != 0 {
			t.Errorf("%d distinct messages, %d duplicates; want 4 and 0", n, dup)
		}
	})
	t.Run("in flight, accepted", func(t *testing.T) {
		n, dup := crashRun(t, true)
		t.Logf("kill -9 while the server held a message it then accepted: %d distinct messages delivered, %d duplicates", n, dup)
		if n != 4 || dup != 1 {
			t.Errorf("%d distinct messages, %d duplicates; want 4 and 1", n, dup)
		}
	})
}
