package main

import (
	"runtime/debug"
	"strings"
)

// versionString is what `eventagg version` prints and the startup line
// carries: the version set at link time if there is one, else the module
// version with the VCS revision and commit time that Go records when it
// builds from a checkout ("(devel) rev 0557b81… 2026-12-02T02:01:31Z"),
// marked "modified" when the tree had uncommitted changes.
func versionString() string {
	if version != "dev" {
		return version
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return version
	}
	parts := []string{bi.Main.Version}
	settings := map[string]string{}
	for _, s := range bi.Settings {
		settings[s.Key] = s.Value
	}
	if rev := settings["vcs.revision"]; rev != "" {
		parts = append(parts, "rev "+rev)
	}
	if at := settings["vcs.time"]; at != "" {
		parts = append(parts, at)
	}
	if settings["vcs.modified"] == "true" {
		parts = append(parts, "modified")
	}
	return strings.Join(parts, " ")
}
