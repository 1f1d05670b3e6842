// Apollo Client 4 as a web or React Native app would set it up: HttpLink for queries and
// mutations, GraphQLWsLink (graphql-ws) for subscriptions, split by operation type, and the
// normalised InMemoryCache. The friends page in the cache must follow an accept without a
// refetch, which needs `Friend.id` (SPEC 12.2).

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { ApolloClient, ApolloLink, HttpLink, InMemoryCache, gql } from '@apollo/client';
import { GraphQLWsLink } from '@apollo/client/link/subscriptions';
import { getMainDefinition } from '@apollo/client/utilities';

import { HTTP_URL, PASSWORD, notificationsCursor, settle, uniqueHandle, within, wsClient } from '../lib/amity.mjs';

const TEST = { timeout: 20_000 };

const SIGN_UP = gql`
  mutation SignUp($handle: String!, $password: String!) {
    signUp(handle: $handle, password: $password) {
      token
      user { id handle }
    }
  }
`;
const REQUEST = gql`
  mutation Request($handles: [String!]) {
    addFriends(handles: $handles) { state user { id handle } }
  }
`;
const ACCEPT = gql`
  mutation Accept($ids: [ID!]) {
    addFriends(ids: $ids) { id state updatedAt user { id handle } }
  }
`;
const FRIENDS = gql`
  query Friends($first: Int, $after: String) {
    friends(first: $first, after: $after) {
      edges {
        cursor
        node { id state updatedAt user { id handle } }
      }
      pageInfo { hasNextPage endCursor }
    }
  }
`;
const NOTIFICATIONS = gql`
  subscription Notifications($after: String) {
    notifications(after: $after) { id code cursor sender { id handle } }
  }
`;

/**
 * An Apollo client: HTTP for queries and mutations (counting the requests it sends), a
 * graphql-ws websocket for subscriptions when signed in.
 */
function apollo(token) {
  const requests = { count: 0 };
  const countingFetch = (url, init) => {
    requests.count++;
    return fetch(url, init);
  };
  const httpLink = new HttpLink({
    uri: HTTP_URL,
    headers: token ? { authorization: `Bearer ${token}` } : {},
    fetch: countingFetch,
  });
  let link = httpLink;
  let ws = null;
  if (token) {
    ws = wsClient(token);
    link = ApolloLink.split(
      ({ query }) => {
        const definition = getMainDefinition(query);
        return definition.kind === 'OperationDefinition' && definition.operation === 'subscription';
      },
      new GraphQLWsLink(ws),
      httpLink,
    );
  }
  const client = new ApolloClient({ link, cache: new InMemoryCache() });
  return {
    client,
    requests,
    async close() {
      client.stop();
      if (ws) await ws.dispose();
    },
  };
}

async function signUp(anonymous, prefix) {
  const { data } = await anonymous.client.mutate({
    mutation: SIGN_UP,
    variables: { handle: uniqueHandle(prefix), password: PASSWORD },
  });
  return { id: data.signUp.user.id, handle: data.signUp.user.handle, token: data.signUp.token };
}

describe('Apollo Client', () => {
  test('the cached friends pages show FRIEND after an accept, without a refetch', TEST, async () => {
    const anonymous = apollo();
    const clients = [anonymous];
    try {
      const alice = await signUp(anonymous, 'apalice');
      const bob = await signUp(anonymous, 'apbob');
      const carol = await signUp(anonymous, 'apcarol');
      const bobs = apollo(bob.token);
      const carols = apollo(carol.token);
      const alices = apollo(alice.token);
      clients.push(bobs, carols, alices);

      for (const sender of [bobs, carols]) {
        const { data } = await sender.client.mutate({ mutation: REQUEST, variables: { handles: [alice.handle] } });
        assert.equal(data.addFriends[0].state, 'INVITE_SENT');
      }

      // Alice pages through her list one edge at a time: two pages, both in the cache.
      const page1 = await alices.client.query({ query: FRIENDS, variables: { first: 1 } });
      assert.equal(page1.data.friends.edges.length, 1);
      assert.equal(page1.data.friends.pageInfo.hasNextPage, true);
      const page2Vars = { first: 1, after: page1.data.friends.pageInfo.endCursor };
      const page2 = await alices.client.query({ query: FRIENDS, variables: page2Vars });
      assert.equal(page2.data.friends.edges.length, 1);
      const pages = [
        { variables: { first: 1 }, data: page1.data },
        { variables: page2Vars, data: page2.data },
      ];
      const rows = pages.map((p) => p.data.friends.edges[0].node);
      assert.deepEqual(rows.map((r) => r.state), ['INVITE_RECEIVED', 'INVITE_RECEIVED']);
      assert.deepEqual(new Set(rows.map((r) => r.user.id)), new Set([bob.id, carol.id]));
      const bobsPage = pages.find((p) => p.data.friends.edges[0].node.user.id === bob.id);
      const carolsPage = pages.find((p) => p.data.friends.edges[0].node.user.id === carol.id);

      // Accept bob: the mutation returns his Friend object, with the same id as the cached edge.
      const { data: accepted } = await alices.client.mutate({ mutation: ACCEPT, variables: { ids: [bob.id] } });
      assert.equal(accepted.addFriends[0].state, 'FRIEND');
      assert.equal(accepted.addFriends[0].id, bobsPage.data.friends.edges[0].node.id);

      // Read both pages again from the cache alone: bob is FRIEND, carol still INVITE_RECEIVED.
      const before = alices.requests.count;
      const cachedBob = await alices.client.query({
        query: FRIENDS,
        variables: bobsPage.variables,
        fetchPolicy: 'cache-only',
      });
      assert.ok(cachedBob.data, 'the page is still complete in the cache');
      assert.equal(cachedBob.data.friends.edges[0].node.user.id, bob.id);
      assert.equal(cachedBob.data.friends.edges[0].node.state, 'FRIEND');
      const cachedCarol = await alices.client.query({
        query: FRIENDS,
        variables: carolsPage.variables,
        fetchPolicy: 'cache-only',
      });
      assert.equal(cachedCarol.data.friends.edges[0].node.state, 'INVITE_RECEIVED');
      const read = alices.client.readQuery({ query: FRIENDS, variables: bobsPage.variables });
      assert.equal(read.friends.edges[0].node.state, 'FRIEND');
      assert.equal(alices.requests.count, before, 'no request went to the server');

      // And the server agrees.
      const fresh = await alices.client.query({
        query: FRIENDS,
        variables: { first: 10 },
        fetchPolicy: 'network-only',
      });
      const bobNow = fresh.data.friends.edges.find((e) => e.node.user.id === bob.id);
      assert.equal(bobNow.node.state, 'FRIEND');
    } finally {
      for (const c of clients) await c.close();
    }
  });

  test('a subscription goes over the websocket link and a mutation over HTTP', TEST, async () => {
    const anonymous = apollo();
    const clients = [anonymous];
    let subscription;
    try {
      const alice = await signUp(anonymous, 'apsalice');
      const bob = await signUp(anonymous, 'apsbob');
      const alices = apollo(alice.token);
      const bobs = apollo(bob.token);
      clients.push(alices, bobs);

      const after = await notificationsCursor(alice);
      const received = new Promise((resolve, reject) => {
        subscription = alices.client
          .subscribe({ query: NOTIFICATIONS, variables: { after } })
          .subscribe({ next: resolve, error: reject });
      });
      if (after == null) await settle();
      const httpBefore = alices.requests.count;

      await bobs.client.mutate({ mutation: REQUEST, variables: { handles: [alice.handle] } });
      const result = await within(received, 'the FRIEND_REQUEST notification');
      assert.equal(result.error, undefined);
      assert.equal(result.data.notifications.code, 'FRIEND_REQUEST');
      assert.equal(result.data.notifications.sender.id, bob.id);
      assert.equal(alices.requests.count, httpBefore, 'the subscription did not use HTTP');
    } finally {
      subscription?.unsubscribe();
      for (const c of clients) await c.close();
    }
  });
});
