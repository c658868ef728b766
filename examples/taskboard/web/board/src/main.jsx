// The board view: one project's tasks in three columns, read and written through the
// organisation's /graphql with Apollo Client. The page (GET /board) is served to members only;
// the API call rides on the browser's session cookie and proves it comes from the page by a
// custom header, which another site cannot send without a CORS preflight the server never
// answers (and the server refuses other origins by Sec-Fetch-Site/Origin too).
import { createRoot } from "react-dom/client";
import { ApolloClient, HttpLink, InMemoryCache } from "@apollo/client";
import { ApolloProvider } from "@apollo/client/react";
import { Board } from "./Board.jsx";

const root = document.getElementById("board");
const client = new ApolloClient({
  link: new HttpLink({
    uri: "/graphql",
    credentials: "same-origin",
    headers: { "X-Taskboard-Client": "board" },
  }),
  cache: new InMemoryCache(),
});

createRoot(root).render(
  <ApolloProvider client={client}>
    <Board initialProject={new URLSearchParams(location.search).get("project")} />
  </ApolloProvider>,
);
