package files

// DirPath returns the directory of d, for the tests of package files_test.
func DirPath(d *Dir) string { return d.path }

// SplitUnits splits a stored file into its units: the header, then each
// sealed chunk.
func SplitUnits(raw []byte) [][]byte {
	var units [][]byte
	for unit := headerSize; len(raw) > 0; unit = chunkSize + tagSize {
		n := min(unit, len(raw))
		units = append(units, raw[:n:n])
		raw = raw[n:]
	}
	return units
}
