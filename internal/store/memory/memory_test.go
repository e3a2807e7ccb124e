package memory_test

import (
	"testing"

	"github.com/gantry-dev/gantry/internal/cas"
	"github.com/gantry-dev/gantry/internal/cas/castest"
	"github.com/gantry-dev/gantry/internal/store/memory"
)

func TestConformance(t *testing.T) {
	castest.Run(t, castest.Config{
		New: func(*testing.T) cas.Store { return memory.New() },
	})
}
