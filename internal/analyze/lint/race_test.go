//go:build race

package lint

// raceEnabled: the race detector slows the linter about 15 times, so
// timing budgets are not checked.
const raceEnabled = true
