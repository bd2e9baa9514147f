package sfu

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	_ "net/http/pprof" //nolint:gosec // G108: the load test's child server, on loopback, is profiled on purpose
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"

	"github.com/teleconsult/teleconsult/internal/teleconsult"
)

// The load test:
//
//	go test ./internal/sfu -run 'TestLoad$' -count=1 -timeout 0 -v -args -load
//
// or, the same measurement every time (fixed steps of 10, 50 and 100
// calls, the server pinned to one core, profiles at 50 calls):
//
//	scripts/sfu-load.sh
//
// It starts the SFU in a child process (this test binary, TestLoadServer)
// so that the server's CPU and memory are measured apart from the load
// generator's, then ramps up concurrent two-party calls: each participant
// is a pion peer sending VP8 at -load.kbps and Opus, and receiving the
// other through the SFU. After each step it measures, over -load.hold,
// the packet loss seen by the receivers (from RTP sequence numbers), the
// server's CPU and memory, and the machine's CPU (which includes any other
// process). It stops when the loss passes 1%, when participants receive
// less than 95% of the bitrate sent (the machine cannot carry the calls),
// when the server and the generator together use every core, or at
// -load.max calls.
//
// Columns: rxKbps is what each participant receives, kbit/s; srvCPU% is
// the server process's CPU in % of one core, and CPU%/call that divided by
// the calls; machCPU% is the whole machine's
// busy share of all cores; RSS/call and heap/call are the growth of the
// server's resident set and live heap (after a GC) since idle, divided by
// the calls; p95join is the 95th percentile, over the step's new
// participants, of the time from dialing the WebSocket to the first RTP
// packet received from the other participant; genCPU% is the load
// generator's CPU in % of one core; gr/call is the server's goroutines per
// call; stack/call is the growth of the server's goroutine stacks per
// call; other% is the CPU of every other process (the machine may be
// shared), in % of one core: a window where it passes 20% is measured
// again, up to 5 times.
var (
	loadFlag  = flag.Bool("load", false, "run the SFU load test (TestLoad)")
	loadStep  = flag.Int("load.step", 10, "load test: calls added per step")
	loadFirst = flag.Int("load.first", 10, "load test: calls of the first step")
	loadMax   = flag.Int("load.max", 300, "load test: most concurrent calls")
	loadHold  = flag.Duration("load.hold", 10*time.Second, "load test: measurement window of each step")
	loadKbps  = flag.Int("load.kbps", 1500, "load test: video bitrate of each participant, kbit/s")
	// loadProfile saves the server's heap and CPU profiles at the end.
	loadProfile = flag.String("load.profile", "", "load test: file prefix for the server's heap and CPU profiles, taken at the end")
	// loadCalls replaces the ramp by fixed steps (scripts/sfu-load.sh).
	loadCalls = flag.String("load.calls", "", "load test: comma-separated concurrent calls to measure, in increasing order, instead of the ramp (e.g. 10,50,100)")
	// loadServerCPUs pins the server process to CPUs with taskset.
	loadServerCPUs = flag.String("load.servercpus", "", "load test: CPU list (taskset -c) the server process is pinned to, e.g. 0")
	// loadProfileDir and loadProfileAt: the server's CPU, heap and
	// goroutine profiles, taken after the measurement at that step.
	loadProfileDir = flag.String("load.profiledir", "", "load test: directory for the server's CPU, heap and goroutine profiles taken at -load.profileat calls")
	loadProfileAt  = flag.Int("load.profileat", 50, "load test: the step (calls) at which -load.profiledir's profiles are taken")
	// loadPace spreads a step's new calls over time, as calls start in
	// practice, instead of all at once.
	loadPace = flag.Duration("load.pace", 0, "load test: time between two new calls of a step (0: all at once)")
)

const loadServerEnv = "SFU_LOAD_SERVER"

// serverStats is what the server process reports about itself.
type serverStats struct {
	CPUNanos   int64  `json:"cpuNanos"`
	RSS        int64  `json:"rss"`
	HeapInuse  uint64 `json:"heapInuse"`
	StackInuse uint64 `json:"stackInuse"`
	Goroutines int    `json:"goroutines"`
	GOMAXPROCS int    `json:"gomaxprocs"`
}

// TestLoadServer is the server process of TestLoad; it is skipped unless
// started by it.
func TestLoadServer(t *testing.T) {
	if os.Getenv(loadServerEnv) == "" {
		t.Skip("the server process of TestLoad")
	}
	e := newEnv(t, func(_ *teleconsult.Settings, c *Config) {
		c.Ticks = nil // the real 1 s recheck ticker, as in production
		c.Logger = nil
	})
	e.svc.Logger = nil
	e.mux.HandleFunc("POST /load/visit", func(w http.ResponseWriter, r *http.Request) {
		id, tokens, err := loadVisit(e)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"id": id, "tokens": tokens}) // the parent fails if it gets no answer
	})
	e.mux.HandleFunc("GET /load/stats", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("gc") != "" {
			runtime.GC()
		}
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		_ = json.NewEncoder(w).Encode(serverStats{CPUNanos: cpuNanos(), RSS: rss(), HeapInuse: ms.HeapInuse, StackInuse: ms.StackInuse,
			Goroutines: runtime.NumGoroutine(), GOMAXPROCS: runtime.GOMAXPROCS(0)})
	})
	e.mux.Handle("/debug/pprof/", http.DefaultServeMux) // net/http/pprof
	fmt.Printf("LOADSERVER %s\n", e.srv.URL)
	_, _ = io.Copy(io.Discard, os.Stdin) // until the parent goes: end of input and an error both mean that
}

func loadVisit(e *env) (string, []string, error) {
	ctx := context.Background()
	n := time.Now().UnixNano()
	in := teleconsult.CreateInput{StartDate: start, Duration: ptr(30 * time.Minute), Number: 2,
		Participants: []teleconsult.ParticipantInput{
			{UserID: fmt.Sprintf("doc-%d", n), Groups: []string{"doctor"}, FullName: "D"},
			{UserID: fmt.Sprintf("pat-%d", n), Groups: []string{"patient"}, FullName: "P"}}}
	id, err := e.svc.Create(ctx, in)
	if err != nil {
		return "", nil, err
	}
	tc, err := e.store.FindByID(ctx, id)
	if err != nil {
		return "", nil, err
	}
	var tokens []string
	for _, p := range tc.ActiveParticipants() {
		cs, err := e.svc.Exchange(ctx, e.keys.LinkCode(p.LinkNonce))
		if err != nil {
			return "", nil, err
		}
		tokens = append(tokens, cs.Token)
	}
	return id, tokens, nil
}

func cpuNanos() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// rss is the resident set size from /proc/self/status, in bytes.
func rss() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// machineCPU returns busy and total jiffies of all CPUs.
func machineCPU() (busy, total int64) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0
	}
	f := strings.Fields(strings.SplitN(string(b), "\n", 2)[0])[1:]
	for i, s := range f {
		v, _ := strconv.ParseInt(s, 10, 64)
		total += v
		if i != 3 && i != 4 { // idle, iowait
			busy += v
		}
	}
	return busy, total
}

func TestLoad(t *testing.T) {
	if !*loadFlag {
		t.Skip("pass -load to run the load test")
	}
	steps, err := loadSteps(*loadCalls)
	if err != nil {
		t.Fatal(err)
	}
	args := []string{os.Args[0], "-test.run=^TestLoadServer$", "-test.v", "-test.timeout=0"}
	if *loadServerCPUs != "" {
		args = append([]string{"taskset", "-c", *loadServerCPUs}, args...)
	}
	cmd := exec.Command(args[0], args[1:]...) //nolint:gosec // G204: this test binary, under taskset with the flag's CPU list
	cmd.Env = append(os.Environ(), loadServerEnv+"=1")
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = stdin.Close()
		_ = cmd.Wait() // the child ends because its input closed: its exit status says no more
	}()
	sc := bufio.NewScanner(stdout)
	var base string
	for sc.Scan() {
		if u, ok := strings.CutPrefix(sc.Text(), "LOADSERVER "); ok {
			base = u
			break
		}
	}
	if base == "" {
		t.Fatal("the server process did not start")
	}
	go func() { _, _ = io.Copy(io.Discard, stdout) }() // keep the child from blocking on its output

	stats := func(gc bool) serverStats {
		u := base + "/load/stats"
		if gc {
			u += "?gc=1"
		}
		resp, err := http.Get(u) //nolint:gosec // G107: u is the child server's loopback URL
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var s serverStats
		if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
			t.Fatal(err)
		}
		return s
	}
	idle := stats(true)
	t.Logf("server idle: RSS %.1f MiB, heap %.1f MiB, %d goroutines, GOMAXPROCS %d (CPUs %q); generator GOMAXPROCS %d; %d CPUs; %d kbit/s video per participant",
		mib(idle.RSS), float64(idle.HeapInuse)/(1<<20), idle.Goroutines, idle.GOMAXPROCS, *loadServerCPUs, runtime.GOMAXPROCS(0), runtime.NumCPU(), *loadKbps)
	t.Logf("%5s %7s %8s %9s %11s %11s %10s %10s %9s %8s %7s %7s %10s", "calls", "loss%", "rxKbps", "srvCPU%", "CPU%/call", "machCPU%", "RSS/call", "heap/call", "p95join", "genCPU%", "gr/call", "other%", "stack/call")

	var clients []*loadClient
	defer func() {
		for _, c := range clients {
			c.close()
		}
	}()
	best := 0
	for calls := 0; calls < *loadMax; {
		add := *loadStep
		if calls == 0 {
			add = *loadFirst
		}
		if steps != nil {
			if len(steps) == 0 {
				break
			}
			add, steps = steps[0]-calls, steps[1:]
		}
		var fresh []*loadClient
		for i := range add {
			if i > 0 {
				time.Sleep(*loadPace)
			}
			resp, err := http.Post(base+"/load/visit", "application/json", nil)
			if err != nil {
				t.Fatal(err)
			}
			var v struct {
				ID     string   `json:"id"`
				Tokens []string `json:"tokens"`
			}
			err = json.NewDecoder(resp.Body).Decode(&v)
			resp.Body.Close()
			if err != nil {
				t.Fatal(err)
			}
			for _, tok := range v.Tokens {
				c, err := dialLoad(base, v.ID, tok)
				if err != nil {
					t.Fatal(err)
				}
				fresh = append(fresh, c)
			}
		}
		clients = append(clients, fresh...)
		calls += add
		deadline := time.Now().Add(30 * time.Second)
		for _, c := range fresh {
			for c.firstMedia.Load() == 0 && time.Now().Before(deadline) {
				time.Sleep(20 * time.Millisecond)
			}
		}
		var joins []time.Duration
		for _, c := range fresh {
			if f := c.firstMedia.Load(); f != 0 {
				joins = append(joins, time.Duration(f-c.dialed.UnixNano()))
			} else {
				joins = append(joins, 30*time.Second)
			}
		}
		sort.Slice(joins, func(i, j int) bool { return joins[i] < joins[j] })
		p95 := joins[len(joins)*95/100]
		time.Sleep(2 * time.Second) // settle

		// Measure; retry while other processes take more than a fifth of
		// a core (the machine may be shared), up to 5 windows.
		var loss, rxKbps, srvCPU, genCPU, mach, others float64
		for attempt := 0; attempt < 5; attempt++ {
			s0, g0, w0 := stats(false), cpuNanos(), time.Now()
			b0, tot0 := machineCPU()
			l0 := lossCounters(clients)
			time.Sleep(*loadHold)
			s1 := stats(false)
			b1, tot1 := machineCPU()
			g1, w1 := cpuNanos(), time.Now()
			l1 := lossCounters(clients)
			wall := float64(w1.Sub(w0).Nanoseconds())
			expected, received := l1[0]-l0[0], l1[1]-l0[1]
			loss = 0
			if expected > 0 {
				loss = 100 * (1 - float64(received)/float64(expected))
			}
			rxKbps = float64(l1[2]-l0[2]) * 8 / 1000 / (wall / 1e9) / float64(len(clients))
			srvCPU = 100 * float64(s1.CPUNanos-s0.CPUNanos) / wall
			genCPU = 100 * float64(g1-g0) / wall
			mach = 100 * float64(b1-b0) / float64(max(tot1-tot0, 1))
			others = mach*float64(runtime.NumCPU()) - srvCPU - genCPU
			if others < 20 {
				break
			}
			t.Logf("%5d   (other processes took %.0f%% of a core: measuring again)", calls, others)
		}
		mem := stats(true)
		t.Logf("%5d %7.3f %8.0f %9.1f %11.2f %11.1f %8.0fKiB %8.0fKiB %9s %8.1f %7.0f %7.0f %8.0fKiB", calls, loss, rxKbps, srvCPU, srvCPU/float64(calls), mach,
			float64(mem.RSS-idle.RSS)/1024/float64(calls), (float64(mem.HeapInuse)-float64(idle.HeapInuse))/1024/float64(calls),
			p95.Round(time.Millisecond), genCPU, float64(mem.Goroutines-idle.Goroutines)/float64(calls), others,
			(float64(mem.StackInuse)-float64(idle.StackInuse))/1024/float64(calls))
		if *loadProfileDir != "" && calls == *loadProfileAt {
			if err := saveProfiles(base, *loadProfileDir); err != nil {
				t.Fatal(err)
			}
			t.Logf("server profiles at %d calls in %s", calls, *loadProfileDir)
		}
		ended := 0
		for _, c := range clients {
			if c.ended.Load() {
				ended++
			}
		}
		if ended > 0 {
			t.Logf("%d participants were disconnected at %d calls", ended, calls)
			break
		}
		if loss > 1 {
			t.Logf("loss above 1%% at %d calls", calls)
			break
		}
		if rxKbps < 0.95*float64(*loadKbps) {
			t.Logf("participants receive %.0f kbit/s, less than the %d sent: the machine cannot carry %d calls", rxKbps, *loadKbps, calls)
			if others >= 20 {
				t.Logf("(while other processes took %.0f%% of a core)", others)
			}
			break
		}
		best = calls
		if srvCPU+genCPU > 0.95*100*float64(runtime.NumCPU()) {
			t.Logf("CPU saturated by the server and the load generator at %d calls", calls)
			break
		}
	}
	t.Logf("maximum concurrent two-party calls under 1%% loss: %d", best)
	if *loadProfile != "" {
		for _, kind := range []string{"heap", "profile?seconds=10"} {
			resp, err := http.Get(base + "/debug/pprof/" + kind)
			if err != nil {
				t.Fatal(err)
			}
			name := *loadProfile + "." + strings.SplitN(kind, "?", 2)[0]
			f, err := os.Create(name)
			if err != nil {
				t.Fatal(err)
			}
			_, err = io.Copy(f, resp.Body)
			resp.Body.Close()
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("server %s profile in %s", kind, name)
		}
	}
}

// loadSteps parses -load.calls: increasing positive numbers of calls; nil
// for the ramp.
func loadSteps(list string) ([]int, error) {
	if list == "" {
		return nil, nil
	}
	var out []int
	for _, f := range strings.Split(list, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 || (len(out) > 0 && n <= out[len(out)-1]) {
			return nil, fmt.Errorf("-load.calls %q: want increasing positive numbers, e.g. 10,50,100", list)
		}
		out = append(out, n)
	}
	return out, nil
}

// saveProfiles saves the server's CPU profile (over 10 s), heap profile
// (after a GC) and goroutine profile (with stacks) in dir.
func saveProfiles(base, dir string) error {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return err
	}
	for _, p := range []struct{ url, file string }{
		{"profile?seconds=10", "cpu.pprof"},
		{"heap?gc=1", "heap.pprof"},
		{"goroutine", "goroutine.pprof"},
		{"goroutine?debug=1", "goroutine.txt"},
	} {
		resp, err := http.Get(base + "/debug/pprof/" + p.url) //nolint:gosec // G107: the child server's loopback URL
		if err != nil {
			return err
		}
		f, err := os.Create(filepath.Join(dir, p.file))
		if err != nil {
			resp.Body.Close()
			return err
		}
		_, err = io.Copy(f, resp.Body)
		resp.Body.Close()
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

// lossCounters sums, over every client's received tracks, the packets
// expected (by sequence numbers), the packets received and their bytes.
func lossCounters(clients []*loadClient) [3]int64 {
	var out [3]int64
	for _, c := range clients {
		c.mu.Lock()
		for _, s := range c.streams {
			e, r, b := s.snapshot()
			out[0] += e
			out[1] += r
			out[2] += b
		}
		c.mu.Unlock()
	}
	return out
}

// seqStats follows one received RTP stream's sequence numbers.
type seqStats struct {
	mu       sync.Mutex
	started  bool
	cycles   int64
	last     uint16
	base     int64
	highest  int64
	received int64
	bytes    int64
}

func (s *seqStats) packet(seq uint16, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.received++
	s.bytes += int64(n)
	if !s.started {
		s.started, s.last, s.base, s.highest = true, seq, int64(seq), int64(seq)
		return
	}
	diff := int16(seq - s.last) //nolint:gosec // G115: RTP serial-number arithmetic, the wrap is the point
	if diff > 0 {
		if seq < s.last {
			s.cycles++
		}
		s.last = seq
		s.highest = s.cycles<<16 | int64(seq)
	}
}

func (s *seqStats) snapshot() (expected, received, bytes int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.started {
		return 0, 0, 0
	}
	return s.highest - s.base + 1, s.received, s.bytes
}

// loadClient is a lean pion participant for the load test.
type loadClient struct {
	ws         *websocket.Conn
	pc         *webrtc.PeerConnection
	dialed     time.Time
	firstMedia atomic.Int64
	ended      atomic.Bool
	stop       chan struct{}
	wg         sync.WaitGroup
	writeMu    sync.Mutex
	mu         sync.Mutex
	streams    map[webrtc.SSRC]*seqStats
}

func dialLoad(base, id, token string) (*loadClient, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c := &loadClient{dialed: time.Now(), stop: make(chan struct{}), streams: map[webrtc.SSRC]*seqStats{}}
	ws, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(base, "http")+strings.Replace(CallPath, "{id}", id, 1), nil)
	if err != nil {
		return nil, err
	}
	ws.SetReadLimit(1 << 20)
	c.ws = ws
	c.send(map[string]any{"type": "auth", "token": token})
	c.wg.Add(2)
	go c.readLoop()
	go c.keepAlive()
	return c, nil
}

// keepAlive pings every 10 s, as the call page does: the server closes a
// connection silent for 30 s.
func (c *loadClient) keepAlive() {
	defer c.wg.Done()
	t := time.NewTicker(10 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-t.C:
			c.send(map[string]any{"type": "ping"})
		}
	}
}

func (c *loadClient) send(v any) {
	b, _ := json.Marshal(v)
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = c.ws.Write(ctx, websocket.MessageText, b)
}

func (c *loadClient) readLoop() {
	defer c.wg.Done()
	for {
		_, b, err := c.ws.Read(context.Background())
		if err != nil {
			return
		}
		var m struct {
			Type      string          `json:"type"`
			SDP       string          `json:"sdp"`
			Candidate json.RawMessage `json:"candidate"`
		}
		if json.Unmarshal(b, &m) != nil {
			continue
		}
		switch m.Type {
		case "welcome":
			if err := c.startPeer(); err != nil {
				return
			}
		case "offer":
			if c.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: m.SDP}) != nil {
				continue
			}
			answer, err := c.pc.CreateAnswer(nil)
			if err != nil || c.pc.SetLocalDescription(answer) != nil {
				continue
			}
			c.send(map[string]any{"type": "answer", "sdp": answer.SDP})
		case "candidate":
			var cand *webrtc.ICECandidateInit
			if json.Unmarshal(m.Candidate, &cand) == nil && cand != nil && c.pc != nil {
				_ = c.pc.AddICECandidate(*cand)
			}
		case "end":
			c.ended.Store(true)
			return
		}
	}
}

func (c *loadClient) startPeer() error {
	api, err := clientAPI(0)
	if err != nil {
		return err
	}
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return err
	}
	c.pc = pc
	pc.OnICECandidate(func(cand *webrtc.ICECandidate) {
		if cand == nil {
			c.send(map[string]any{"type": "candidate", "candidate": nil})
			return
		}
		c.send(map[string]any{"type": "candidate", "candidate": cand.ToJSON()})
	})
	pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		s := &seqStats{}
		c.mu.Lock()
		c.streams[tr.SSRC()] = s
		c.mu.Unlock()
		buf := make([]byte, 1500)
		for {
			n, _, err := tr.Read(buf)
			if err != nil {
				return
			}
			if n >= 4 {
				s.packet(binary.BigEndian.Uint16(buf[2:4]), n)
			}
			if c.firstMedia.Load() == 0 {
				c.firstMedia.CompareAndSwap(0, time.Now().UnixNano())
			}
		}
	})
	audio, err := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, "mic", "local")
	if err != nil {
		return err
	}
	video, err := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, "cam", "local")
	if err != nil {
		return err
	}
	for _, tr := range []webrtc.TrackLocal{audio, video} {
		t, err := pc.AddTransceiverFromTrack(tr, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
		if err != nil {
			return err
		}
		sender := t.Sender()
		c.wg.Add(1)
		go func() { // read RTCP so that NACKs are answered
			defer c.wg.Done()
			buf := make([]byte, 1500)
			for {
				if _, _, err := sender.Read(buf); err != nil {
					return
				}
			}
		}()
	}
	c.wg.Add(1)
	go c.sendMedia(audio, video)
	return nil
}

// sendMedia sends 20 ms Opus frames of 120 bytes and 30 VP8 frames a
// second at -load.kbps.
func (c *loadClient) sendMedia(audio, video *webrtc.TrackLocalStaticSample) {
	defer c.wg.Done()
	a := time.NewTicker(20 * time.Millisecond)
	defer a.Stop()
	v := time.NewTicker(time.Second / 30)
	defer v.Stop()
	opus := make([]byte, 120)
	frame := make([]byte, *loadKbps*1000/8/30)
	for i := range frame {
		frame[i] = byte(i)
	}
	for {
		select {
		case <-c.stop:
			return
		case <-a.C:
			_ = audio.WriteSample(media.Sample{Data: opus, Duration: 20 * time.Millisecond})
		case <-v.C:
			_ = video.WriteSample(media.Sample{Data: frame, Duration: time.Second / 30})
		}
	}
}

func (c *loadClient) close() {
	close(c.stop)
	c.ws.CloseNow()
	if c.pc != nil {
		c.pc.Close()
	}
	c.wg.Wait()
}
