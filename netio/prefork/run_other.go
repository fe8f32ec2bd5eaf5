//go:build !linux

package prefork

import "time"

func run(cfg *Config) error { return ErrUnsupported }

func (w *Worker) waitQueuesEmpty(time.Duration) {}
