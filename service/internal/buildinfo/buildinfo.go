// Package buildinfo says which build is running. The image build stamps
// Version with -ldflags "-X .../buildinfo.Version=<git sha>".
package buildinfo

import "runtime/debug"

// Version is the release or commit this binary was built from.
var Version = "dev"

// Revision is the VCS commit Go recorded at build time, or Version when the
// build had no VCS information (as in a container build without .git).
func Revision() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				return s.Value
			}
		}
	}
	return Version
}
