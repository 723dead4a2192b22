// The README's React example (live.js) in a page: the member list of the
// organization named by ?org=, live. The browser check (../react.js) drives it.
import { createRoot } from "react-dom/client";
import { ApolloClient, ApolloProvider, HttpLink, InMemoryCache, gql, split, useQuery } from "@apollo/client";
import { getMainDefinition } from "@apollo/client/utilities";
import { useLiveMembers, wsLink } from "./live.js";

const httpLink = new HttpLink({ uri: "/graphql", headers: { authorization: `Bearer ${localStorage.token}` } });
const client = new ApolloClient({
  link: split(({ query }) => {
    const d = getMainDefinition(query);
    return d.kind === "OperationDefinition" && d.operation === "subscription";
  }, wsLink, httpLink),
  cache: new InMemoryCache(),
});

const MEMBERS = gql`
  query Members($org: ID!) {
    node(id: $org) {
      id
      ... on Organization {
        eventCursor
        members(first: 100) { totalCount edges { node { id role user { id name } } } }
      }
    }
  }
`;

function LiveMembers({ org }) {
  useLiveMembers(org.id, org.eventCursor);
  return (
    <ul id="members" data-total={org.members.totalCount}>
      {org.members.edges.map(({ node }) => (
        <li key={node.id} data-role={node.role}>{node.user.name}</li>
      ))}
    </ul>
  );
}

function App({ orgId }) {
  const { data, error } = useQuery(MEMBERS, { variables: { org: orgId } });
  if (error) return <p id="error">{error.message}</p>;
  if (!data) return <p>Loading…</p>;
  return <LiveMembers org={data.node} />;
}

createRoot(document.getElementById("root")).render(
  <ApolloProvider client={client}>
    <App orgId={new URLSearchParams(location.search).get("org")} />
  </ApolloProvider>,
);
