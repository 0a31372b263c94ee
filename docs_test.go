package eventagg_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode"
)

// The docs are kept honest by two tests: links between them resolve, and
// docs/api.md documents exactly the endpoints the served OpenAPI document
// has.

var (
	mdLink     = regexp.MustCompile(`\]\(([^)\s]+)\)`)
	apiMention = regexp.MustCompile("`(GET|POST|PUT|PATCH|DELETE) (/[^`?\\s]*)")
)

func docFiles(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob("docs/*.md")
	if err != nil {
		t.Fatal(err)
	}
	return append(files, "README.md")
}

// TestDocsLinksResolve: every relative link in README.md and docs/ names a
// file that exists and, with a #fragment, a heading of it (as GitHub makes
// anchors).
func TestDocsLinksResolve(t *testing.T) {
	for _, file := range docFiles(t) {
		text := readFile(t, file)
		for _, m := range mdLink.FindAllStringSubmatch(prose(text), -1) {
			link := m[1]
			if strings.Contains(link, "://") || strings.HasPrefix(link, "mailto:") {
				continue
			}
			target, anchor, _ := strings.Cut(link, "#")
			path := file
			if target != "" {
				path = filepath.Join(filepath.Dir(file), target)
			}
			if _, err := os.Stat(path); err != nil {
				t.Errorf("%s: link %q: %v", file, link, err)
				continue
			}
			if anchor != "" && !slices.Contains(anchors(readFile(t, path)), anchor) {
				t.Errorf("%s: link %q: %s has no heading with that anchor (it has %q)", file, link, path, anchors(readFile(t, path)))
			}
		}
	}
}

// TestAPIDocMatchesOpenAPI: every operation of /openapi.json is named in
// docs/api.md as `METHOD /path`, and every such name there is an operation.
func TestAPIDocMatchesOpenAPI(t *testing.T) {
	var spec struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal([]byte(readFile(t, "internal/httpapi/static/openapi.json")), &spec); err != nil {
		t.Fatal(err)
	}
	served := map[string]bool{}
	for path, ops := range spec.Paths {
		for method := range ops {
			if method != "parameters" {
				served[strings.ToUpper(method)+" "+path] = true
			}
		}
	}
	documented := map[string]bool{}
	for _, m := range apiMention.FindAllStringSubmatch(readFile(t, "docs/api.md"), -1) {
		documented[m[1]+" "+m[2]] = true
	}
	for op := range served {
		if !documented[op] {
			t.Errorf("docs/api.md does not document %s (write it as `%s`)", op, op)
		}
	}
	for op := range documented {
		if !served[op] {
			t.Errorf("docs/api.md documents %s, which /openapi.json does not have", op)
		}
	}
	if len(served) < 10 {
		t.Fatalf("read only %d operations from openapi.json", len(served))
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// prose is text without its fenced code blocks, where "](" is not a link.
func prose(text string) string {
	var b strings.Builder
	fenced := false
	for _, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(line, "```") {
			fenced = !fenced
			continue
		}
		if !fenced {
			b.WriteString(line + "\n")
		}
	}
	return b.String()
}

// anchors are the fragments GitHub gives a file's headings: lower case,
// punctuation dropped, spaces as hyphens.
func anchors(text string) []string {
	var out []string
	for _, line := range strings.Split(prose(text), "\n") {
		if !strings.HasPrefix(line, "#") {
			continue
		}
		title := strings.TrimSpace(strings.TrimLeft(line, "#"))
		var b strings.Builder
		for _, r := range strings.ToLower(title) {
			switch {
			case r == ' ':
				b.WriteRune('-')
			case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r):
				b.WriteRune(r)
			}
		}
		out = append(out, b.String())
	}
	return out
}
