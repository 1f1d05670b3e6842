// urql with its default settings: `preferGetMethod: 'within-url-limit'` sends queries as
// GET /graphql?query=... (GraphQL-over-HTTP, SPEC 12.2) and mutations as POST. Also the
// graphcache exchange, which updates a cached friends page from the `Friend` an accept returns
// (needs `Friend.id`), and subscriptions through subscriptionExchange on graphql-ws.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { Client, cacheExchange, fetchExchange, gql, subscriptionExchange } from '@urql/core';
import { cacheExchange as graphcacheExchange } from '@urql/exchange-graphcache';

import {
  HTTP_URL,
  PASSWORD,
  addFriend,
  notificationsCursor,
  settle,
  signUp,
  uniqueHandle,
  within,
  wsClient,
} from '../lib/amity.mjs';

const TEST = { timeout: 20_000 };

const ME = gql`
  query Me {
    me { id handle displayName }
  }
`;
const SIGN_UP = gql`
  mutation SignUp($handle: String!, $password: String!) {
    signUp(handle: $handle, password: $password) { token user { id handle } }
  }
`;
const UPDATE_PROFILE = gql`
  mutation UpdateProfile($displayName: String) {
    updateProfile(displayName: $displayName) { id displayName }
  }
`;
const FRIENDS = gql`
  query Friends($first: Int) {
    friends(first: $first) {
      edges {
        cursor
        node { id state updatedAt user { id handle } }
      }
      pageInfo { hasNextPage endCursor }
    }
  }
`;
const ACCEPT = gql`
  mutation Accept($ids: [ID!]) {
    addFriends(ids: $ids) { id state updatedAt user { id handle } }
  }
`;
const NOTIFICATIONS = gql`
  subscription Notifications($after: String) {
    notifications(after: $after) { id code sender { id handle } }
  }
`;

/** A fetch that records each request's method, URL and Accept header, then sends it. */
function recordingFetch() {
  const calls = [];
  const fetchFn = (url, init = {}) => {
    const headers = new Headers(init.headers);
    calls.push({ method: (init.method ?? 'GET').toUpperCase(), url: String(url), accept: headers.get('accept') });
    return fetch(url, init);
  };
  return { calls, fetchFn };
}

/** urql's documented default client, with the token header and a recording fetch. */
function urql(token, exchanges = [cacheExchange, fetchExchange]) {
  const { calls, fetchFn } = recordingFetch();
  const client = new Client({
    url: HTTP_URL,
    exchanges,
    fetch: fetchFn,
    fetchOptions: () => (token ? { headers: { authorization: `Bearer ${token}` } } : {}),
  });
  return { client, calls };
}

/** The result's data, or a failure carrying urql's error message (e.g. `[Network] ...`). */
function dataOf(result, what) {
  if (result.error) {
    assert.fail(`${what}: ${result.error.message}`);
  }
  assert.ok(result.data, `${what}: no data`);
  return result.data;
}

describe('urql', () => {
  test('with default settings a query goes as GET and a mutation as POST', TEST, async () => {
    const anonymous = urql();
    const signedUp = dataOf(
      await anonymous.client
        .mutation(SIGN_UP, { handle: uniqueHandle('urqlme'), password: PASSWORD })
        .toPromise(),
      'signUp',
    );
    assert.equal(anonymous.calls.at(-1).method, 'POST');
    const user = signedUp.signUp.user;

    const { client, calls } = urql(signedUp.signUp.token);
    const me = dataOf(await client.query(ME, {}).toPromise(), 'the me query over GET');
    assert.equal(me.me.id, user.id);
    assert.equal(me.me.handle, user.handle);
    const get = calls.at(-1);
    assert.equal(get.method, 'GET');
    const url = new URL(get.url);
    assert.equal(url.pathname, '/graphql');
    assert.match(url.searchParams.get('query'), /\bme\b/);
    assert.match(get.accept, /application\/graphql-response\+json/);

    const updated = dataOf(
      await client.mutation(UPDATE_PROFILE, { displayName: 'Urql User' }).toPromise(),
      'the updateProfile mutation',
    );
    assert.equal(updated.updateProfile.displayName, 'Urql User');
    assert.equal(calls.at(-1).method, 'POST');
    assert.equal(new URL(calls.at(-1).url).search, '');

    // The document cache refetches queries of the type a mutation touched (User).
    const again = dataOf(
      await client.query(ME, {}, { requestPolicy: 'network-only' }).toPromise(),
      'the me query again',
    );
    assert.equal(again.me.displayName, 'Urql User');
    assert.equal(calls.at(-1).method, 'GET');
  });

  test('graphcache updates the cached friends page from the accepted Friend', TEST, async () => {
    const alice = await signUp('urqlgalice');
    const bob = await signUp('urqlgbob');
    await addFriend(bob, alice);

    const { client, calls } = urql(alice.token, [
      graphcacheExchange({
        // Connections, edges and page info have no identity of their own: embedded.
        keys: { FriendConnection: () => null, FriendEdge: () => null, PageInfo: () => null },
      }),
      fetchExchange,
    ]);
    const page = dataOf(await client.query(FRIENDS, { first: 10 }).toPromise(), 'the friends query');
    assert.equal(calls.at(-1).method, 'GET');
    assert.equal(page.friends.edges.length, 1);
    const cachedNode = page.friends.edges[0].node;
    assert.equal(cachedNode.state, 'INVITE_RECEIVED');
    assert.equal(cachedNode.user.id, bob.id);

    const accepted = dataOf(await client.mutation(ACCEPT, { ids: [bob.id] }).toPromise(), 'the accept');
    assert.equal(accepted.addFriends[0].state, 'FRIEND');
    assert.equal(accepted.addFriends[0].id, cachedNode.id);

    const before = calls.length;
    const cached = dataOf(
      await client.query(FRIENDS, { first: 10 }, { requestPolicy: 'cache-only' }).toPromise(),
      'the cached friends page',
    );
    assert.equal(cached.friends.edges[0].node.id, cachedNode.id);
    assert.equal(cached.friends.edges[0].node.state, 'FRIEND');
    assert.equal(calls.length, before, 'no request went to the server');
  });

  test('a subscription through subscriptionExchange on graphql-ws', TEST, async () => {
    const alice = await signUp('urqlsalice');
    const bob = await signUp('urqlsbob');
    const ws = wsClient(alice.token);
    const { client } = urql(alice.token, [
      cacheExchange,
      fetchExchange,
      subscriptionExchange({
        forwardSubscription(request) {
          const input = { ...request, query: request.query || '' };
          return {
            subscribe(sink) {
              return { unsubscribe: ws.subscribe(input, sink) };
            },
          };
        },
      }),
    ]);
    let handle;
    try {
      const after = await notificationsCursor(alice);
      const received = new Promise((resolve) => {
        handle = client.subscription(NOTIFICATIONS, { after }).subscribe(resolve);
      });
      if (after == null) await settle();
      await addFriend(bob, alice);
      const result = await within(received, 'the FRIEND_REQUEST notification');
      const data = dataOf(result, 'the notification');
      assert.equal(data.notifications.code, 'FRIEND_REQUEST');
      assert.equal(data.notifications.sender.id, bob.id);
    } finally {
      handle?.unsubscribe();
      await ws.dispose();
    }
  });
});
