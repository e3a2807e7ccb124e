//go:build race

package bundle

// raceEnabled says the race detector is on: timing bounds are looser.
const raceEnabled = true
