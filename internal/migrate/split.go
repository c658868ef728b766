package migrate

import (
	"strings"
)

// SplitSQL splits SQL text into its top-level statements, as psql does: a ';' ends a statement
// except inside a string ('...', E'...' with backslash escapes), a quoted identifier, a dollar
// quote ($$...$$, $tag$...$tag$), a comment (--, and /* */, which nest), parentheses, and the
// BEGIN ... END body of a CREATE FUNCTION or PROCEDURE (BEGIN ATOMIC). Each statement keeps its
// text as written (comments before it included) without the ';'; pieces that hold only
// comments and blanks are dropped.
//
// Citus needs it (docs/citus.md): once a schema is distributed, it refuses a message of many
// statements ("cannot insert multiple commands into a prepared statement"), so a migration file
// goes to a Citus server one statement at a time.
func SplitSQL(sql string) []string {
	var out []string
	s := splitter{src: sql}
	start := 0
	for s.i < len(sql) {
		if s.step() {
			out = appendStatement(out, sql[start:s.i-1])
			start = s.i
			s.reset()
		}
	}
	return appendStatement(out, sql[start:])
}

func appendStatement(out []string, stmt string) []string {
	if t := strings.TrimSpace(stmt); t != "" && !onlySQLComments(t) {
		out = append(out, t)
	}
	return out
}

// splitter is SplitSQL's lexer state within one statement.
type splitter struct {
	src   string
	i     int
	paren int // depth of parentheses
	begin int // depth of BEGIN/CASE ... END in a function body
	words int // words seen in the statement
	head  [4]byte
	prev  byte // the last byte of the last token, 0 at the start
}

func (s *splitter) reset() { s.paren, s.begin, s.words, s.head, s.prev = 0, 0, 0, [4]byte{}, 0 }

// step consumes one token and reports whether it was a ';' that ends the statement.
func (s *splitter) step() bool {
	src, c := s.src, s.src[s.i]
	switch {
	case c == '-' && s.at("--"):
		s.skipTo("\n")
	case c == '/' && s.at("/*"):
		s.blockComment()
	case c == '\'':
		escapes := s.i > 0 && (src[s.i-1] == 'e' || src[s.i-1] == 'E') && (s.i < 2 || !isIdent(src[s.i-2]))
		s.i++
		s.quoted('\'', escapes)
	case c == '"':
		s.i++
		s.quoted('"', false)
	case c == '$' && !isIdent(s.prev):
		if tag, ok := s.dollarTag(); ok {
			s.i += len(tag)
			if end := strings.Index(src[s.i:], tag); end >= 0 {
				s.i += end + len(tag)
			} else {
				s.i = len(src)
			}
		} else {
			s.i++
		}
	case isIdentStart(c):
		j := s.i
		for j < len(src) && isIdent(src[j]) {
			j++
		}
		s.word(src[s.i:j])
		s.i = j
	case c == '(':
		s.paren++
		s.i++
	case c == ')':
		s.paren = max(0, s.paren-1)
		s.i++
	case c == ';':
		s.i++
		if s.paren == 0 && s.begin == 0 {
			return true
		}
	default:
		s.i++
	}
	s.prev = src[s.i-1]
	return false
}

func (s *splitter) at(p string) bool { return strings.HasPrefix(s.src[s.i:], p) }

func (s *splitter) skipTo(end string) {
	if j := strings.Index(s.src[s.i:], end); j >= 0 {
		s.i += j + len(end)
	} else {
		s.i = len(s.src)
	}
}

// blockComment skips a /* */ comment; they nest.
func (s *splitter) blockComment() {
	depth := 0
	for s.i < len(s.src) {
		switch {
		case s.at("/*"):
			depth++
			s.i += 2
		case s.at("*/"):
			depth--
			s.i += 2
			if depth == 0 {
				return
			}
		default:
			s.i++
		}
	}
}

// quoted skips the rest of a string or quoted identifier: a doubled quote is one quote, and in
// an E'...' string a backslash escapes the next byte.
func (s *splitter) quoted(q byte, escapes bool) {
	for s.i < len(s.src) {
		c := s.src[s.i]
		s.i++
		switch {
		case escapes && c == '\\':
			s.i++
		case c == q && s.i < len(s.src) && s.src[s.i] == q:
			s.i++
		case c == q:
			return
		}
	}
	s.i = min(s.i, len(s.src))
}

// dollarTag returns the dollar quote ($$ or $tag$) that starts at s.i, if one does ($1 is a
// parameter, not a quote).
func (s *splitter) dollarTag() (string, bool) {
	j := s.i + 1
	if j < len(s.src) && s.src[j] != '$' && !isIdentStart(s.src[j]) {
		return "", false
	}
	for j < len(s.src) && s.src[j] != '$' {
		if !isIdent(s.src[j]) {
			return "", false
		}
		j++
	}
	if j >= len(s.src) {
		return "", false
	}
	return s.src[s.i : j+1], true
}

// word tracks the BEGIN ... END body of CREATE [OR REPLACE] FUNCTION|PROCEDURE, whose
// statements end with ';' (as psql's lexer does): CASE ... END nests inside it.
func (s *splitter) word(w string) {
	if s.words < len(s.head) {
		switch strings.ToLower(w) {
		case "create", "or", "replace", "function", "procedure":
			s.head[s.words] = lower(w[0])
		}
	}
	s.words++
	h := s.head
	routine := h[0] == 'c' && (h[1] == 'f' || h[1] == 'p' || (h[1] == 'o' && h[2] == 'r' && (h[3] == 'f' || h[3] == 'p')))
	if !routine || s.paren > 0 {
		return
	}
	switch {
	case strings.EqualFold(w, "begin"):
		s.begin++
	case strings.EqualFold(w, "case") && s.begin > 0:
		s.begin++
	case strings.EqualFold(w, "end") && s.begin > 0:
		s.begin--
	}
}

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

func isIdentStart(c byte) bool {
	return c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c >= 0x80
}

func isIdent(c byte) bool { return isIdentStart(c) || '0' <= c && c <= '9' || c == '$' }

// onlySQLComments reports whether s holds nothing but comments and blanks.
func onlySQLComments(s string) bool {
	t := splitter{src: s}
	for t.i < len(s) {
		c := s[t.i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f':
			t.i++
		case t.at("--"):
			t.skipTo("\n")
		case t.at("/*"):
			t.blockComment()
		default:
			return false
		}
	}
	return true
}
