import { useEffect, useRef, useState } from "react";
import { createClient } from "graphql-ws";
import { GraphQLWsLink } from "@apollo/client/link/subscriptions";
import { gql, useSubscription, useApolloClient } from "@apollo/client";

// Select what the member list displays: Apollo writes each event's member into its
// cache by id, which is what updates a role in place.
const ORGANIZATION_EVENTS = gql`
  subscription OrganizationEvents($org: ID!, $after: String) {
    organizationEvents(organizationId: $org, after: $after) {
      cursor
      type
      memberId
      member { id role joinedAt user { id name email imageUrl } }
    }
  }
`;

// The API behind the app's own host (or "wss://api.example.com/graphql").
export const wsLink = new GraphQLWsLink(createClient({
  url: location.origin.replace(/^http/, "ws") + "/graphql",
  connectionParams: () => ({ authorization: `Bearer ${localStorage.token}` }),
}));

// useLiveMembers keeps the cached member list of an organization live. eventCursor
// is Organization.eventCursor, read in the query that loaded the list.
export function useLiveMembers(orgId, eventCursor) {
  const client = useApolloClient();
  const applied = useRef(eventCursor); // the cursor of the last event applied
  const [after, setAfter] = useState(eventCursor);
  const [ended, setEnded] = useState(false);
  useEffect(() => {
    if (ended) { setAfter(applied.current); setEnded(false); }
  }, [ended]);
  useSubscription(ORGANIZATION_EVENTS, {
    variables: { org: orgId, after },
    skip: ended,
    onData: ({ data: { data } }) => {
      const e = data.organizationEvents;
      const org = client.cache.identify({ __typename: "Organization", id: orgId });
      switch (e.type) {
        case "MEMBER_JOINED": // add it, unless the list has it already (a replayed event)
          if (!e.member) break; // null when the member has left since
          client.cache.modify({ id: org, fields: { members(conn, { readField, toReference }) {
            if (conn.edges.some((edge) => readField("id", edge.node) === e.member.id)) return conn;
            return { ...conn, totalCount: conn.totalCount + 1,
              edges: [...conn.edges, { __typename: "MemberEdge", node: toReference(e.member) }] };
          } } });
          break;
        case "MEMBER_REMOVED": case "MEMBER_LEFT": // drop it, if the list has it
          client.cache.modify({ id: org, fields: { members(conn, { readField }) {
            const edges = conn.edges.filter((edge) => readField("id", edge.node) !== e.memberId);
            return { ...conn, totalCount: conn.totalCount - (conn.edges.length - edges.length), edges };
          } } });
          break;
        // MEMBER_ROLE_CHANGED, OWNERSHIP_TRANSFERRED: e.member carries the new role,
        // which Apollo merges into the cached Member by id: nothing else to do.
      }
      applied.current = e.cursor;
    },
    // The server ended the stream (SUBSCRIBER_TOO_SLOW, say): subscribe again from
    // the last event applied. (A dropped connection needs nothing: graphql-ws
    // reconnects and resubscribes, and replayed events are applied idempotently.)
    onError: () => setEnded(true),
  });
}
