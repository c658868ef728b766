package migrate

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// Migration is one numbered step of a migration line.
type Migration struct {
	Version  int64
	Name     string
	Up       string
	Down     string // empty when there is none
	Checksum string // sha256 of Up, hex
	// NoTx marks a goose "NO TRANSACTION" migration (CREATE INDEX CONCURRENTLY and the like):
	// the fleet runner sends its statements one by one outside any transaction and records it
	// afterwards. Statements holds them, split the way goose splits them.
	NoTx       bool
	Statements []string
	File       string // the up file, for messages
}

var (
	plainName = regexp.MustCompile(`^(\d+)_([a-zA-Z0-9_-]+)\.(up|down)\.sql$`)
	gooseName = regexp.MustCompile(`^(\d+)_([a-zA-Z0-9_.-]+)\.sql$`)
)

// Errors of Load, wrapped with the offending file.
var (
	ErrBadFile          = errors.New("invalid migration file")
	ErrDuplicateVersion = errors.New("migration version used twice")
)

// Load reads a migration line from the root of fsys, in version order: NNNN_name.up.sql files
// (with optional NNNN_name.down.sql) and goose-annotated NNNN_name.sql files, mixed freely.
// Unknown .sql files, duplicate versions and empty migrations are refused, so that a typo never
// silently skips a migration. A nil fsys is an empty line.
func Load(fsys fs.FS) ([]Migration, error) {
	if fsys == nil {
		return nil, nil
	}
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, fmt.Errorf("read migrations: %w", err)
	}
	byVersion := map[int64]*Migration{}
	get := func(v int64, name, file string) (*Migration, error) {
		m := byVersion[v]
		if m == nil {
			m = &Migration{Version: v, Name: name}
			byVersion[v] = m
		} else if m.Name != name {
			return nil, fmt.Errorf("%w: %d is %q and %q (renumber one of them)", ErrDuplicateVersion, v, m.Name, name)
		}
		return m, nil
	}
	for _, e := range entries {
		fname := e.Name()
		if e.IsDir() || strings.HasPrefix(fname, ".") || !strings.HasSuffix(fname, ".sql") {
			continue
		}
		body, err := fs.ReadFile(fsys, path.Clean(fname))
		if err != nil {
			return nil, fmt.Errorf("migration %q: %w", fname, err)
		}
		if m := plainName.FindStringSubmatch(fname); m != nil {
			v, err := parseVersion(fname, m[1])
			if err != nil {
				return nil, err
			}
			mig, err := get(v, m[2], fname)
			if err != nil {
				return nil, err
			}
			if m[3] == "down" {
				mig.Down = string(body)
				continue
			}
			if mig.Up != "" {
				return nil, fmt.Errorf("%w: %d has two up files (%s and %s)", ErrDuplicateVersion, v, mig.File, fname)
			}
			if strings.TrimSpace(string(body)) == "" {
				return nil, fmt.Errorf("%w: %s is empty", ErrBadFile, fname)
			}
			mig.Up, mig.File = string(body), fname
			if strings.Contains(mig.Up, "-- +goose") {
				return nil, fmt.Errorf("%w: %s has goose annotations; name it %d_%s.sql", ErrBadFile, fname, v, m[2])
			}
			continue
		}
		m := gooseName.FindStringSubmatch(fname)
		if m == nil {
			return nil, fmt.Errorf("%w: %q: name must be NNNN_name.up.sql, NNNN_name.down.sql or (goose) NNNN_name.sql", ErrBadFile, fname)
		}
		v, err := parseVersion(fname, m[1])
		if err != nil {
			return nil, err
		}
		up, down, noTx, err := parseGoose(string(body))
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrBadFile, fname, err)
		}
		mig, err := get(v, m[2], fname)
		if err != nil {
			return nil, err
		}
		if mig.Up != "" {
			return nil, fmt.Errorf("%w: %d has two up files (%s and %s)", ErrDuplicateVersion, v, mig.File, fname)
		}
		mig.Up, mig.Down, mig.NoTx, mig.File = up, down, noTx, fname
	}
	out := make([]Migration, 0, len(byVersion))
	for _, m := range byVersion {
		if m.Up == "" {
			return nil, fmt.Errorf("%w: version %d (%s) has a down file but no up file", ErrBadFile, m.Version, m.Name)
		}
		sum := sha256.Sum256([]byte(m.Up))
		m.Checksum = hex.EncodeToString(sum[:])
		if m.NoTx {
			m.Statements = splitStatements(m.Up)
		}
		out = append(out, *m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	return out, nil
}

func parseVersion(fname, digits string) (int64, error) {
	v, err := strconv.ParseInt(digits, 10, 64)
	if err != nil || v <= 0 {
		return 0, fmt.Errorf("%w: %q: the version must be a positive number", ErrBadFile, fname)
	}
	return v, nil
}

// parseGoose splits a goose file into its Up and Down sections. Annotation lines are kept in the
// text (they are SQL comments), so the Up section is sent to the server as the file has it.
func parseGoose(body string) (up, down string, noTx bool, err error) {
	var sections [2]strings.Builder
	cur := -1 // -1: before "+goose Up"; 0: up; 1: down
	inBlock := false
	sc := bufio.NewScanner(strings.NewReader(body))
	sc.Buffer(make([]byte, 64*1024), 16*1024*1024)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if dir, ok := gooseDirective(line); ok {
			switch dir {
			case "up":
				if cur != -1 {
					return "", "", false, fmt.Errorf("line %d: a second \"-- +goose Up\"", n)
				}
				cur = 0
			case "down":
				if cur != 0 {
					return "", "", false, fmt.Errorf("line %d: \"-- +goose Down\" before \"-- +goose Up\"", n)
				}
				if inBlock {
					return "", "", false, fmt.Errorf("line %d: StatementBegin without StatementEnd", n)
				}
				cur = 1
			case "statementbegin":
				if inBlock {
					return "", "", false, fmt.Errorf("line %d: StatementBegin inside StatementBegin", n)
				}
				inBlock = true
			case "statementend":
				if !inBlock {
					return "", "", false, fmt.Errorf("line %d: StatementEnd without StatementBegin", n)
				}
				inBlock = false
			case "no transaction":
				noTx = true
			case "envsub on", "envsub off":
				return "", "", false, fmt.Errorf("line %d: \"-- +goose ENVSUB\" is not supported (migrations must mean the same SQL everywhere)", n)
			default:
				return "", "", false, fmt.Errorf("line %d: unknown annotation %q", n, strings.TrimSpace(line))
			}
		}
		if cur >= 0 {
			sections[cur].WriteString(line)
			sections[cur].WriteByte('\n')
		}
	}
	if err := sc.Err(); err != nil {
		return "", "", false, err
	}
	if cur == -1 {
		return "", "", false, errors.New("no \"-- +goose Up\" annotation")
	}
	if inBlock {
		return "", "", false, errors.New("StatementBegin without StatementEnd")
	}
	up, down = sections[0].String(), sections[1].String()
	if len(splitStatements(up)) == 0 {
		return "", "", false, errors.New("the Up section has no statement")
	}
	return up, down, noTx, nil
}

// gooseDirective recognises "-- +goose <directive>" (case-insensitive, as goose does).
func gooseDirective(line string) (string, bool) {
	s := strings.TrimSpace(line)
	if !strings.HasPrefix(s, "--") {
		return "", false
	}
	s = strings.TrimSpace(strings.TrimPrefix(s, "--"))
	if !strings.HasPrefix(strings.ToLower(s), "+goose") {
		return "", false
	}
	return strings.ToLower(strings.Join(strings.Fields(s[len("+goose"):]), " ")), true
}

// splitStatements splits SQL the way goose does: a statement ends at a line ending with ';',
// except between StatementBegin and StatementEnd, which enclose one statement (a function body).
// Blank and comment-only statements are dropped.
func splitStatements(sql string) []string {
	var out []string
	var buf strings.Builder
	inBlock := false
	flush := func() {
		if s := strings.TrimSpace(buf.String()); s != "" && !onlyComments(s) {
			out = append(out, s)
		}
		buf.Reset()
	}
	for _, line := range strings.Split(sql, "\n") {
		if dir, ok := gooseDirective(line); ok {
			switch dir {
			case "statementbegin":
				flush()
				inBlock = true
			case "statementend":
				inBlock = false
				flush()
			}
			continue
		}
		buf.WriteString(line)
		buf.WriteByte('\n')
		t := strings.TrimSpace(line)
		if !inBlock && strings.HasSuffix(t, ";") && !strings.HasPrefix(t, "--") {
			flush()
		}
	}
	flush()
	return out
}

func onlyComments(s string) bool {
	for _, line := range strings.Split(s, "\n") {
		if t := strings.TrimSpace(line); t != "" && !strings.HasPrefix(t, "--") {
			return false
		}
	}
	return true
}

// Latest is the version of the last migration, 0 for none.
func Latest(migs []Migration) int64 {
	if len(migs) == 0 {
		return 0
	}
	return migs[len(migs)-1].Version
}

// Find returns the migration with version v.
func Find(migs []Migration, v int64) (Migration, bool) {
	i := sort.Search(len(migs), func(i int) bool { return migs[i].Version >= v })
	if i < len(migs) && migs[i].Version == v {
		return migs[i], true
	}
	return Migration{}, false
}
