package testenv

import "testing"

// The ports of one draw are distinct, draw after draw (a port closed and
// drawn again at once can come back).
func TestFreePortsDistinct(t *testing.T) {
	for range 2000 {
		ports := FreePorts(t, 3)
		if ports[0] == ports[1] || ports[1] == ports[2] || ports[0] == ports[2] {
			t.Fatalf("FreePorts drew %v", ports)
		}
	}
}
