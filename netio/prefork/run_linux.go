package prefork

import "os"

func run(cfg *Config) error {
	if spec := os.Getenv(workerEnv); spec != "" {
		runWorker(cfg, spec)
	}
	return runMaster(cfg)
}
