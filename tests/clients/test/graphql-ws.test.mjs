// The graphql-ws client (graphql-transport-ws protocol) on the `ws` package, as a Node.js app
// or game backend would use it: live notifications, presence, direct messages, refused tokens,
// and every connection_init payload shape the server accepts (SPEC 12.2).

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import {
  addFriend,
  befriend,
  gql,
  notificationsCursor,
  settle,
  signUp,
  subscription,
  within,
  wsClient,
} from '../lib/amity.mjs';

const TEST = { timeout: 20_000 };

const NOTIFICATIONS = `subscription Notifications($after: String) {
  notifications(after: $after) { id code subject cursor sender { id handle } }
}`;
const PRESENCE = `subscription Presence {
  presence { online lastSeenAt user { id handle online } }
}`;
const DIRECT_MESSAGES = `subscription DirectMessages {
  directMessages { id body createdAt sender { id handle } recipient { id handle } }
}`;
const SEND = `mutation Send($to: ID!, $body: String!) {
  sendDirectMessage(to: $to, body: $body) { id body }
}`;

/**
 * Opens a graphql-ws connection eagerly (`lazy: false`) and resolves once the server has
 * acknowledged `connection_init`; rejects with the close event if it refuses. The client is
 * returned either way through `holder.client` so the caller can dispose it.
 */
function connect(options, holder) {
  return new Promise((resolve, reject) => {
    holder.client = wsClient(options.token ?? '', {
      lazy: false,
      onNonLazyError: () => {}, // reported through `closed` below
      on: {
        connected: () => resolve('connected'),
        closed: (event) => reject(event),
      },
      ...options.client,
    });
  });
}

describe('graphql-ws', () => {
  test('a friend request arrives live on the notifications subscription', TEST, async () => {
    const alice = await signUp('gwsalice');
    const bob = await signUp('gwsbob');
    const client = wsClient(alice.token);
    try {
      // Continue after what is stored now: whatever comes next is delivered, with no race
      // between the subscription starting and the request being sent.
      const after = await notificationsCursor(alice);
      const notes = subscription(client, NOTIFICATIONS, { after });
      if (after == null) await settle();

      await addFriend(bob, alice);
      const { data, errors } = await notes.next('the FRIEND_REQUEST notification');
      assert.equal(errors, undefined);
      assert.equal(data.notifications.code, 'FRIEND_REQUEST');
      assert.equal(data.notifications.sender.handle, bob.handle);
      assert.equal(data.notifications.sender.id, bob.id);
      assert.equal(typeof data.notifications.cursor, 'string');

      // Accepting tells bob, on his own connection.
      const bobClient = wsClient(bob.token);
      try {
        const bobAfter = await notificationsCursor(bob);
        const bobNotes = subscription(bobClient, NOTIFICATIONS, { after: bobAfter });
        if (bobAfter == null) await settle();
        await addFriend(alice, bob);
        const accepted = await bobNotes.next('the FRIEND_ACCEPTED notification');
        assert.equal(accepted.data.notifications.code, 'FRIEND_ACCEPTED');
        assert.equal(accepted.data.notifications.sender.id, alice.id);
      } finally {
        await bobClient.dispose();
      }
      notes.stop();
    } finally {
      await client.dispose();
    }
  });

  test('a friend opening and closing a websocket shows as presence online, then offline', TEST, async () => {
    const alice = await signUp('gwspalice');
    const bob = await signUp('gwspbob');
    await befriend(alice, bob);

    const bobClient = wsClient(bob.token);
    const aliceHolder = {};
    try {
      const events = subscription(bobClient, PRESENCE);
      await settle();

      // A user is online while one of their authenticated websockets is open.
      await within(connect({ token: alice.token }, aliceHolder), "alice's connection_ack");
      const online = await events.next('alice online');
      assert.equal(online.errors, undefined);
      assert.equal(online.data.presence.online, true);
      assert.equal(online.data.presence.user.id, alice.id);
      assert.equal(online.data.presence.user.handle, alice.handle);

      const seen = await gql('query Seen($id: ID) { user(id: $id) { online } }', { id: alice.id }, bob.token);
      assert.equal(seen.user.online, true);

      // Closing her last websocket makes her offline (after the server's short grace period).
      await aliceHolder.client.dispose();
      const offline = await events.next('alice offline');
      assert.equal(offline.data.presence.online, false);
      assert.equal(offline.data.presence.user.id, alice.id);
      assert.ok(offline.data.presence.lastSeenAt, 'lastSeenAt is set when a friend goes offline');
      events.stop();
    } finally {
      await aliceHolder.client?.dispose();
      await bobClient.dispose();
    }
  });

  test('a direct message between friends arrives live on the directMessages subscription', TEST, async () => {
    const alice = await signUp('gwsdalice');
    const bob = await signUp('gwsdbob');
    await befriend(alice, bob);

    const client = wsClient(bob.token);
    try {
      const messages = subscription(client, DIRECT_MESSAGES);
      await settle();
      const sent = await gql(SEND, { to: bob.id, body: 'hello over graphql-ws' }, alice.token);

      const { data, errors } = await messages.next('the direct message');
      assert.equal(errors, undefined);
      assert.equal(data.directMessages.id, sent.sendDirectMessage.id);
      assert.equal(data.directMessages.body, 'hello over graphql-ws');
      assert.equal(data.directMessages.sender.id, alice.id);
      assert.equal(data.directMessages.recipient.id, bob.id);
      messages.stop();
    } finally {
      await client.dispose();
    }
  });

  test('a refused token closes with 4403 and, with shouldRetry, is reported at once', TEST, async () => {
    let connecting = 0;
    const closes = [];
    const client = wsClient('not-a-token', {
      // The recommended setting (lib/amity.mjs): never retry 4401/4403. graphql-ws retries
      // 4403 by default (5 attempts with growing back-off), which hides the refusal.
      on: {
        connecting: () => connecting++,
        closed: (event) => closes.push(event.code),
      },
    });
    try {
      const started = Date.now();
      const sub = subscription(client, NOTIFICATIONS, {});
      await assert.rejects(sub.next('the refusal'), (error) => {
        assert.equal(error.code, 4403, `expected close code 4403, got ${error.message}`);
        return true;
      });
      const elapsed = Date.now() - started;
      assert.ok(elapsed < 3000, `the refusal took ${elapsed} ms`);
      assert.equal(connecting, 1, 'the client did not retry');
      assert.deepEqual(closes, [4403]);
    } finally {
      await client.dispose();
    }
  });

  test('retryAttempts: 0 also reports a refused token at once', TEST, async () => {
    const client = wsClient('not-a-token', { shouldRetry: () => true, retryAttempts: 0 });
    try {
      const started = Date.now();
      const sub = subscription(client, PRESENCE);
      await assert.rejects(sub.next('the refusal'), (error) => error.code === 4403);
      assert.ok(Date.now() - started < 3000);
    } finally {
      await client.dispose();
    }
  });

  describe('connection_init payload shapes (SPEC 12.2)', () => {
    const shapes = {
      '{"Authorization": "Bearer t"}': (t) => ({ Authorization: `Bearer ${t}` }),
      '{"authorization": "Bearer t"} (key in any case)': (t) => ({ authorization: `Bearer ${t}` }),
      '{"token": t}': (t) => ({ token: t }),
      '{"authToken": t}': (t) => ({ authToken: t }),
      '{"headers": {"Authorization": "Bearer t"}}': (t) => ({ headers: { Authorization: `Bearer ${t}` } }),
    };
    for (const [name, shape] of Object.entries(shapes)) {
      test(`${name} is accepted with a valid token and refused (4403) with a bad one`, TEST, async () => {
        const user = await signUp('gwsinit');
        const good = {};
        const bad = {};
        try {
          const result = await within(
            connect({ client: { connectionParams: shape(user.token) } }, good).catch((event) => {
              throw new Error(`refused with close code ${event.code} ${event.reason ?? ''}`);
            }),
            'connection_ack',
          );
          assert.equal(result, 'connected');

          // The acknowledged connection is the user's: it makes them online to themselves.
          const me = await gql('query Me { me { id online } }', {}, user.token);
          assert.equal(me.me.id, user.id);
          assert.equal(me.me.online, true);

          await assert.rejects(
            within(connect({ client: { connectionParams: shape('forged.token.value') } }, bad), 'the refusal'),
            (event) => {
              assert.equal(event.code, 4403, `expected 4403, got ${event.code} ${event.reason ?? ''}`);
              return true;
            },
          );
        } finally {
          await good.client?.dispose();
          await bad.client?.dispose();
        }
      });
    }
  });
});
