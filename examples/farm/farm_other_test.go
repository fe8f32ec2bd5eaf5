//go:build !linux

package farm

import "testing"

func TestFarm(t *testing.T) {
	t.Skip("skipped: the farm test needs Linux network namespaces")
}
