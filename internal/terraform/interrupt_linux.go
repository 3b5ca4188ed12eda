package terraform

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// interruptTerraform sends SIGINT to the Terraform processes this process
// started in dir: its children whose working directory is dir.
func interruptTerraform(dir string) {
	self := os.Getpid()
	procs, _ := filepath.Glob("/proc/[0-9]*")
	for _, p := range procs {
		pid, err := strconv.Atoi(filepath.Base(p))
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join(p, "stat"))
		if err != nil {
			continue
		}
		// stat: pid (comm) state ppid ...; comm may contain spaces.
		fields := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
		if len(fields) < 2 {
			continue
		}
		if ppid, _ := strconv.Atoi(fields[1]); ppid != self {
			continue
		}
		if cwd, err := os.Readlink(filepath.Join(p, "cwd")); err == nil && cwd == dir {
			_ = syscall.Kill(pid, syscall.SIGINT)
		}
	}
}
