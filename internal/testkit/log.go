package testkit

import (
	"bytes"
	"sync"
)

// LogBuffer collects log output from many goroutines: an [io.Writer] for a
// logger whose String may be read while handlers still write. The zero
// value is an empty buffer.
type LogBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write appends p.
func (b *LogBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns everything written so far.
func (b *LogBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
