// Shared helpers for the client tests: the server's address, fresh users over plain HTTP,
// graphql-ws clients, and waiting with a deadline so a missing event fails instead of hanging.
//
// Kept outside test/ so that `node --test test/` does not run this file as a test.

import { randomBytes } from 'node:crypto';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';

/** The server's base address, e.g. `http://127.0.0.1:8080`. */
export const BASE_URL = (() => {
  const url = process.env.AMITY_TEST_URL;
  if (!url) {
    throw new Error('AMITY_TEST_URL is not set (e.g. AMITY_TEST_URL=http://127.0.0.1:8080)');
  }
  return url.replace(/\/+$/, '');
})();

/** The GraphQL endpoint over HTTP. */
export const HTTP_URL = `${BASE_URL}/graphql`;

/** The GraphQL endpoint for websockets (graphql-transport-ws). */
export const WS_URL = HTTP_URL.replace(/^http/, 'ws');

/** Long enough for a slow CI machine, short enough that a lost event fails the test soon. */
export const EVENT_TIMEOUT_MS = 10_000;

/** A password the server accepts (at least 8 characters). */
export const PASSWORD = 'correct horse battery staple';

/** A fresh handle: `prefix` and a random suffix, within the server's 3..32 of [A-Za-z0-9_.-]. */
export function uniqueHandle(prefix) {
  return `${prefix.slice(0, 20)}_${randomBytes(5).toString('hex')}`;
}

/**
 * One GraphQL request over HTTP POST with fetch. Throws on an HTTP error or a GraphQL error,
 * with the body in the message.
 */
export async function gql(query, variables = {}, token = undefined) {
  const headers = { 'content-type': 'application/json', accept: 'application/json' };
  if (token) headers.authorization = `Bearer ${token}`;
  const res = await fetch(HTTP_URL, {
    method: 'POST',
    headers,
    body: JSON.stringify({ query, variables }),
  });
  const text = await res.text();
  let body;
  try {
    body = JSON.parse(text);
  } catch {
    throw new Error(`HTTP ${res.status}, not JSON: ${text.slice(0, 300)}`);
  }
  if (!res.ok || body.errors) {
    throw new Error(`HTTP ${res.status}: ${JSON.stringify(body)}`);
  }
  return body.data;
}

const SIGN_UP = `mutation SignUp($handle: String!, $password: String!, $displayName: String) {
  signUp(handle: $handle, password: $password, displayName: $displayName) {
    token
    expiresAt
    user { id handle displayName }
  }
}`;

/** Signs up a fresh user; returns `{ id, handle, token }`. */
export async function signUp(prefix) {
  const handle = uniqueHandle(prefix);
  const data = await gql(SIGN_UP, { handle, password: PASSWORD, displayName: prefix });
  const { token, user } = data.signUp;
  return { id: user.id, handle: user.handle, token };
}

const ADD_FRIENDS = `mutation AddFriends($ids: [ID!]) {
  addFriends(ids: $ids) { state user { id handle } }
}`;

/** `from` sends `to` a friend request (or accepts the one `to` sent); returns the Friend rows. */
export async function addFriend(from, to) {
  const data = await gql(ADD_FRIENDS, { ids: [to.id] }, from.token);
  return data.addFriends;
}

/** Makes `a` and `b` friends (request and accept). */
export async function befriend(a, b) {
  await addFriend(a, b);
  const [row] = await addFriend(b, a);
  if (row.state !== 'FRIEND') throw new Error(`expected FRIEND after accepting, got ${row.state}`);
}

/** The `endCursor` of the user's notifications now: what a live subscription continues after. */
export async function notificationsCursor(user) {
  const data = await gql(
    'query NotificationsCursor { notifications(first: 1000) { pageInfo { endCursor } } }',
    {},
    user.token,
  );
  return data.notifications.pageInfo.endCursor;
}

/**
 * A graphql-ws client with the token in `connection_init`, the settings this project
 * recommends: a refused (4403) or expired (4401) session is reported at once instead of
 * being retried. `options` override any of them.
 */
export function wsClient(token, options = {}) {
  return createClient({
    url: WS_URL,
    webSocketImpl: WebSocket,
    connectionParams: { Authorization: `Bearer ${token}` },
    shouldRetry: retryUnlessRefused,
    ...options,
  });
}

/** graphql-ws `shouldRetry`: retry network trouble, never a refused or expired session. */
export function retryUnlessRefused(errOrCloseEvent) {
  const code = errOrCloseEvent && typeof errOrCloseEvent === 'object' ? errOrCloseEvent.code : undefined;
  return code !== 4401 && code !== 4403;
}

/** Rejects after `ms` with `what` in the message, unless `promise` settles first. */
export function within(promise, what, ms = EVENT_TIMEOUT_MS) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * A live subscription over a graphql-ws client whose results can be awaited one by one:
 * `await sub.next()` is the next result (`{ data }` or `{ errors }`), or rejects on a
 * connection error or after the timeout. `sub.stop()` ends it.
 */
export function subscription(client, query, variables = {}) {
  const queued = [];
  const waiting = [];
  let failure = null;
  const deliver = (item) => {
    const waiter = waiting.shift();
    if (waiter) waiter(item);
    else queued.push(item);
  };
  const stop = client.subscribe(
    { query, variables },
    {
      next: (result) => deliver({ result }),
      error: (error) => {
        failure = error;
        deliver({ error });
      },
      complete: () => deliver({ complete: true }),
    },
  );
  return {
    async next(what = 'a subscription result') {
      const item = queued.length
        ? queued.shift()
        : await within(new Promise((resolve) => waiting.push(resolve)), what);
      if (item.error) throw describeError(item.error);
      if (item.complete) throw new Error(`the subscription ended while waiting for ${what}`);
      return item.result;
    },
    get failure() {
      return failure;
    },
    stop,
  };
}

/** A CloseEvent (or anything else a client reports) as an Error with a readable message. */
export function describeError(error) {
  if (error instanceof Error) return error;
  if (error && typeof error === 'object' && 'code' in error) {
    const e = new Error(`websocket closed: ${error.code} ${error.reason ?? ''}`.trim());
    e.code = error.code;
    e.reason = error.reason;
    return e;
  }
  return new Error(JSON.stringify(error));
}

/** Lets a just-started subscription register on the server before the event it waits for. */
export function settle(ms = 300) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
