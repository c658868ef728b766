package gqlapi

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/graph-gophers/graphql-go/ast"
)

// The cost of a GraphQL query, computed before it runs: an upper bound of the objects it can
// return, every list counted full (its first argument, else the schema's default). graphql-go
// limits depth, length and parallelism but has no cost analysis, nor a public parser for
// queries, so this file reads the (already validated) document itself: operations, fields,
// aliases, arguments, fragments and variables, nothing more.

// gqlListDefault is the size assumed for a list field without a first argument or default.
const gqlListDefault = 100

// gqlCostCap bounds the arithmetic: a cost this high is refused whatever the limit.
const gqlCostCap = 1 << 40

var errGQLIntrospection = errors.New("introspection is disabled on this server")

// gqlSel is one selection: a field (name, alias-free), a fragment spread (spread) or an inline
// fragment (sels only).
type gqlSel struct {
	name   string
	args   map[string]any // literal ints as int64, variables as gqlVar, anything else nil
	spread string
	sels   []gqlSel
}

type gqlVar string

type gqlOp struct {
	kind string // query, mutation or subscription
	name string
	vars map[string]any // the variables' defaults
	sels []gqlSel
}

type gqlDoc struct {
	ops   []gqlOp
	frags map[string][]gqlSel
}

// gqlCost returns the cost of the operation a request selects. Introspection fields (__schema,
// __type) count 1 each, for their answer is the schema, bounded and without SQL; with
// introspection off they are refused.
func gqlCost(schema *ast.Schema, doc, operationName string, vars map[string]any, introspection bool) (int64, error) {
	d, err := parseGQLDoc(doc)
	if err != nil {
		return 0, err
	}
	var op *gqlOp
	for i := range d.ops {
		if d.ops[i].name == operationName || operationName == "" && len(d.ops) == 1 {
			op = &d.ops[i]
		}
	}
	if op == nil {
		return 0, nil // the engine refuses it
	}
	rt, ok := schema.RootOperationTypes[op.kind]
	if !ok {
		return 0, nil
	}
	c := &gqlCoster{doc: d, vars: vars, defaults: op.vars, introspection: introspection, onStack: map[string]bool{}}
	return c.sels(rt, op.sels)
}

type gqlCoster struct {
	doc           *gqlDoc
	vars          map[string]any
	defaults      map[string]any
	introspection bool
	onStack       map[string]bool // fragments being expanded (validation refuses cycles; belt and braces)
}

func (c *gqlCoster) sels(parent ast.NamedType, sels []gqlSel) (int64, error) {
	var total int64
	for _, s := range sels {
		var n int64
		var err error
		switch {
		case s.spread != "":
			if c.onStack[s.spread] {
				return 0, fmt.Errorf("fragment %s spreads itself", s.spread)
			}
			c.onStack[s.spread] = true
			n, err = c.sels(parent, c.doc.frags[s.spread])
			delete(c.onStack, s.spread)
		case s.name == "":
			n, err = c.sels(parent, s.sels) // inline fragment: the types here are all objects
		default:
			n, err = c.field(parent, s)
		}
		if err != nil {
			return 0, err
		}
		total = min(total+n, gqlCostCap)
	}
	return total, nil
}

func (c *gqlCoster) field(parent ast.NamedType, s gqlSel) (int64, error) {
	switch s.name {
	case "__typename":
		return 0, nil
	case "__schema", "__type":
		if !c.introspection {
			return 0, errGQLIntrospection
		}
		return 1, nil
	}
	obj, ok := parent.(*ast.ObjectTypeDefinition)
	if !ok {
		return 0, fmt.Errorf("no fields on %s", parent.TypeName())
	}
	def := obj.Fields.Get(s.name)
	if def == nil {
		return 0, fmt.Errorf("no field %s on %s", s.name, obj.Name)
	}
	mult := int64(1)
	t := def.Type
	for {
		if nn, ok := t.(*ast.NonNull); ok {
			t = nn.OfType
			continue
		}
		if l, ok := t.(*ast.List); ok {
			mult = min(mult*c.listSize(def, s), gqlCostCap)
			t = l.OfType
			continue
		}
		break
	}
	elem, ok := t.(*ast.ObjectTypeDefinition)
	if !ok {
		return 0, nil // a scalar or enum: part of its object
	}
	child, err := c.sels(elem, s.sels)
	if err != nil {
		return 0, err
	}
	return min(mult*(1+child), gqlCostCap), nil
}

// listSize is a list field's first argument: the query's, a variable's, the variable's default,
// the schema's default, or gqlListDefault.
func (c *gqlCoster) listSize(def *ast.FieldDefinition, s gqlSel) int64 {
	v, ok := s.args["first"]
	if name, isVar := v.(gqlVar); isVar {
		v, ok = c.vars[string(name)]
		if !ok {
			v, ok = c.defaults[string(name)]
		}
	}
	if !ok || v == nil {
		v = nil
		if a := def.Arguments.Get("first"); a != nil && a.Default != nil {
			v = a.Default.Deserialize(nil)
		}
	}
	switch n := v.(type) {
	case int32:
		return max(int64(n), 0)
	case int64:
		return max(n, 0)
	case float64: // from JSON variables
		return int64(max(min(n, gqlCostCap), 0))
	}
	return gqlListDefault
}

// ---- the parser: GraphQL's executable grammar, for documents graphql-go has validated.

type gqlParser struct {
	src string
	pos int
	tok string // the current token: a name, a punctuator, "..." or a value's text
	str bool   // the token is a string
}

func parseGQLDoc(src string) (d *gqlDoc, err error) {
	p := &gqlParser{src: src}
	defer func() {
		if r := recover(); r != nil {
			pe, ok := r.(gqlParseError)
			if !ok {
				panic(r)
			}
			d, err = nil, pe
		}
	}()
	d = &gqlDoc{frags: map[string][]gqlSel{}}
	p.next()
	for p.tok != "" {
		switch {
		case p.is("{"):
			d.ops = append(d.ops, gqlOp{kind: "query", sels: p.selectionSet()})
		case p.is("fragment"):
			p.next()
			name := p.name()
			p.expect("on")
			p.name()
			p.directives()
			d.frags[name] = p.selectionSet()
		case p.is("query"), p.is("mutation"), p.is("subscription"):
			op := gqlOp{kind: p.tok, vars: map[string]any{}}
			p.next()
			if !p.is("(") && !p.is("@") && !p.is("{") {
				op.name = p.name()
			}
			if p.is("(") {
				p.next()
				for !p.is(")") {
					p.expect("$")
					v := p.name()
					p.expect(":")
					p.typeRef()
					if p.is("=") {
						p.next()
						op.vars[v] = p.value()
					}
					p.directives()
				}
				p.next()
			}
			p.directives()
			op.sels = p.selectionSet()
			d.ops = append(d.ops, op)
		default:
			p.fail()
		}
	}
	return d, nil
}

type gqlParseError struct{ pos int }

func (e gqlParseError) Error() string {
	return fmt.Sprintf("graphql: cannot cost the query (at byte %d)", e.pos)
}

func (p *gqlParser) fail()            { panic(gqlParseError{p.pos}) }
func (p *gqlParser) is(s string) bool { return !p.str && p.tok == s }
func (p *gqlParser) expect(s string)  { p.want(p.is(s)); p.next() }
func (p *gqlParser) want(ok bool) {
	if !ok {
		p.fail()
	}
}
func isNameStart(c byte) bool { return c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }
func isNameChar(c byte) bool  { return isNameStart(c) || '0' <= c && c <= '9' }
func (p *gqlParser) name() string {
	p.want(!p.str && p.tok != "" && isNameStart(p.tok[0]))
	n := p.tok
	p.next()
	return n
}

// next reads the next token into tok ("" at the end).
func (p *gqlParser) next() {
	p.str = false
	for p.pos < len(p.src) {
		c := p.src[p.pos]
		if c == '#' {
			for p.pos < len(p.src) && p.src[p.pos] != '\n' && p.src[p.pos] != '\r' {
				p.pos++
			}
			continue
		}
		if c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == ',' || strings.HasPrefix(p.src[p.pos:], "\uFEFF") {
			if c == 0xEF {
				p.pos += 2
			}
			p.pos++
			continue
		}
		break
	}
	if p.pos >= len(p.src) {
		p.tok = ""
		return
	}
	start := p.pos
	c := p.src[p.pos]
	switch {
	case strings.HasPrefix(p.src[p.pos:], "..."):
		p.pos += 3
	case strings.HasPrefix(p.src[p.pos:], `"""`):
		p.pos += 3
		for !strings.HasPrefix(p.src[p.pos:], `"""`) {
			p.want(p.pos < len(p.src))
			if strings.HasPrefix(p.src[p.pos:], `\"""`) {
				p.pos += 3
			}
			p.pos++
		}
		p.pos += 3
		p.str = true
	case c == '"':
		p.pos++
		for p.pos < len(p.src) && p.src[p.pos] != '"' {
			if p.src[p.pos] == '\\' {
				p.pos++
			}
			p.pos++
		}
		p.want(p.pos < len(p.src))
		p.pos++
		p.str = true
	case isNameStart(c):
		for p.pos < len(p.src) && isNameChar(p.src[p.pos]) {
			p.pos++
		}
	case c == '-' || '0' <= c && c <= '9':
		p.pos++
		for p.pos < len(p.src) && (isNameChar(p.src[p.pos]) || p.src[p.pos] == '.' ||
			(p.src[p.pos] == '+' || p.src[p.pos] == '-') && (p.src[p.pos-1] == 'e' || p.src[p.pos-1] == 'E')) {
			p.pos++
		}
	case strings.IndexByte("!$&()=:@[]{}|", c) >= 0:
		p.pos++
	default:
		p.fail()
	}
	p.tok = p.src[start:p.pos]
}

func (p *gqlParser) selectionSet() []gqlSel {
	p.expect("{")
	var sels []gqlSel
	for !p.is("}") {
		p.want(p.tok != "")
		if p.is("...") {
			p.next()
			if p.is("on") || p.is("@") || p.is("{") {
				if p.is("on") {
					p.next()
					p.name()
				}
				p.directives()
				sels = append(sels, gqlSel{sels: p.selectionSet()})
				continue
			}
			sels = append(sels, gqlSel{spread: p.name()})
			p.directives()
			continue
		}
		s := gqlSel{name: p.name()}
		if p.is(":") { // the alias was the name
			p.next()
			s.name = p.name()
		}
		if p.is("(") {
			p.next()
			s.args = map[string]any{}
			for !p.is(")") {
				n := p.name()
				p.expect(":")
				s.args[n] = p.value()
			}
			p.next()
		}
		p.directives()
		if p.is("{") {
			s.sels = p.selectionSet()
		}
		sels = append(sels, s)
	}
	p.next()
	return sels
}

func (p *gqlParser) directives() {
	for p.is("@") {
		p.next()
		p.name()
		if p.is("(") {
			p.next()
			for !p.is(")") {
				p.name()
				p.expect(":")
				p.value()
			}
			p.next()
		}
	}
}

func (p *gqlParser) typeRef() {
	if p.is("[") {
		p.next()
		p.typeRef()
		p.expect("]")
	} else {
		p.name()
	}
	if p.is("!") {
		p.next()
	}
}

// value reads a value: an int as int64, a variable as gqlVar, anything else as nil.
func (p *gqlParser) value() any {
	p.want(p.tok != "")
	switch {
	case p.str:
		p.next()
		return nil
	case p.is("$"):
		p.next()
		return gqlVar(p.name())
	case p.is("["), p.is("{"):
		closing := "]"
		if p.is("{") {
			closing = "}"
		}
		obj := closing == "}"
		p.next()
		for !p.is(closing) {
			if obj {
				p.name()
				p.expect(":")
			}
			p.value()
		}
		p.next()
		return nil
	}
	t := p.tok
	p.next()
	if n, err := strconv.ParseInt(t, 10, 64); err == nil {
		return n
	}
	return nil
}
