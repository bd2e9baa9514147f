package main

import "runtime/debug"

// gcPercent is the garbage collector's target (GOGC) unless the GOGC
// environment variable sets another: the heap may grow 50 % over the live
// heap between collections instead of Go's default 100 %. Most of the
// service's memory is the SFU's, per call (packet buffers, connection
// state); at 100 calls this takes the resident memory per call from
// about 2.2 to 1.8 MiB for no CPU cost within the measurement's noise
// (BENCHMARKS.md, "SFU per call").
const gcPercent = 50

// setGCPercent applies gcPercent unless getenv("GOGC") is set (the Go
// runtime has then applied it, "off" included). It returns the setting in
// force.
func setGCPercent(getenv func(string) string) int {
	if getenv("GOGC") != "" {
		p := debug.SetGCPercent(100)
		debug.SetGCPercent(p)
		return p
	}
	debug.SetGCPercent(gcPercent)
	return gcPercent
}
