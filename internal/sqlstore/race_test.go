//go:build race

package sqlstore

// raceEnabled: the race detector makes sync.Pool drop a quarter of what
// is put back, so pooled buffers (pgx's) are allocated again.
const raceEnabled = true
