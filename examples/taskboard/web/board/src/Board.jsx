import { useState } from "react";
import { gql } from "@apollo/client";
import { useMutation, useQuery } from "@apollo/client/react";

// Each query stays far below the server's cost limit (GraphQLMaxCost): at most 100 projects,
// or one project with at most 100 tasks.
const PROJECTS = gql`
  query Projects {
    projects(first: 100) { id name }
  }
`;

const BOARD = gql`
  query Board($projectId: ID!) {
    project(id: $projectId) {
      id
      name
      tasks(first: 100) { id title status dueDate assignee { id name } }
    }
  }
`;

const CREATE_TASK = gql`
  mutation CreateTask($projectId: ID!, $title: String!) {
    createTask(projectId: $projectId, title: $title) { id title status dueDate assignee { id name } }
  }
`;

// Apollo's cache is normalised by id: the returned task updates its card in place.
const MOVE_TASK = gql`
  mutation MoveTask($id: ID!, $status: TaskStatus!) {
    updateTask(id: $id, status: $status) { id status }
  }
`;

const STATUSES = ["todo", "doing", "done"];

export function Board({ initialProject }) {
  const { data, loading, error } = useQuery(PROJECTS);
  const [chosen, setChosen] = useState(initialProject);
  if (error) return <Failure error={error} />;
  if (loading && !data) return <p className="muted">Loading projects…</p>;
  const projects = data.projects;
  if (projects.length === 0) {
    return <p className="muted" id="board-empty">No projects yet: create one on the <a href="/">projects page</a>.</p>;
  }
  const current = projects.find((p) => p.id === chosen) ?? projects[0];
  return (
    <>
      <div className="row card">
        <div>
          <label htmlFor="board-project">Project</label>
          <select id="board-project" value={current.id} onChange={(e) => setChosen(e.target.value)}>
            {projects.map((p) => <option key={p.id} value={p.id}>{p.name}</option>)}
          </select>
        </div>
        <NewTask projectId={current.id} />
      </div>
      <Columns projectId={current.id} />
    </>
  );
}

function NewTask({ projectId }) {
  const [title, setTitle] = useState("");
  const [create, { loading, error }] = useMutation(CREATE_TASK, {
    refetchQueries: [BOARD],
    awaitRefetchQueries: true,
  });
  const submit = async (e) => {
    e.preventDefault();
    const t = title.trim();
    if (!t) return;
    try {
      await create({ variables: { projectId, title: t } });
      setTitle("");
    } catch {
      // shown below from the mutation's error
    }
  };
  return (
    <form onSubmit={submit}>
      <label htmlFor="board-task-title">New task</label>
      <div className="row">
        <input type="text" id="board-task-title" value={title} onChange={(e) => setTitle(e.target.value)} required maxLength={200} />
        <button type="submit" id="board-task-submit" disabled={loading} style={{ flex: "none" }}>Add</button>
      </div>
      {error && <Failure error={error} />}
    </form>
  );
}

function Columns({ projectId }) {
  const { data, loading, error } = useQuery(BOARD, { variables: { projectId } });
  const [move, moved] = useMutation(MOVE_TASK);
  if (error) return <Failure error={error} />;
  if (loading && !data) return <p className="muted">Loading tasks…</p>;
  if (!data.project) return <p className="error">This project no longer exists.</p>;
  const { tasks } = data.project;
  return (
    <>
      {moved.error && <Failure error={moved.error} />}
      <p className="small"><a href={`/projects/${projectId}`} id="board-project-page">Open the project page</a></p>
      <div style={{ display: "grid", gridTemplateColumns: "repeat(3, 1fr)", gap: 16 }}>
        {STATUSES.map((status, i) => (
          <section key={status} className="card" id={`board-${status}`} aria-label={status}>
            <h2><span className={`badge s-${status}`}>{status}</span> {tasks.filter((t) => t.status === status).length}</h2>
            {tasks.filter((t) => t.status === status).map((t) => (
              <div key={t.id} className="comment" data-task={t.id}>
                <a href={`/tasks/${t.id}`}>{t.title}</a>
                <div className="small muted">
                  {t.assignee ? t.assignee.name : "unassigned"}{t.dueDate ? ` · due ${t.dueDate}` : ""}
                </div>
                <div className="small">
                  {i > 0 && <button className="ghost" style={{ padding: "2px 10px" }} title={`Move to ${STATUSES[i - 1]}`} onClick={() => move({ variables: { id: t.id, status: STATUSES[i - 1] } })}>←</button>}{" "}
                  {i < STATUSES.length - 1 && <button className="ghost" style={{ padding: "2px 10px" }} title={`Move to ${STATUSES[i + 1]}`} onClick={() => move({ variables: { id: t.id, status: STATUSES[i + 1] } })}>→</button>}
                </div>
              </div>
            ))}
          </section>
        ))}
      </div>
    </>
  );
}

function Failure({ error }) {
  return <div className="error" role="alert">{error.message}</div>;
}
