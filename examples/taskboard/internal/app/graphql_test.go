package app

import "testing"

func TestGQLOperationKind(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ doc, op, want string }{
		{`{ projects { id } }`, "", "query"},
		{`query { projects { id } }`, "", "query"},
		{`query P($n: Int = 3) @dir { projects(first: $n) { id } }`, "", "query"},
		{`mutation { createProject(name: "x") { id } }`, "", "mutation"},
		{"# mutation\n{ projects { id } }", "", "query"},
		{`{ a: project(id: "}mutation{") { id } } `, "", "query"},
		{`{ a: project(id: """ } mutation \""" {""") { id } }`, "", "query"},
		{`query Q { projects { id } } mutation M { deleteProject(id: "1") }`, "M", "mutation"},
		{`query Q { projects { id } } mutation M { deleteProject(id: "1") }`, "Q", "query"},
		{`query Q { projects { id } } mutation M { deleteProject(id: "1") }`, "", ""},
		{`fragment F on Project { id } mutation { createProject(name: "x") { ...F } }`, "", "mutation"},
		{`query($v: In = {a: {b: 1}}) { projects { id } }`, "", "query"},
		{`subscription S { x }`, "S", "subscription"},
		{`query mutation { projects { id } }`, "mutation", "query"},
	} {
		if got := gqlOperationKind(c.doc, c.op); got != c.want {
			t.Errorf("gqlOperationKind(%q, %q) = %q, want %q", c.doc, c.op, got, c.want)
		}
	}
}
